//! The suite's power to tell plugins apart, itself tested: upstream's `vlan` (Debian's
//! containernetworking-plugins) is run through every scenario and its outcome per (scenario,
//! version) must be exactly the stored one in fixtures/upstream/vlan.outcomes. A scenario that
//! stops catching one of upstream's known defects, or starts failing it for a new reason, shows
//! up here. Re-record after a deliberate change with UPDATE_UPSTREAM_OUTCOMES=1 and review the
//! diff.

use std::path::Path;
use std::time::Duration;

use cni_conform::report::table;
use cni_conform::scenario::{CaseStatus, Library, StoredStates, SuiteOptions, run_suite};

const UPSTREAM_VLAN: &str = "/usr/lib/cni/vlan";

#[test]
fn upstream_vlan_gets_exactly_the_recorded_outcomes() {
    cni_conform::kernel::require_vlan();
    assert!(
        Path::new(UPSTREAM_VLAN).exists(),
        "{UPSTREAM_VLAN} is missing: apt-get install -y containernetworking-plugins (ci/setup does)"
    );
    let library = Library::bundled().unwrap();
    let options = SuiteOptions {
        plugin: UPSTREAM_VLAN.into(),
        plugin_type: "vlan".into(),
        extra_cni_path: vec![],
        filter: None,
        versions: None,
        skip_features: vec![],
        jobs: 2,
        timeout: Duration::from_secs(60),
    };
    let states = StoredStates::new(&library.states_dir());
    let report = run_suite(&library, &options, &states, &|_| {}).expect("suite runs");
    let mut actual = String::from(
        "# cni-conform outcomes of /usr/lib/cni/vlan (Debian containernetworking-plugins), one\n\
         # line per case: scenario version status. Recorded by harness/tests/upstream_vlan.rs.\n",
    );
    for case in &report.cases {
        let status = match &case.status {
            CaseStatus::Pass if case.warnings().next().is_some() => "warn",
            CaseStatus::Pass => "pass",
            CaseStatus::Fail => "fail",
            CaseStatus::Skip { .. } => "skip",
        };
        actual.push_str(&format!("{} {} {status}\n", case.scenario, case.version));
    }
    // The source tree's file, not the bundled copy: recording writes it.
    let stored_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/upstream/vlan.outcomes");
    if std::env::var_os("UPDATE_UPSTREAM_OUTCOMES").is_some() {
        std::fs::write(&stored_path, &actual).expect("write the outcomes");
        return;
    }
    let stored = std::fs::read_to_string(&stored_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with UPDATE_UPSTREAM_OUTCOMES=1",
            stored_path.display()
        )
    });
    if stored != actual {
        let diff = similar::TextDiff::from_lines(&stored, &actual)
            .unified_diff()
            .header("recorded", "now")
            .to_string();
        panic!(
            "upstream vlan's outcomes changed (a scenario lost or gained power, or a different \
             upstream build is installed):\n{diff}\n{}",
            table::render(&report)
        );
    }
}
