//! What `cni-conform bench` found, as data (`bench.json`) and as a terminal table.

use std::fmt::Write;

use serde::Serialize;

use super::concurrency::LevelReport;
use super::paired::{Figures, Row};
use super::scale::ScaleReport;
use crate::kernel::KernelInfo;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub kernel: KernelInfo,
    /// The type both plugins ran as.
    pub plugin_type: String,
    /// The lifecycle's plugin entry for a type other than `vlan` (its pack's minimal
    /// configuration, before the IPAM); `null` for `vlan`.
    pub configuration: Option<serde_json::Value>,
    pub plugins: Vec<PluginInfo>,
    /// Recorded pairs per measurement, after `warmups` unrecorded ones.
    pub runs: usize,
    pub warmups: usize,
    pub quick: bool,
    pub process_start: Vec<Row>,
    pub lifecycle: Vec<Row>,
    pub chained: Vec<Row>,
    pub scale: ScaleReport,
    pub concurrency: Vec<LevelReport>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginInfo {
    pub label: &'static str,
    pub path: String,
}

/// What the lifecycle section measured: "host-master VLAN", or the type with its configuration.
pub fn lifecycle_title(plugin_type: &str, configuration: Option<&serde_json::Value>) -> String {
    match configuration {
        None => "host-master VLAN".to_string(),
        Some(config) => format!("{plugin_type} {config}"),
    }
}

/// The terminal table: every row with min / median / p95 / max per plugin and A/B.
pub fn render(report: &BenchReport) -> String {
    let mut out = String::new();
    for plugin in &report.plugins {
        let _ = writeln!(out, "{}: {}", plugin.label, plugin.path);
    }
    let _ = writeln!(out, "type: {}", report.plugin_type);
    let _ = writeln!(
        out,
        "kernel: {}; {} runs after {} warm-up per measurement, A and B alternating",
        report.kernel, report.runs, report.warmups
    );
    let two = report.plugins.len() > 1;
    section(&mut out, "process start", &report.process_start, two);
    let lifecycle = lifecycle_title(&report.plugin_type, report.configuration.as_ref());
    section(&mut out, &lifecycle, &report.lifecycle, two);
    let vlan_only = |out: &mut String, title: &str| {
        let _ = writeln!(
            out,
            "\n== {title}: VLAN-only, not measured for {} ==",
            report.plugin_type
        );
    };
    if report.configuration.is_some() {
        vlan_only(&mut out, "chained behind conform-veth");
        vlan_only(&mut out, "scale: VLANs already on the master");
    } else {
        vlan_sections(&mut out, report, two);
    }
    let throughput: Vec<Row> = report
        .concurrency
        .iter()
        .flat_map(|l| [l.add_throughput.clone(), l.del_throughput.clone()])
        .collect();
    section(
        &mut out,
        "concurrency: operations per second",
        &throughput,
        two,
    );
    for level in &report.concurrency {
        for f in &level.failures {
            let first = f
                .first_failure
                .as_deref()
                .map(|m| format!(" (first: {})", clip(m, 80)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{} with {} at once: {} ADDs and {} DELs failed{first}",
                f.plugin, level.processes, f.add_failed, f.del_failed
            );
        }
    }
    let _ = writeln!(out, "took {:.0} s", report.seconds);
    out
}

/// The chained and scale sections (a `vlan`'s).
fn vlan_sections(out: &mut String, report: &BenchReport, two: bool) {
    section(out, "chained behind conform-veth", &report.chained, two);
    let curve: Vec<Row> = report
        .scale
        .curve
        .iter()
        .flat_map(|p| {
            [&p.add, &p.del].map(|r| Row {
                name: format!("{} @ {} VLANs", r.name, p.vlans),
                ..r.clone()
            })
        })
        .collect();
    section(out, "scale: VLANs already on the master", &curve, two);
    for step in &report.scale.fill_in_process {
        let _ = writeln!(
            out,
            "in-process fill {} -> {} VLANs: {:.2} s",
            step.from_vlans, step.to_vlans, step.seconds
        );
    }
    for fill in &report.scale.fill_with_plugin {
        let failures = match &fill.first_failure {
            Some(first) => format!(", {} failed (first: {})", fill.failed, clip(first, 80)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{} fills a master with {} VLANs: {:.1} s, {:.1} ADDs/s{failures}",
            fill.plugin, fill.vlans, fill.seconds, fill.adds_per_second
        );
    }
}

const NAME_WIDTH: usize = 38;

fn section(out: &mut String, title: &str, rows: &[Row], two: bool) {
    let _ = writeln!(out, "\n== {title} ==");
    let head = "    min    med    p95    max";
    let _ = write!(out, "{:<NAME_WIDTH$} {:<4} | A{head}", "", "unit");
    if two {
        let _ = write!(out, " | B{head} | A/B pairs medians");
    }
    out.push('\n');
    // Failure messages are long: the table shows a mark, the messages follow it.
    let mut notes: Vec<String> = Vec::new();
    let mut mark = |label: &str, figures: &Figures| match figures {
        Figures::Measured { summary: s, .. } => format!(
            " {} {} {} {}",
            number(s.min),
            number(s.median),
            number(s.p95),
            number(s.max)
        ),
        Figures::Fails(message) => {
            let note = format!("{label} fails: {message}");
            let index = match notes.iter().position(|n| *n == note) {
                Some(index) => index,
                None => {
                    notes.push(note);
                    notes.len() - 1
                }
            };
            format!("{:<28}", format!("  fails, see [{}]", index + 1))
        }
    };
    for row in rows {
        let a = mark("A", &row.a);
        let _ = write!(
            out,
            "{:<NAME_WIDTH$} {:<4} | {a}",
            clip(&row.name, NAME_WIDTH),
            row.unit.as_str(),
        );
        if let Some(b) = &row.b {
            let b = mark("B", b);
            let _ = write!(out, " | {b}");
            if let Some(ratio) = &row.ratio {
                let _ = write!(
                    out,
                    " | {:>9.2} {:>7.2}",
                    ratio.median_of_pair_ratios, ratio.ratio_of_medians
                );
            }
        }
        out.push('\n');
    }
    for (index, note) in notes.iter().enumerate() {
        let _ = writeln!(out, "  [{}] {}", index + 1, clip(note, 200));
    }
}

fn number(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:>6.0}")
    } else {
        format!("{value:>6.1}")
    }
}

fn clip(text: &str, width: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let kept: String = one_line.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}
