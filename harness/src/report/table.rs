//! The terminal report: a scenario x version table, then every failure with its clause, step,
//! expected vs actual and the plugin's stderr. The table's cells and counts are computed here
//! once ([`Matrix`], [`Counts`]) and rendered both as text and, by the Markdown summary, as a
//! Markdown table.

use std::fmt::Write;

use cni_types::CniVersion;

use crate::runtime::Execution;
use crate::scenario::{CaseReport, CaseStatus, Failure, Level, SuiteReport};

/// The whole terminal report.
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plugin {} on {}; plugin supports {}",
        report.plugin.display(),
        report.kernel,
        report.plugin_versions.join(", ")
    );
    out.push_str(&matrix(report));
    out.push_str(&failures(report));
    for e in &report.scenario_errors {
        let _ = writeln!(out, "SCENARIO FILE ERROR {e}");
    }
    out.push_str(&summary(report));
    out
}

/// What one (scenario, version) cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Pass,
    /// Passed, with SHOULD warnings.
    Warn,
    /// A MUST clause failed.
    Fail,
    Skip,
    /// The scenario does not apply to this version (or was not selected).
    NotRun,
}

impl Cell {
    pub fn of(case: &CaseReport) -> Cell {
        match case.status {
            CaseStatus::Fail => Cell::Fail,
            CaseStatus::Skip { .. } => Cell::Skip,
            CaseStatus::Pass if case.warnings().next().is_some() => Cell::Warn,
            CaseStatus::Pass => Cell::Pass,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Cell::Pass => "pass",
            Cell::Warn => "warn",
            Cell::Fail => "FAIL",
            Cell::Skip => "skip",
            Cell::NotRun => ".",
        }
    }
}

/// Scenarios in the order they ran, each with one cell per CNI version ([`CniVersion::ALL`]).
pub struct Matrix<'a> {
    pub rows: Vec<(&'a str, [Cell; CniVersion::ALL.len()])>,
}

impl<'a> Matrix<'a> {
    pub fn of(report: &'a SuiteReport) -> Matrix<'a> {
        let mut rows: Vec<(&str, [Cell; CniVersion::ALL.len()])> = Vec::new();
        for case in &report.cases {
            let row = match rows.iter().position(|(s, _)| *s == case.scenario) {
                Some(i) => i,
                None => {
                    rows.push((&case.scenario, [Cell::NotRun; CniVersion::ALL.len()]));
                    rows.len() - 1
                }
            };
            if let Some(column) = CniVersion::ALL.iter().position(|v| *v == case.version) {
                rows[row].1[column] = Cell::of(case);
            }
        }
        Matrix { rows }
    }
}

/// `scenario @ version: reason` for every skipped case.
pub fn skip_reasons(report: &SuiteReport) -> Vec<String> {
    report
        .cases
        .iter()
        .filter_map(|c| match &c.status {
            CaseStatus::Skip { reason } => {
                Some(format!("{} @ {}: {reason}", c.scenario, c.version))
            }
            _ => None,
        })
        .collect()
}

/// One row per scenario, one column per version: pass, FAIL, warn (SHOULD only), skip, or `.`
/// where the scenario does not apply.
pub fn matrix(report: &SuiteReport) -> String {
    let matrix = Matrix::of(report);
    let width = matrix
        .rows
        .iter()
        .map(|(s, _)| s.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::new();
    let _ = write!(out, "{:width$}", "scenario");
    for v in CniVersion::ALL {
        let _ = write!(out, " {:>6}", v.as_str());
    }
    out.push('\n');
    for (scenario, cells) in &matrix.rows {
        let _ = write!(out, "{scenario:width$}");
        for cell in cells {
            let _ = write!(out, " {:>6}", cell.label());
        }
        out.push('\n');
    }
    let skips = skip_reasons(report);
    if !skips.is_empty() {
        out.push_str("skipped:\n");
        for s in skips {
            let _ = writeln!(out, "  {s}");
        }
    }
    out
}

/// `MUST` or `SHOULD`, as scenario files write it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Must => "MUST",
        Level::Should => "SHOULD",
    }
}

/// The plugin execution a failure points at, if it has one.
pub fn execution_of<'a>(case: &'a CaseReport, failure: &Failure) -> Option<&'a Execution> {
    failure.execution.and_then(|i| case.executions.get(i))
}

/// Every failure and warning, grouped by case.
pub fn failures(report: &SuiteReport) -> String {
    let mut out = String::new();
    for case in report.cases.iter().filter(|c| !c.failures.is_empty()) {
        for f in &case.failures {
            let tag = match f.level {
                Level::Must => "FAIL",
                Level::Should => "WARN",
            };
            let _ = writeln!(
                out,
                "\n{tag} {} @ {} step {} clause {} ({})\n  {}",
                case.scenario,
                case.version,
                f.step,
                f.clause,
                level_name(f.level),
                f.message
            );
            if let Some(diff) = &f.diff {
                for line in diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
            if let Some(exec) = execution_of(case, f) {
                let stderr = exec.stderr.to_string_lossy();
                if !stderr.trim().is_empty() {
                    let _ = writeln!(out, "  plugin stderr ({} {}):", exec.plugin, exec.command);
                    for line in stderr.lines().take(20) {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
    }
    out
}

/// How the cases came out (warned cases are counted within passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub warned: usize,
    pub scenario_errors: usize,
}

impl Counts {
    pub fn of(report: &SuiteReport) -> Counts {
        let cells: Vec<Cell> = report.cases.iter().map(Cell::of).collect();
        let count = |wanted: &[Cell]| cells.iter().filter(|c| wanted.contains(c)).count();
        Counts {
            passed: count(&[Cell::Pass, Cell::Warn]),
            failed: count(&[Cell::Fail]),
            skipped: count(&[Cell::Skip]),
            warned: count(&[Cell::Warn]),
            scenario_errors: report.scenario_errors.len(),
        }
    }
}

/// The closing line: `N passed, N failed, N skipped` (warnings counted within passed).
pub fn summary(report: &SuiteReport) -> String {
    let c = Counts::of(report);
    format!(
        "\nconformance: {} passed, {} failed, {} skipped ({} passed with SHOULD warnings; {} scenario file errors) in {:.1} s\n",
        c.passed,
        c.failed,
        c.skipped,
        c.warned,
        c.scenario_errors,
        report.duration_ms as f64 / 1000.0
    )
}
