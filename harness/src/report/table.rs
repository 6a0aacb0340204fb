//! The terminal report: a scenario x version table, then every failure with its clause, step,
//! expected vs actual and the plugin's stderr. The table's cells and counts are computed here
//! once ([`Matrix`], [`Counts`]) and rendered both as text and, by the Markdown summary, as a
//! Markdown table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use cni_types::CniVersion;

use super::grouped::{self, Kind};
pub use super::labels::{clause_label, command_label, execution_of, failure_tag, level_name};
use super::reproducer;

use crate::scenario::verdict::failing_source;
use crate::scenario::{CaseReport, CaseStatus, Failure, Feature, Profile, Source, SuiteReport};

/// How much the terminal shows, and where the reproducers went.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions<'a> {
    /// Every failure of every case (per version), differences and warnings in full.
    pub verbose: bool,
    /// Where `--report-dir` wrote the reproducers, so each failing clause names its script.
    pub report_dir: Option<&'a Path>,
}

/// `, <release>` when the report knows which build was judged.
pub fn release(report: &SuiteReport) -> String {
    report
        .plugin_release
        .as_deref()
        .map(|r| format!(", {r}"))
        .unwrap_or_default()
}

/// The whole terminal report, as `cni-conform run` prints it by default.
pub fn render(report: &SuiteReport) -> String {
    render_with(report, &RenderOptions::default())
}

/// The whole terminal report: header, table, failures grouped by clause, summary.
pub fn render_with(report: &SuiteReport, options: &RenderOptions) -> String {
    let mut out = String::new();
    let versions = if report.plugin_versions.is_empty() {
        "plugin lists no versions".to_string()
    } else {
        format!("plugin supports {}", report.plugin_versions.join(", "))
    };
    let _ = writeln!(
        out,
        "plugin {} (type {}{}) on {}; {versions}; profile {}; runtime {}",
        report.plugin.display(),
        report.plugin_type,
        release(report),
        report.kernel,
        report.judgement.profile.name(),
        report.runtime
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out.push_str(&matrix(report));
    if options.verbose {
        out.push_str(&failures(report));
    }
    out.push_str(&grouped_failures(report, options));
    for e in &report.scenario_errors {
        let _ = writeln!(out, "SCENARIO FILE ERROR {e}");
    }
    for problem in &report.unjudged {
        let _ = writeln!(out, "\nNOT JUDGED {problem}");
    }
    out.push_str(&summary(report));
    out
}

/// Lines of a diff or of stderr shown under a group's example; the report files have all.
const EXAMPLE_LINES: usize = 12;

/// The failing clauses, each once: where it failed (scenarios and versions), one
/// representative message and how to reproduce it. Differences and warnings are counted per
/// clause unless `verbose`.
pub fn grouped_failures(report: &SuiteReport, options: &RenderOptions) -> String {
    let groups = grouped::groups(report);
    let mut out = String::new();
    for group in groups
        .iter()
        .filter(|g| options.verbose || matches!(g.kind, Kind::Fail | Kind::OtherMember))
    {
        let f = group.example;
        let case = group.example_case;
        let who = match &group.member {
            Some(member) => format!(" {member}"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "\n{}{who} {}: {} case{}",
            group.kind.tag(),
            clause_label(f),
            group.case_count(),
            if group.case_count() == 1 { "" } else { "s" }
        );
        if group.kind == Kind::OtherMember {
            out.push_str(
                "  (another member of the list broke it: reported as that member's, it does not \
                 fail the plugin under test)\n",
            );
        }
        let _ = writeln!(out, "  in {}", group.places());
        let member = f
            .member
            .as_ref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  e.g. {} @ {} step {}{member}: {}",
            case.scenario, case.version, f.step, f.message
        );
        out.push_str(&evidence(case, f, EXAMPLE_LINES, 5));
        let script = options
            .report_dir
            .filter(|_| reproducer::wanted(report, f))
            .map(|dir| {
                dir.join(reproducer::DIR)
                    .join(reproducer::file_name(case, group.example_index))
            });
        match script {
            Some(script) => {
                let _ = writeln!(out, "  reproduce: bash {}", script.display());
            }
            None => {
                let _ = writeln!(
                    out,
                    "  look closer: cni-conform explain {}@{} (--report-dir writes a reproducer)",
                    case.scenario, case.version
                );
            }
        }
    }
    if !options.verbose {
        for (kind, title) in [
            (
                Kind::Differs,
                "differences from the reference plugin (not failures)",
            ),
            (Kind::Warn, "warnings (SHOULD)"),
        ] {
            let of_kind: Vec<_> = groups.iter().filter(|g| g.kind == kind).collect();
            if of_kind.is_empty() {
                continue;
            }
            let cases: BTreeSet<(&str, CniVersion)> = of_kind
                .iter()
                .flat_map(|g| {
                    g.cases
                        .iter()
                        .flat_map(|(s, vs)| vs.iter().map(move |v| (*s, *v)))
                })
                .collect();
            let clauses: Vec<String> = of_kind
                .iter()
                .map(|g| format!("{} ({})", g.example.clause, g.case_count()))
                .collect();
            let _ = writeln!(
                out,
                "\n{title}: {} clause{}, seen in {} case{}: {}",
                clauses.len(),
                if clauses.len() == 1 { "" } else { "s" },
                cases.len(),
                if cases.len() == 1 { "" } else { "s" },
                clauses.join(", ")
            );
        }
        let unsupported = report
            .cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::Unsupported { .. }))
            .count();
        if unsupported > 0 {
            let _ = writeln!(
                out,
                "\n{unsupported} case{} unsupported: the plugin declined an optional capability \
                 with a clean CNI error",
                if unsupported == 1 { "" } else { "s" }
            );
        }
        if groups
            .iter()
            .any(|g| matches!(g.kind, Kind::Differs | Kind::Warn))
            || unsupported > 0
        {
            out.push_str("(cni-conform run --verbose shows each of them)\n");
        }
    }
    if !groups.is_empty() {
        out.push_str(
            "\n(what a clause says: cni-conform explain CLAUSE; what a case does: cni-conform \
             explain SCENARIO@VERSION)\n",
        );
    }
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

/// Each reason cases were skipped for, with how many, in run order.
pub fn skip_counts(report: &SuiteReport) -> Vec<(&str, usize)> {
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for case in &report.cases {
        if let CaseStatus::Skip { reason } = &case.status {
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => reasons.push((reason, 1)),
            }
        }
    }
    reasons
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
    out.push_str(&skipped_summary(report));
    out
}

/// The skipped cases, one line per reason: `skipped: 81 cases: plugin does not support 1.1.0
/// (81)` (each case is in the table, the JSON report and `--verbose`'s failure list).
pub fn skipped_summary(report: &SuiteReport) -> String {
    let reasons = skip_counts(report);
    if reasons.is_empty() {
        return String::new();
    }
    let total: usize = reasons.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = reasons
        .iter()
        .map(|(reason, n)| format!("{reason} ({n})"))
        .collect();
    format!(
        "skipped: {total} case{}: {}\n",
        if total == 1 { "" } else { "s" },
        parts.join("; ")
    )
}

/// What shows a failure under its message: the expected vs actual (at most `diff_lines`) and
/// the stderr of the execution it points at (at most `stderr_lines`), indented.
fn evidence(case: &CaseReport, f: &Failure, diff_lines: usize, stderr_lines: usize) -> String {
    let mut out = String::new();
    for line in f.diff.iter().flat_map(|d| d.lines()).take(diff_lines) {
        let _ = writeln!(out, "    {line}");
    }
    if let Some(exec) = execution_of(case, f) {
        let stderr = exec.stderr.to_string_lossy();
        if !stderr.trim().is_empty() {
            let _ = writeln!(
                out,
                "  plugin stderr ({} {}):",
                exec.plugin,
                command_label(exec)
            );
            for line in stderr.lines().take(stderr_lines) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

/// Every failure and warning, case by case (`--verbose`).
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
            out.push_str(&evidence(case, f, usize::MAX, 20));
        }
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
