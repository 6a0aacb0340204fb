//! The terminal report: a scenario x version table, then every failure with its clause, step,
//! expected vs actual and the plugin's stderr.

use std::fmt::Write;

use cni_types::CniVersion;

use crate::scenario::{CaseReport, CaseStatus, Level, SuiteReport};

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

/// One row per scenario, one column per version: pass, FAIL, warn (SHOULD only), skip, or `.`
/// where the scenario does not apply.
pub fn matrix(report: &SuiteReport) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for case in &report.cases {
        if !scenarios.contains(&case.scenario.as_str()) {
            scenarios.push(&case.scenario);
        }
    }
    let width = scenarios.iter().map(|s| s.len()).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = write!(out, "{:width$}", "scenario");
    for v in CniVersion::ALL {
        let _ = write!(out, " {:>6}", v.as_str());
    }
    out.push('\n');
    for scenario in scenarios {
        let _ = write!(out, "{scenario:width$}");
        for v in CniVersion::ALL {
            let cell = report
                .cases
                .iter()
                .find(|c| c.scenario == scenario && c.version == v)
                .map_or(".", cell);
            let _ = write!(out, " {cell:>6}");
        }
        out.push('\n');
    }
    let skips: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| match &c.status {
            CaseStatus::Skip { reason } => {
                Some(format!("{} @ {}: {reason}", c.scenario, c.version))
            }
            _ => None,
        })
        .collect();
    if !skips.is_empty() {
        out.push_str("skipped:\n");
        for s in skips {
            let _ = writeln!(out, "  {s}");
        }
    }
    out
}

fn cell(case: &CaseReport) -> &'static str {
    match case.status {
        CaseStatus::Fail => "FAIL",
        CaseStatus::Skip { .. } => "skip",
        CaseStatus::Pass if case.warnings().next().is_some() => "warn",
        CaseStatus::Pass => "pass",
    }
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
            let level = match f.level {
                Level::Must => "MUST",
                Level::Should => "SHOULD",
            };
            let _ = writeln!(
                out,
                "\n{tag} {} @ {} step {} clause {} ({level})\n  {}",
                case.scenario, case.version, f.step, f.clause, f.message
            );
            if let Some(diff) = &f.diff {
                for line in diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
            if let Some(exec) = f.execution.and_then(|i| case.executions.get(i)) {
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

/// The closing line: `N passed, N failed, N skipped` (warnings counted within passed).
pub fn summary(report: &SuiteReport) -> String {
    let count = |f: fn(&CaseStatus) -> bool| report.cases.iter().filter(|c| f(&c.status)).count();
    let passed = count(|s| *s == CaseStatus::Pass);
    let failed = count(|s| *s == CaseStatus::Fail);
    let skipped = count(|s| matches!(s, CaseStatus::Skip { .. }));
    let warned = report
        .cases
        .iter()
        .filter(|c| c.status == CaseStatus::Pass && c.warnings().next().is_some())
        .count();
    format!(
        "\nconformance: {passed} passed, {failed} failed, {skipped} skipped ({warned} passed with SHOULD warnings; {} scenario file errors) in {:.1} s\n",
        report.scenario_errors.len(),
        report.duration_ms as f64 / 1000.0
    )
}
