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

use super::table::{clause_label, command_label, execution_of, feature_names};
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
        Property::new("plugin-type", report.plugin_type.as_str()),
        Property::new(
            "plugin-release",
            report.plugin_release.as_deref().unwrap_or("unknown"),
        ),
        Property::new("kernel", report.kernel.to_string()),
        Property::new("plugin-versions", report.plugin_versions.join(",")),
        Property::new("profile", report.judgement.profile.name()),
        Property::new("runtime", report.runtime.to_string()),
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
        suite.add_test_case(test_case(report, case));
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

fn test_case(report: &SuiteReport, case: &CaseReport) -> TestCase {
    let profile = report.judgement.profile;
    let (own, members): (Vec<&Failure>, Vec<&Failure>) = case
        .failures
        .iter()
        .filter(|f| f.level == Level::Must)
        .partition(|f| f.is_plugin_under_test());
    let (musts, differences): (Vec<&Failure>, Vec<&Failure>) =
        own.into_iter().partition(|f| profile.decides(f.source));
    let status = match &case.status {
        CaseStatus::Pass | CaseStatus::Differs => TestCaseStatus::success(),
        CaseStatus::Unsupported { features, reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!(
                "unsupported ({}): the plugin declined: {reason}",
                feature_names(features)
            ));
            status
        }
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
                        "{} ({}) at step {}: {}{more}",
                        first.clause,
                        first.source.name(),
                        first.step,
                        first.message
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
    let mut out = Vec::new();
    if !differences.is_empty() && !matches!(case.status, CaseStatus::Unsupported { .. }) {
        out.push(format!(
            "Differs from the reference plugin (reference clauses, not failures under profile {}):\n{}",
            profile.name(),
            describe_all(case, &differences)
        ));
    }
    if !members.is_empty() {
        out.push(format!(
            "Failures of other chain members (theirs, not the plugin under test's):\n{}",
            describe_all(case, &members)
        ));
    }
    if !warnings.is_empty() {
        out.push(format!(
            "SHOULD warnings (not failures):\n{}",
            describe_all(case, &warnings)
        ));
    }
    if !out.is_empty() {
        test_case.set_system_out(out.join("\n"));
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
    let member = f
        .member
        .as_ref()
        .map(|m| format!("member {m}\n"))
        .unwrap_or_default();
    let mut out = format!(
        "clause {}\nstep {}\n{member}{}\n",
        clause_label(f),
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
                command_label(exec),
                stderr.trim_end()
            );
        }
    }
    out
}

fn saturate(ms: u128) -> u64 {
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use cni_types::CniVersion;
    use quick_junit::TestCaseStatus;

    use super::*;
    use crate::report::test_support::{case, failure, suite};

    /// A failed case (two MUSTs and a SHOULD), a pass with a warning, a skip, a bad file.
    fn report() -> SuiteReport {
        let mut failed = case("host-master", CniVersion::V1_0_0, CaseStatus::Fail);
        failed.failures = vec![
            Failure {
                diff: Some("-id: 100\n+id: 101".into()),
                ..failure("contract.mode.host-master", Level::Must, "state differs")
            },
            failure(
                "spec.del.cleanup",
                Level::Must,
                "link pod/eth0 is still present",
            ),
            failure("contract.errors.message", Level::Should, "says nothing"),
        ];
        let mut warned = case("host-master", CniVersion::V1_1_0, CaseStatus::Pass);
        warned.failures = vec![failure("contract.errors.message", Level::Should, "vague")];
        let skipped = case(
            "gc-forwarded",
            CniVersion::V1_1_0,
            CaseStatus::Skip {
                reason: "feature gc skipped (--skip-feature)".into(),
            },
        );
        suite(
            vec![failed, warned, skipped],
            vec!["scenarios/typo.yaml:4:1: unknown field `netwrok`".into()],
        )
    }

    /// What CI tools read back.
    fn parsed() -> Report {
        let xml = to_junit(&report()).to_string().unwrap();
        Report::deserialize_from_str(&xml).unwrap()
    }

    #[test]
    fn a_suite_per_scenario_and_a_case_per_version() {
        let junit = parsed();
        let names: Vec<(&str, Vec<&str>)> = junit
            .test_suites
            .iter()
            .map(|s| {
                let cases = s.test_cases.iter().map(|c| c.name.as_str()).collect();
                (s.name.as_str(), cases)
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "host-master",
                    vec!["host-master @ 1.0.0", "host-master @ 1.1.0"]
                ),
                ("gc-forwarded", vec!["gc-forwarded @ 1.1.0"]),
                (SCENARIO_FILES_SUITE, vec!["scenario file 1"]),
            ]
        );
        assert_eq!(
            (junit.tests, junit.failures, junit.errors, junit.skipped),
            (4, 1, 1, 1)
        );
    }

    #[test]
    fn failures_carry_every_must_and_warnings_go_to_system_out() {
        let junit = parsed();
        let [failed, warned] = &junit.test_suites[0].test_cases[..] else {
            panic!("two cases expected");
        };
        let TestCaseStatus::NonSuccess {
            message,
            ty,
            description,
            ..
        } = &failed.status
        else {
            panic!("{failed:?}");
        };
        assert_eq!(
            message.as_deref(),
            Some(
                "contract.mode.host-master (reference) at step 1 (add): state differs (and 1 more MUST failures)"
            )
        );
        assert_eq!(ty.as_deref(), Some("contract.mode.host-master"));
        let description = description.as_deref().unwrap();
        assert!(
            description.contains("expected vs actual:\n-id: 100\n+id: 101")
                && description.contains("clause spec.del.cleanup (spec, MUST)")
                && !description.contains("says nothing"),
            "{description}"
        );
        assert!(
            failed
                .system_out
                .as_deref()
                .is_some_and(|o| o.contains("says nothing")),
            "{failed:?}"
        );
        assert!(matches!(warned.status, TestCaseStatus::Success { .. }));
        assert!(
            warned
                .system_out
                .as_deref()
                .is_some_and(|o| o.starts_with("SHOULD warnings") && o.contains("vague")),
            "{warned:?}"
        );
    }

    #[test]
    fn another_members_failure_is_told_apart_and_fails_nothing() {
        let mut passed = case("interop-ptp-vlans", CniVersion::V1_0_0, CaseStatus::Pass);
        passed.failures = vec![Failure {
            member: Some(crate::scenario::expect::ChainMember {
                plugin_type: "ptp".into(),
                position: 1,
                under_test: false,
            }),
            ..failure(
                "spec.check.later-plugins",
                Level::Must,
                "Failed to match addr",
            )
        }];
        let xml = to_junit(&suite(vec![passed], vec![])).to_string().unwrap();
        let junit = Report::deserialize_from_str(&xml).unwrap();
        let case = &junit.test_suites[0].test_cases[0];
        assert!(
            matches!(case.status, TestCaseStatus::Success { .. }),
            "{xml}"
        );
        assert!(
            case.system_out
                .as_deref()
                .is_some_and(|o| o.starts_with("Failures of other chain members")
                    && o.contains("member ptp (position 1)")
                    && o.contains("Failed to match addr")),
            "{xml}"
        );
    }

    #[test]
    fn skips_keep_their_reason_and_bad_files_are_errors() {
        let junit = parsed();
        let skipped = &junit.test_suites[1].test_cases[0];
        assert!(
            matches!(&skipped.status, TestCaseStatus::Skipped { message, .. }
                if message.as_deref() == Some("feature gc skipped (--skip-feature)")),
            "{skipped:?}"
        );
        let bad = &junit.test_suites[2].test_cases[0];
        assert!(
            matches!(&bad.status, TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, message, .. }
                if message.as_deref().is_some_and(|m| m.contains("typo.yaml:4"))),
            "{bad:?}"
        );
    }
}
