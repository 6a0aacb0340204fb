//! Paired measurement: the plugins take turns (A B A B ...) on the same kernel and sandbox, after
//! a warm-up, so slow drift (page cache, a neighbour's load) hits both alike; then each metric
//! becomes a [`Row`] with both series and their ratio.

use std::path::PathBuf;

use serde::Serialize;

use super::stats::{Ratio, Summary};

/// One plugin under measurement.
#[derive(Debug, Clone)]
pub struct Contender {
    /// "A" or "B", as tables and charts name it.
    pub label: &'static str,
    pub binary: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "KiB")]
    Kib,
    #[serde(rename = "1/s")]
    PerSecond,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Kib => "KiB",
            Unit::PerSecond => "1/s",
        }
    }
}

/// A metric's name and unit, in the order an iteration returns its values.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
}

/// What one contender's series came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figures {
    Measured {
        #[serde(flatten)]
        summary: Summary,
        samples: Vec<f64>,
    },
    /// The plugin could not do this at all (e.g. upstream `vlan` without IPAM), or failed
    /// part-way: the message of its first failure.
    Fails(String),
}

/// One line of a table: a metric for A, and for B when there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub name: String,
    pub unit: Unit,
    pub a: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Ratio>,
}

/// Per contender: the samples of every metric, or why it failed.
pub type Series = Result<Vec<Vec<f64>>, String>;

/// Runs `warmups` unrecorded then `runs` recorded iterations per contender, alternating
/// contenders inside each round. An iteration returns one value per metric (`metrics` of them)
/// or the reason it failed; it must leave the sandbox as it found it either way. A contender
/// that fails once is not run again (its message says which iteration).
pub fn alternate<F>(
    contenders: &[Contender],
    warmups: usize,
    runs: usize,
    metrics: usize,
    mut iteration: F,
) -> Vec<Series>
where
    F: FnMut(&Contender) -> Result<Vec<f64>, String>,
{
    let mut series: Vec<Series> = contenders
        .iter()
        .map(|_| Ok(vec![Vec::with_capacity(runs); metrics]))
        .collect();
    for round in 0..warmups + runs {
        for (contender, series) in contenders.iter().zip(&mut series) {
            let Ok(samples) = series else { continue };
            match iteration(contender) {
                Ok(values) => {
                    assert_eq!(values.len(), metrics, "an iteration returns every metric");
                    if round >= warmups {
                        for (metric, value) in samples.iter_mut().zip(values) {
                            metric.push(value);
                        }
                    }
                }
                Err(message) if round == 0 => *series = Err(message),
                Err(message) => *series = Err(format!("in iteration {round}: {message}")),
            }
        }
    }
    series
}

/// The rows of `metrics` from what [`alternate`] measured, `prefix` naming the variant
/// (e.g. "no IPAM").
pub fn rows(prefix: &str, metrics: &[Metric], series: &[Series]) -> Vec<Row> {
    metrics
        .iter()
        .enumerate()
        .map(|(index, metric)| {
            let name = if prefix.is_empty() {
                metric.name.to_string()
            } else {
                format!("{} ({prefix})", metric.name)
            };
            row(name, metric.unit, series, |samples| &samples[index])
        })
        .collect()
}

/// A row from each contender's samples of one metric (`pick` chooses it).
pub fn row(
    name: String,
    unit: Unit,
    series: &[Series],
    pick: impl Fn(&Vec<Vec<f64>>) -> &Vec<f64>,
) -> Row {
    let figures: Vec<Figures> = series
        .iter()
        .map(|s| match s {
            Ok(samples) => figures(pick(samples)),
            Err(message) => Figures::Fails(message.clone()),
        })
        .collect();
    let ratio = match series {
        [Ok(a), Ok(b)] => Ratio::of(pick(a), pick(b)),
        _ => None,
    };
    let mut figures = figures.into_iter();
    Row {
        name,
        unit,
        a: figures
            .next()
            .unwrap_or_else(|| Figures::Fails("not measured".into())),
        b: figures.next(),
        ratio,
    }
}

fn figures(samples: &[f64]) -> Figures {
    match Summary::of(samples) {
        Some(summary) => Figures::Measured {
            summary,
            samples: samples.to_vec(),
        },
        None => Figures::Fails("no samples".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contenders() -> [Contender; 2] {
        [
            Contender {
                label: "A",
                binary: "/a".into(),
            },
            Contender {
                label: "B",
                binary: "/b".into(),
            },
        ]
    }

    #[test]
    fn alternates_after_warmup_and_keeps_failures_apart() {
        let mut order = Vec::new();
        let mut n = 0.0;
        let series = alternate(&contenders(), 1, 2, 1, |c| {
            order.push(c.label);
            n += 1.0;
            if c.label == "B" && n > 3.0 {
                Err("boom".into())
            } else {
                Ok(vec![n])
            }
        });
        assert_eq!(order, ["A", "B", "A", "B", "A"]);
        assert_eq!(series[0], Ok(vec![vec![3.0, 5.0]]));
        assert_eq!(series[1], Err("in iteration 1: boom".into()));
        let rows = rows(
            "x",
            &[Metric {
                name: "ADD",
                unit: Unit::Millis,
            }],
            &series,
        );
        assert_eq!(rows[0].name, "ADD (x)");
        assert!(matches!(rows[0].b, Some(Figures::Fails(_))));
        assert_eq!(rows[0].ratio, None);
    }
}
