//! `bench.svg`: the scale curve (median ADD and DEL latency against VLANs on the master) on top,
//! and below it one panel per latency measurement with each plugin's distribution as a
//! cumulative curve (x: latency, y: fraction of runs at most that fast), A and B on the same
//! axes.

use plotters::prelude::*;

use super::paired::{Figures, Row, Unit};
use super::report::BenchReport;

const WIDTH: u32 = 1400;
const CURVE_HEIGHT: u32 = 520;
const PANEL_HEIGHT: u32 = 300;
const PANELS_PER_LINE: usize = 3;
const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];
const FONT: &str = "sans-serif";

/// The picture as SVG text.
pub fn render(report: &BenchReport) -> Result<String, String> {
    let panels: Vec<&Row> = report
        .process_start
        .iter()
        .chain(&report.lifecycle)
        .chain(&report.chained)
        .filter(|r| r.unit == Unit::Millis)
        .collect();
    let lines = panels.len().div_ceil(PANELS_PER_LINE);
    let height = CURVE_HEIGHT + PANEL_HEIGHT * u32::try_from(lines).unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(CURVE_HEIGHT);
        scale_curve(&top, report)?;
        let cells = bottom.split_evenly((lines.max(1), PANELS_PER_LINE));
        for (cell, row) in cells.iter().zip(&panels) {
            distribution(cell, row, report)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A legend, its color, and its points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

fn scale_curve(area: &Area, report: &BenchReport) -> Result<(), String> {
    let curve = &report.scale.curve;
    // DEL in a lighter shade of its plugin's color.
    let mut lines: Vec<Line> = Vec::new();
    for (index, plugin) in report.plugins.iter().enumerate() {
        for (what, pick) in [("ADD", 0), ("DEL", 1)] {
            let points: Vec<(f64, f64)> = curve
                .iter()
                .filter_map(|p| {
                    let row = if pick == 0 { &p.add } else { &p.del };
                    median(figures_of(row, index)?).map(|m| (f64::from(p.vlans), m))
                })
                .collect();
            let color = if pick == 0 {
                COLORS[index % 2]
            } else {
                lighter(COLORS[index % 2])
            };
            lines.push((format!("{} {what}", plugin.label), color, points));
        }
    }
    let x_max = curve.iter().map(|p| f64::from(p.vlans)).fold(1.0, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "ADD and DEL latency (median) vs VLANs already on the master",
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_max * 1.15)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("VLANs on the master")
        .y_desc("ms")
        .draw()
        .map_err(|e| e.to_string())?;
    for (label, color, points) in lines {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(PointSeries::of_element(points, 4, color, &|c, s, st| {
                Circle::new(c, s, st.filled())
            }))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

fn distribution(area: &Area, row: &Row, report: &BenchReport) -> Result<(), String> {
    let mut curves = Vec::new();
    let mut failing = Vec::new();
    for (index, plugin) in report.plugins.iter().enumerate() {
        match figures_of(row, index) {
            Some(Figures::Measured { samples, .. }) => {
                curves.push((plugin.label, COLORS[index % 2], cumulative(samples)))
            }
            _ => failing.push(plugin.label),
        }
    }
    let x_max = curves
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let caption = if failing.is_empty() {
        row.name.clone()
    } else {
        format!("{} ({} fails)", row.name, failing.join(", "))
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 15))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..x_max * 1.05, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("ms")
        .y_desc("fraction of runs")
        .draw()
        .map_err(|e| e.to_string())?;
    for (label, color, points) in curves {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// The step curve of the empirical distribution: (sample, fraction <= sample).
fn cumulative(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut points = vec![(sorted.first().copied().unwrap_or(0.0), 0.0)];
    for (i, x) in sorted.iter().enumerate() {
        points.push((*x, i as f64 / n));
        points.push((*x, (i + 1) as f64 / n));
    }
    points
}

fn figures_of(row: &Row, plugin_index: usize) -> Option<&Figures> {
    match plugin_index {
        0 => Some(&row.a),
        _ => row.b.as_ref(),
    }
}

fn median(figures: &Figures) -> Option<f64> {
    match figures {
        Figures::Measured { summary, .. } => Some(summary.median),
        Figures::Fails(_) => None,
    }
}

fn lighter(color: RGBColor) -> RGBColor {
    let mix = |c: u8| c + (255 - c) / 2;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}
