//! The suite's power to tell plugins apart, itself tested: upstream's `vlan` (Debian's
//! containernetworking-plugins) is run through every scenario and its outcome per (scenario,
//! version) must be exactly the stored one, under both profiles: fixtures/upstream/vlan.outcomes
//! (profile reference) and fixtures/upstream/vlan.spec.outcomes (profile spec). A scenario that
//! stops catching one of upstream's known defects, or starts failing it for a new reason, shows
//! up here. Re-record after a deliberate change with UPDATE_UPSTREAM_OUTCOMES=1 and review the
//! diff.

use std::path::Path;

use cni_conform::report::table;
use cni_conform::scenario::{
    CaseStatus, Judgement, Library, Profile, StoredStates, SuiteOptions, SuiteReport, run_suite,
    verdict,
};

const UPSTREAM_VLAN: &str = "/usr/lib/cni/vlan";

#[test]
fn upstream_vlan_gets_exactly_the_recorded_outcomes() {
    cni_conform::kernel::require_vlan();
    assert!(
        Path::new(UPSTREAM_VLAN).exists(),
        "{UPSTREAM_VLAN} is missing: apt-get install -y containernetworking-plugins (ci/setup does)"
    );
    let library = Library::bundled().unwrap();
    let options = SuiteOptions::reference(UPSTREAM_VLAN);
    let states = StoredStates::new(&library.states_dir());
    let report = run_suite(&library, &options, &states, &|_| {}).expect("suite runs");
    // docs/upstream-results.md's tables come from here (`-- --nocapture`): the run as judged by each profile.
    let report = report.judged(Judgement::default());
    eprintln!("{}", table::render(&report));
    let report = report.judged(options.judgement.clone());
    eprintln!("{}", table::render(&report));
    // One run, judged by both profiles: the same failures, two verdicts.
    let mismatches: Vec<String> = [
        (Profile::Reference, "upstream/vlan.outcomes"),
        (Profile::Spec, "upstream/vlan.spec.outcomes"),
    ]
    .into_iter()
    .filter_map(|(profile, file)| {
        let judged = outcomes_under(&report, profile);
        // The source tree's file, not the bundled copy: recording writes it.
        let stored = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(file);
        compare(&judged, &stored)
    })
    .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `(scenario, version, status)` of every case, judged by `profile` (the same judging as
/// `SuiteReport::judged`, without consuming the report).
fn outcomes_under(report: &SuiteReport, profile: Profile) -> Vec<(String, String, String)> {
    let judgement = Judgement {
        profile,
        required_features: vec![],
    };
    report
        .cases
        .iter()
        .map(|case| {
            let status = if case.ran() {
                verdict::status(&case.failures, case.declined.as_ref(), &judgement)
            } else {
                case.status.clone()
            };
            let word = match &status {
                CaseStatus::Pass if case.warnings().next().is_some() => "warn",
                CaseStatus::Pass => "pass",
                CaseStatus::Fail => "fail",
                CaseStatus::Differs => "differs",
                CaseStatus::Unsupported { .. } => "unsupported",
                CaseStatus::Skip { .. } => "skip",
            };
            (
                case.scenario.clone(),
                case.version.to_string(),
                word.to_string(),
            )
        })
        .collect()
}

/// `None` when the outcomes equal the stored ones (or were just recorded), else the diff.
fn compare(outcomes: &[(String, String, String)], stored_path: &Path) -> Option<String> {
    let mut actual = String::from(
        "# cni-conform outcomes of /usr/lib/cni/vlan (Debian containernetworking-plugins), one\n\
         # line per case: scenario version status. Recorded by harness/tests/upstream_vlan.rs.\n",
    );
    for (scenario, version, status) in outcomes {
        actual.push_str(&format!("{scenario} {version} {status}\n"));
    }
    if std::env::var_os("UPDATE_UPSTREAM_OUTCOMES").is_some() {
        std::fs::write(stored_path, &actual).expect("write the outcomes");
        return None;
    }
    let stored = std::fs::read_to_string(stored_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with UPDATE_UPSTREAM_OUTCOMES=1",
            stored_path.display()
        )
    });
    (stored != actual).then(|| {
        let diff = similar::TextDiff::from_lines(&stored, &actual)
            .unified_diff()
            .header("recorded", "now")
            .to_string();
        format!(
            "upstream vlan's outcomes in {} changed (a scenario lost or gained power, or a \
             different upstream build is installed):\n{diff}",
            stored_path.display()
        )
    })
}
