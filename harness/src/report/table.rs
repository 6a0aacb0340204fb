//! The terminal report: a scenario x version table, then every failure with its clause, step,
//! expected vs actual and the plugin's stderr. The table's cells and counts are computed here
//! once ([`Matrix`], [`Counts`]) and rendered both as text and, by the Markdown summary, as a
//! Markdown table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use cni_types::CniVersion;

use crate::runtime::Execution;
use crate::scenario::verdict::failing_source;
use crate::scenario::{
    CaseReport, CaseStatus, Failure, Feature, Level, Profile, Source, SuiteReport,
};

/// The whole terminal report.
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plugin {} on {}; plugin supports {}; profile {}; runtime {}",
        report.plugin.display(),
        report.kernel,
        report.plugin_versions.join(", "),
        report.judgement.profile.name(),
        report.runtime
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
    /// Only reference clauses failed (spec profile).
    Differs,
    /// An optional capability declined cleanly (spec profile).
    Unsupported,
    Skip,
    /// The scenario does not apply to this version (or was not selected).
    NotRun,
}

impl Cell {
    pub fn of(case: &CaseReport) -> Cell {
        match case.status {
            CaseStatus::Fail => Cell::Fail,
            CaseStatus::Differs => Cell::Differs,
            CaseStatus::Unsupported { .. } => Cell::Unsupported,
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
            Cell::Differs => "differ",
            Cell::Unsupported => "unsup",
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

/// One row per scenario, one column per version: pass, FAIL, warn (SHOULD only), differ
/// (reference clauses only, spec profile), unsup (capability declined), skip, or `.` where the
/// scenario does not apply.
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
    if report.judgement.profile == Profile::Spec {
        out.push_str(
            "(differ: only reference-contract clauses failed, the plugin differs from the \
             reference plugin; unsup: an optional capability declined with a clean CNI error)\n",
        );
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

/// A failure's clause with its source (and CNI SPEC section) and level, e.g.
/// `spec.del.cleanup (spec, Section 2: Execution Protocol (DEL), MUST)`.
pub fn clause_label(f: &Failure) -> String {
    match &f.section {
        Some(section) => format!(
            "{} ({}, {section}, {})",
            f.clause,
            f.source.name(),
            level_name(f.level)
        ),
        None => format!(
            "{} ({}, {})",
            f.clause,
            f.source.name(),
            level_name(f.level)
        ),
    }
}

/// How a failure counts under the report's profile: `FAIL`, `DIFFERS` (a reference MUST
/// clause under the spec profile) or `WARN` (SHOULD).
pub fn failure_tag(report: &SuiteReport, f: &Failure) -> &'static str {
    match f.level {
        Level::Should => "WARN",
        Level::Must if report.judgement.profile.decides(f.source) => "FAIL",
        Level::Must => "DIFFERS",
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
        if let CaseStatus::Unsupported { features, reason } = &case.status {
            let _ = writeln!(
                out,
                "\nUNSUPPORTED {} @ {} ({}): the plugin declined: {reason}",
                case.scenario,
                case.version,
                feature_names(features)
            );
            continue;
        }
        for f in &case.failures {
            let tag = failure_tag(report, f);
            let note = if tag == "DIFFERS" {
                " differs from the reference plugin:"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "\n{tag} {} @ {} step {} clause {}\n {note} {}",
                case.scenario,
                case.version,
                f.step,
                clause_label(f),
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
    if !out.is_empty() {
        out.push_str(
            "
(what a clause says and which scenarios check it: cni-conform explain CLAUSE)
",
        );
    }
    out
}

/// How the cases came out (warned cases are counted within passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    /// Failed cases by the source of their first deciding MUST failure.
    pub failed_by_source: BTreeMap<Source, usize>,
    pub differ: usize,
    pub unsupported: usize,
    /// The capabilities of the `unsupported` cases.
    pub unsupported_features: BTreeSet<Feature>,
    /// Capabilities some case showed the plugin declining (whatever the profile made of it).
    pub declined: BTreeSet<Feature>,
    pub skipped: usize,
    pub warned: usize,
    pub scenario_errors: usize,
}

impl Counts {
    pub fn of(report: &SuiteReport) -> Counts {
        let cells: Vec<Cell> = report.cases.iter().map(Cell::of).collect();
        let count = |wanted: &[Cell]| cells.iter().filter(|c| wanted.contains(c)).count();
        let mut failed_by_source = BTreeMap::new();
        for case in report.cases.iter().filter(|c| c.status == CaseStatus::Fail) {
            if let Some(source) = failing_source(&case.failures, report.judgement.profile) {
                *failed_by_source.entry(source).or_insert(0) += 1;
            }
        }
        Counts {
            passed: count(&[Cell::Pass, Cell::Warn]),
            failed: count(&[Cell::Fail]),
            failed_by_source,
            differ: count(&[Cell::Differs]),
            unsupported: count(&[Cell::Unsupported]),
            unsupported_features: report
                .cases
                .iter()
                .filter_map(|c| match &c.status {
                    CaseStatus::Unsupported { features, .. } => Some(features.iter().copied()),
                    _ => None,
                })
                .flatten()
                .collect(),
            declined: report
                .cases
                .iter()
                .filter_map(|c| c.declined.as_ref())
                .flat_map(|d| d.features.iter().copied())
                .collect(),
            skipped: count(&[Cell::Skip]),
            warned: count(&[Cell::Warn]),
            scenario_errors: report.scenario_errors.len(),
        }
    }

    /// `210 passed, 12 failed (spec 9, suite 3), 96 differ from the reference, 40 unsupported
    /// (chaining), 67 skipped`: the verdict's numbers, the same in the terminal and Markdown.
    pub fn headline(&self, profile: Profile) -> String {
        let mut out = format!("{} passed, {} failed", self.passed, self.failed);
        if !self.failed_by_source.is_empty() {
            let parts: Vec<String> = self
                .failed_by_source
                .iter()
                .map(|(source, n)| format!("{} {n}", source.name()))
                .collect();
            let _ = write!(out, " ({})", parts.join(", "));
        }
        let names =
            |set: &BTreeSet<Feature>| feature_names(&set.iter().copied().collect::<Vec<_>>());
        if profile == Profile::Spec {
            let _ = write!(
                out,
                ", {} differ from the reference, {} unsupported",
                self.differ, self.unsupported
            );
            if !self.unsupported_features.is_empty() {
                let _ = write!(out, " ({})", names(&self.unsupported_features));
            }
        } else if !self.declined.is_empty() {
            let _ = write!(out, " (capabilities declined: {})", names(&self.declined));
        }
        let _ = write!(out, ", {} skipped", self.skipped);
        out
    }
}

/// `chaining, link-in-container`.
pub fn feature_names(features: &[Feature]) -> String {
    features
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closing line: `conformance (profile spec): N passed, N failed (spec N, suite N), ...`
/// (warnings counted within passed).
pub fn summary(report: &SuiteReport) -> String {
    let c = Counts::of(report);
    format!(
        "\nconformance (profile {}): {} ({} passed with SHOULD warnings; {} scenario file errors) in {:.1} s\n",
        report.judgement.profile.name(),
        c.headline(report.judgement.profile),
        c.warned,
        c.scenario_errors,
        report.duration_ms as f64 / 1000.0
    )
}
