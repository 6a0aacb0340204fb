//! `report.xml`: JUnit XML for CI test views (GitHub Actions, GitLab). One `<testsuite>` per
//! scenario, one `<testcase>` per (scenario, version) named `<scenario> @ <version>`. A case
//! with a MUST failure is a `<failure>` whose text lists every MUST failure (clause, step,
//! message, expected vs actual, plugin stderr); SHOULD warnings go to the case's
//! `<system-out>`, so they show without failing; a skipped case is `<skipped>` with the reason.
//! Scenario files that could not be used are `<error>` cases of a `scenario-files` suite.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::table::{execution_of, level_name};
use crate::scenario::{CaseReport, CaseStatus, Failure, Level, SuiteReport};

/// The suite holding scenario files that could not be loaded.
pub const SCENARIO_FILES_SUITE: &str = "scenario-files";

pub fn write(report: &SuiteReport, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join("report.xml");
    let xml = to_junit(report).to_string().map_err(io::Error::other)?;
    std::fs::write(&path, xml)?;
    Ok(path)
}

pub fn to_junit(report: &SuiteReport) -> Report {
    let mut junit = Report::new("cni-conform");
    junit.set_time(Duration::from_millis(saturate(report.duration_ms)));
    let properties = [
        Property::new("plugin", report.plugin.display().to_string()),
        Property::new("kernel", report.kernel.to_string()),
        Property::new("plugin-versions", report.plugin_versions.join(",")),
    ];
    let mut suites: Vec<TestSuite> = Vec::new();
    for case in &report.cases {
        let suite = match suites.iter().position(|s| s.name.as_str() == case.scenario) {
            Some(i) => &mut suites[i],
            None => {
                let mut suite = TestSuite::new(case.scenario.as_str());
                suite.add_properties(properties.iter().cloned());
                suites.push(suite);
                suites.last_mut().expect("just pushed")
            }
        };
        suite.add_test_case(test_case(case));
    }
    if !report.scenario_errors.is_empty() {
        let mut suite = TestSuite::new(SCENARIO_FILES_SUITE);
        for (i, error) in report.scenario_errors.iter().enumerate() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(error.as_str())
                .set_type("invalid scenario file");
            suite.add_test_case(TestCase::new(format!("scenario file {}", i + 1), status));
        }
        suites.push(suite);
    }
    for suite in &mut suites {
        let time: Duration = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(time);
    }
    junit.add_test_suites(suites);
    junit
}

fn test_case(case: &CaseReport) -> TestCase {
    let musts: Vec<&Failure> = case
        .failures
        .iter()
        .filter(|f| f.level == Level::Must)
        .collect();
    let status = match &case.status {
        CaseStatus::Pass => TestCaseStatus::success(),
        CaseStatus::Skip { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason.as_str());
            status
        }
        CaseStatus::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            if let Some(first) = musts.first() {
                let more = match musts.len() {
                    1 => String::new(),
                    n => format!(" (and {} more MUST failures)", n - 1),
                };
                status
                    .set_message(format!(
                        "{} at step {}: {}{more}",
                        first.clause, first.step, first.message
                    ))
                    .set_type(first.clause.as_str());
            }
            status.set_description(describe_all(case, &musts));
            status
        }
    };
    let mut test_case = TestCase::new(format!("{} @ {}", case.scenario, case.version), status);
    test_case
        .set_classname(case.scenario.as_str())
        .set_time(Duration::from_millis(saturate(case.duration_ms)));
    let warnings: Vec<&Failure> = case.warnings().collect();
    if !warnings.is_empty() {
        test_case.set_system_out(format!(
            "SHOULD warnings (not failures):\n{}",
            describe_all(case, &warnings)
        ));
    }
    test_case
}

/// Every failure in full, separated by blank lines.
fn describe_all(case: &CaseReport, failures: &[&Failure]) -> String {
    failures
        .iter()
        .map(|f| describe(case, f))
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe(case: &CaseReport, f: &Failure) -> String {
    let mut out = format!(
        "clause {} ({})\nstep {}\n{}\n",
        f.clause,
        level_name(f.level),
        f.step,
        f.message
    );
    if let Some(diff) = &f.diff {
        let _ = writeln!(out, "expected vs actual:\n{}", diff.trim_end());
    }
    if let Some(exec) = execution_of(case, f) {
        let stderr = exec.stderr.to_string_lossy();
        if !stderr.trim().is_empty() {
            let _ = writeln!(
                out,
                "plugin stderr ({} {}):\n{}",
                exec.plugin,
                exec.command,
                stderr.trim_end()
            );
        }
    }
    out
}

fn saturate(ms: u128) -> u64 {
    u64::try_from(ms).unwrap_or(u64::MAX)
}
