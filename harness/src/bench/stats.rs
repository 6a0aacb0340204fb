//! Order statistics of a series of samples, and how two paired series compare.

use serde::Serialize;

/// min / median / p95 / max of one series (nearest-rank percentiles: every figure is a sample
/// that was actually measured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
}

/// A/B over paired samples: the median of the per-pair ratios (robust to drift during the run,
/// since both members of a pair ran back to back) and the ratio of the two medians.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub median_of_pair_ratios: f64,
    pub ratio_of_medians: f64,
}

impl Summary {
    /// `None` for an empty series.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let sorted = sorted(samples);
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        Some(Summary {
            count: sorted.len(),
            min: first,
            median: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            max: last,
        })
    }
}

impl Ratio {
    /// Pairs are matched by position; a pair with a zero denominator is left out. `None` when
    /// no pair is left.
    pub fn of(a: &[f64], b: &[f64]) -> Option<Ratio> {
        let pair_ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        let pair_median = percentile(&sorted(&pair_ratios), 50.0);
        let b_median = percentile(&sorted(b), 50.0);
        if pair_ratios.is_empty() || b_median <= 0.0 {
            return None;
        }
        Some(Ratio {
            median_of_pair_ratios: pair_median,
            ratio_of_medians: percentile(&sorted(a), 50.0) / b_median,
        })
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Nearest rank on sorted samples; 0 for none.
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_figures() {
        let samples: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!(
            (s.count, s.min, s.median, s.p95, s.max),
            (20, 1.0, 10.0, 19.0, 20.0)
        );
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[4.0]).unwrap().p95, 4.0);
    }

    #[test]
    fn pair_ratios_and_ratio_of_medians() {
        let r = Ratio::of(&[2.0, 4.0, 30.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(r.median_of_pair_ratios, 2.0);
        assert_eq!(r.ratio_of_medians, 2.0);
        assert_eq!(Ratio::of(&[1.0], &[0.0]), None);
    }
}
