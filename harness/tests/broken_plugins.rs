//! The suite catches deliberately broken VLAN plugins: each defect of `conform-broken-vlan`
//! makes a MUST scenario fail (at the clause that defect breaks), while the reference plugin
//! passes the same selection with the same stored states. A reproducer written for such a
//! failure, run on its own, shows the failure again.

#[path = "support/broken_variants.rs"]
mod broken_variants;

use std::path::Path;
use std::process::Command;

use broken_variants::{BrokenVariants, reference_plugin};
use cni_conform::report::{self, reproducer, table};
use cni_conform::scenario::{
    CaseStatus, Level, Library, Progress, StoredStates, SuiteOptions, SuiteReport, run_suite,
};
use cni_types::CniVersion;
use rstest::rstest;

/// The scenarios the defects break (a glob over scenario ids; `ipam-add-failure` also selects
/// `ipam-add-failure-delegate-del`).
const SELECTION: &str =
    "{host-master,chained-del-keeps-master,ipam-add-failure,check-after-add-chained,chained-seed}";

/// One version with CHECK and prevResult on DEL, and the newest.
const VERSIONS: [CniVersion; 2] = [CniVersion::V0_4_0, CniVersion::V1_1_0];

fn run(plugin: &Path) -> SuiteReport {
    let library = Library::bundled().unwrap();
    let options = SuiteOptions {
        filter: Some(SELECTION.into()),
        versions: Some(VERSIONS.to_vec()),
        ..SuiteOptions::reference(plugin)
    };
    let states = StoredStates::new(&library.states_dir());
    let progress = |_: Progress| {};
    let report = run_suite(&library, &options, &states, &progress).expect("the suite runs");
    eprintln!("{}:\n{}", plugin.display(), table::render(&report));
    report
}

#[test]
fn the_reference_plugin_passes_the_selection() {
    cni_conform::kernel::require_vlan();
    let report = run(&reference_plugin());
    let mut scenarios: Vec<&str> = report.cases.iter().map(|c| c.scenario.as_str()).collect();
    scenarios.dedup();
    for wanted in [
        "host-master",
        "chained-del-keeps-master",
        "ipam-add-failure",
        "check-after-add-chained",
    ] {
        assert!(
            scenarios.contains(&wanted),
            "{wanted} is not in the selection: {scenarios:?}"
        );
    }
    assert!(
        report.cases.iter().all(|c| c.status == CaseStatus::Pass),
        "{}",
        table::render(&report)
    );
}

#[rstest]
#[case::drop_prev_result(
    "broken-drop-prev-result",
    "check-after-add-chained",
    "spec.check.after-add"
)]
#[case::delegate_stdin_changed(
    "broken-drop-prev-result",
    "chained-seed",
    "contract.ipam.stdin-unchanged"
)]
#[case::delete_master(
    "broken-delete-master",
    "chained-del-keeps-master",
    "contract.del.chained-keeps-master"
)]
// Its DEL (the reference's) removes the VLAN its failed ADD left: not a leak, but no undo
// inside the failed ADD, which the reference contract (this run's profile) requires.
#[case::leak_on_ipam_failure(
    "broken-leak-on-ipam-failure",
    "ipam-add-failure",
    "contract.add.undo-on-failure"
)]
#[case::wrong_vlan_id("broken-wrong-vlan-id", "host-master", "contract.mode.host-master")]
#[case::misnamed_result(
    "broken-misnamed-result",
    "host-master",
    "suite.result-interfaces-exist"
)]
fn each_defect_fails_a_must_scenario(
    #[case] breakage: &str,
    #[case] scenario: &str,
    #[case] clause: &str,
) {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let report = run(&variants.plugin(breakage));
    assert!(!report.passed(), "{breakage} passed the suite");
    for version in VERSIONS {
        let case = report
            .cases
            .iter()
            .find(|c| c.scenario == scenario && c.version == version)
            .unwrap_or_else(|| panic!("{scenario} @ {version} did not run"));
        assert_eq!(case.status, CaseStatus::Fail, "{scenario} @ {version}");
        assert!(
            case.failures
                .iter()
                .any(|f| f.level == Level::Must && f.clause == clause),
            "{breakage}: {scenario} @ {version} does not fail {clause}: {:#?}",
            case.failures
        );
    }
}

#[test]
fn a_reproducer_shows_the_failure_again_without_the_harness() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let report = run(&variants.plugin("broken-wrong-vlan-id"));
    let reports = tempfile::tempdir().unwrap();
    let written = report::write_all(&report, reports.path()).unwrap();

    // Every failure that fails the run has a script (differences and warnings none), and bash
    // accepts every script.
    let failures: usize = report
        .cases
        .iter()
        .flat_map(|c| &c.failures)
        .filter(|f| reproducer::wanted(&report, f))
        .count();
    assert!(failures > 0);
    let scripts: Vec<_> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert_eq!(scripts.len(), failures);
    for script in &scripts {
        let check = Command::new("bash").arg("-n").arg(script).output().unwrap();
        assert!(
            check.status.success(),
            "bash -n {}: {}",
            script.display(),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // The stored state says VLAN 100; the broken plugin made 101. The script's replay makes
    // 101 again, and leaves nothing behind in its temp folder.
    let case = report
        .cases
        .iter()
        .find(|c| c.scenario == "host-master" && c.version == CniVersion::V1_1_0)
        .unwrap();
    let failure = &case.failures[0];
    assert_eq!(failure.step, "1 (add)");
    assert!(
        failure
            .diff
            .as_deref()
            .is_some_and(|d| d.contains("100") && d.contains("101")),
        "{failure:#?}"
    );
    let script = reports
        .path()
        .join(reproducer::DIR)
        .join(reproducer::file_name(case, 0));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("# clause   contract.mode.host-master (MUST)"),
        "{text}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let replay = Command::new("bash")
        .arg(&script)
        .env("TMPDIR", scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("vlan protocol 802.1Q id 101"),
        "the VLAN id of the failure is not reproduced:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("\"interfaces\"") && stdout.contains("(exit status 0)"),
        "the plugin's result is not printed:\n{stdout}"
    );
    assert!(
        stdout.contains("10.10.0.2/24"),
        "the IPAM's address is not on the replayed link:\n{stdout}"
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "the reproducer left its folder behind"
    );
}
