//! Verdicts a plugin author can trust: the SPEC's rules are judged on every step whatever the
//! scenario's own clause (a dropped prevResult, a CHECK failing right after ADD), a failure
//! belongs to the member of the chain that produced it (an upstream main plugin failing CHECK
//! because later plugins added addresses is that plugin's, not the plugin under test's), and a
//! version the plugin leaves out of its VERSION reply is judged, not silently skipped.

#[path = "support/broken_variants.rs"]
mod broken_variants;

use std::path::Path;

use broken_variants::{BrokenVariants, reference_plugin};
use cni_conform::report::table;
use cni_conform::scenario::{
    CaseReport, CaseStatus, Judgement, Level, Library, Profile, StoredStates, SuiteOptions,
    SuiteReport, run_suite,
};
use cni_types::CniVersion;

fn run(
    library: &Library,
    plugin: &Path,
    filter: &str,
    versions: &[CniVersion],
    profile: Profile,
) -> SuiteReport {
    let options = SuiteOptions {
        filter: Some(filter.into()),
        versions: Some(versions.to_vec()),
        judgement: Judgement {
            profile,
            required_features: vec![],
        },
        ..SuiteOptions::reference(plugin)
    };
    let states = StoredStates::new(&library.states_dir());
    let report = run_suite(library, &options, &states, &|_| {}).expect("the suite runs");
    eprintln!("{}:\n{}", plugin.display(), table::render(&report));
    report
}

fn case<'a>(report: &'a SuiteReport, scenario: &str, version: CniVersion) -> &'a CaseReport {
    report
        .cases
        .iter()
        .find(|c| c.scenario == scenario && c.version == version)
        .unwrap_or_else(|| panic!("{scenario} @ {version} did not run"))
}

fn must_clauses(case: &CaseReport) -> Vec<&str> {
    case.failures
        .iter()
        .filter(|f| f.level == Level::Must)
        .map(|f| f.clause.as_str())
        .collect()
}

#[test]
fn a_chained_add_that_drops_prev_result_fails_the_spec_under_the_spec_profile() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let library = Library::bundled().unwrap();
    let versions = [CniVersion::V1_0_0, CniVersion::V1_1_0];
    let report = run(
        &library,
        &variants.plugin("broken-drop-prev-result"),
        "chained-seed",
        &versions,
        Profile::Spec,
    );
    for version in versions {
        let case = case(&report, "chained-seed", version);
        assert_eq!(case.status, CaseStatus::Fail, "{version}");
        let dropped = case
            .failures
            .iter()
            .find(|f| f.clause == "spec.add.prev-result-passthrough")
            .unwrap_or_else(|| panic!("{version}: {:#?}", case.failures));
        // The first chained vlan (eth0.3, position 2) got the main plugin's veth-pod and eth0
        // in its prevResult and lost them.
        let member = dropped.member.as_ref().expect("a member");
        assert_eq!((member.plugin_type.as_str(), member.position), ("vlan", 2));
        assert!(
            dropped.message.contains("interface eth0 is missing"),
            "{dropped:#?}"
        );
        // The main plugin's CHECK then fails, as the main plugin's: with its own result (which
        // has eth0) it passes, so it refuses what the later plugins changed. Never the IPAM
        // clause.
        assert!(
            case.failures
                .iter()
                .any(|f| f.clause == "spec.check.later-plugins"
                    && f.member
                        .as_ref()
                        .is_some_and(|m| m.plugin_type == "conform-veth")),
            "{version}: {:#?}",
            case.failures
        );
        assert!(
            !case.failures.iter().any(|f| f.step == "2 (check)"
                && f.message.starts_with("expected success")
                && !f.clause.starts_with("spec.check.")),
            "the CHECK's failure is filed under another clause: {:#?}",
            case.failures
        );
    }
}

#[test]
fn a_check_that_fails_right_after_add_fails_the_spec_clause_in_every_mode() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let library = Library::bundled().unwrap();
    let versions = [CniVersion::V0_4_0, CniVersion::V1_1_0];
    let report = run(
        &library,
        &variants.plugin("broken-fail-check"),
        "{host-master,container-master,chained-seed}",
        &versions,
        Profile::Spec,
    );
    for scenario in ["host-master", "container-master", "chained-seed"] {
        for version in versions {
            let case = case(&report, scenario, version);
            assert_eq!(case.status, CaseStatus::Fail, "{scenario} @ {version}");
            assert!(
                case.failures
                    .iter()
                    .any(|f| f.clause == "spec.check.after-add"
                        && f.step == "2 (check)"
                        && f.member.as_ref().is_some_and(|m| m.under_test)),
                "{scenario} @ {version}: {:#?}",
                case.failures
            );
        }
    }
    // In chained-seed the second vlan added eth0.4 after the failing first one (position 2):
    // the suite asks it again, once, with only its own ADD result, and it still fails, so the
    // rule is CHECK after ADD, not later plugins.
    let chained = case(&report, "chained-seed", CniVersion::V1_1_0);
    let checks_of_position_2 = chained
        .executions
        .iter()
        .filter(|e| e.command_sent.as_deref() == Some("CHECK") && e.member == Some(1))
        .count();
    assert_eq!(
        checks_of_position_2, 2,
        "the list's CHECK and one asked again"
    );
}

/// A library with the bundled fixtures and one scenario of the test's own.
fn library_with(name: &str, yaml: &str) -> (tempfile::TempDir, Library) {
    let bundled = Library::bundled().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(scenarios.join(format!("{name}.yaml")), yaml).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(&bundled.fixtures_dir)
        .arg(dir.path().join("fixtures"))
        .status()
        .unwrap();
    assert!(copied.success());
    let library = Library::at(&scenarios);
    (dir, library)
}

const MAIN_CHECKS_EVERY_ADDRESS: &str = r#"
description: >
  A main plugin whose CHECK wants every address of prevResult on its own interface, as upstream's
  plugins do, followed by a chained vlan plugin that adds an address.
clauses:
  - id: contract.mode.chained
    level: MUST
features: [check, chaining, link-in-container]
network:
  cniVersion: "1.1.0"
  name: strict-main
  plugins:
    - type: conform-veth
      hostInterface: veth-pod
      checkAllIps: CHECK_ALL
      ipam:
        type: conform-ipam
        addresses: [{address: 10.0.0.2/24}]
        callLog: ${SANDBOX}/ipam.log
    - type: vlan
      linkInContainer: true
      vlanId: 3
      ipam:
        type: conform-ipam
        addresses: [{address: 192.168.3.10/24}]
        callLog: ${SANDBOX}/ipam.log
steps:
  - add: {}
  - check: {}
  - del: {}
"#;

#[test]
fn a_main_plugin_that_checks_every_address_is_blamed_for_the_later_plugins_clause() {
    cni_conform::kernel::require_vlan();
    let versions = [CniVersion::V0_4_0, CniVersion::V1_1_0];
    let strict = MAIN_CHECKS_EVERY_ADDRESS.replace("CHECK_ALL", "true");
    let (_dir, library) = library_with("strict-main", &strict);
    let report = run(
        &library,
        &reference_plugin(),
        "strict-main",
        &versions,
        Profile::Reference,
    );
    assert!(report.passed(), "the plugin under test is blamed");
    for version in versions {
        let case = case(&report, "strict-main", version);
        assert_eq!(case.status, CaseStatus::Pass, "{version}");
        let [failure] = case.failures.as_slice() else {
            panic!("{version}: one failure expected: {:#?}", case.failures);
        };
        assert_eq!(failure.clause, "spec.check.later-plugins");
        let member = failure.member.as_ref().expect("a member");
        assert_eq!(
            (
                member.plugin_type.as_str(),
                member.position,
                member.under_test
            ),
            ("conform-veth", 1, false)
        );
        // The suite went on with the vlan plugin's CHECK (which ran its IPAM's CHECK): the
        // step's delegate calls are the main plugin's and the vlan plugin's.
        assert!(
            failure.message.contains("went on with vlan (position 2)"),
            "{failure:#?}"
        );
        let check_runs: Vec<&str> = case
            .executions
            .iter()
            .filter(|e| e.command_sent.as_deref() == Some("CHECK"))
            .map(|e| e.plugin.as_str())
            .collect();
        // The main plugin's CHECK, the vlan plugin's the suite went on with, and the main
        // plugin's again with only its own ADD result: passing, it shows what it refused.
        assert_eq!(
            check_runs,
            ["conform-veth", "vlan", "conform-veth"],
            "{version}"
        );
        assert!(
            failure
                .message
                .contains("asked again with only its own ADD result")
        );
    }
    let lenient = MAIN_CHECKS_EVERY_ADDRESS.replace("CHECK_ALL", "false");
    let (_dir, library) = library_with("strict-main", &lenient);
    let report = run(
        &library,
        &reference_plugin(),
        "strict-main",
        &versions,
        Profile::Reference,
    );
    for version in versions {
        let case = case(&report, "strict-main", version);
        assert!(case.failures.is_empty(), "{version}: {:#?}", case.failures);
    }
}

#[test]
fn upstream_ptp_fails_the_later_plugins_check_as_itself_and_the_vlan_plugin_passes() {
    cni_conform::kernel::require_vlan();
    assert!(
        Path::new("/usr/lib/cni/ptp").exists(),
        "/usr/lib/cni/ptp is missing: apt-get install -y containernetworking-plugins (ci/setup does)"
    );
    let library = Library::bundled().unwrap();
    let report = run(
        &library,
        &reference_plugin(),
        "interop-ptp-vlans",
        &[CniVersion::V1_0_0],
        Profile::Reference,
    );
    assert!(report.passed(), "{}", table::render(&report));
    let case = case(&report, "interop-ptp-vlans", CniVersion::V1_0_0);
    let blamed: Vec<_> = case
        .failures
        .iter()
        .filter_map(|f| Some((f.clause.as_str(), f.member.as_ref()?)))
        .collect();
    assert!(
        blamed
            .iter()
            .any(|(clause, m)| *clause == "spec.check.later-plugins"
                && m.plugin_type == "ptp"
                && m.position == 1
                && !m.under_test),
        "{:#?}",
        case.failures
    );
    let text = table::render(&report);
    assert!(
        text.contains("MEMBER ptp spec.check.later-plugins"),
        "{text}"
    );
}

#[test]
fn a_version_left_out_of_the_version_reply_is_judged_not_skipped() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let library = Library::bundled().unwrap();
    let plugin = variants.plugin("broken-unlisted-version");
    for profile in [Profile::Spec, Profile::Reference] {
        let report = run(
            &library,
            &plugin,
            "host-master",
            &[CniVersion::V1_1_0],
            profile,
        );
        assert!(!report.passed(), "{profile:?}: --versions 1.1.0 passed");
        // The plugin takes the 1.1.0 configuration it says it does not support.
        let probe = case(&report, "cni-version-unlisted", CniVersion::V1_1_0);
        assert_eq!(probe.status, CaseStatus::Fail, "{profile:?}");
        let clauses = must_clauses(probe);
        assert!(
            clauses.contains(&"spec.errors.incompatible-version"),
            "{clauses:?}"
        );
        assert!(
            clauses.contains(&"contract.version.all-versions"),
            "{clauses:?}"
        );
        // And the scenario asked for was judged at nothing: said, and a failed run.
        assert!(
            report
                .unjudged
                .iter()
                .any(|u| u.contains("skipped (plugin does not support 1.1.0)")),
            "{:?}",
            report.unjudged
        );
    }
    // The reference plugin lists 1.1.0: no probe at all.
    let report = run(
        &library,
        &reference_plugin(),
        "host-master",
        &[CniVersion::V1_1_0],
        Profile::Reference,
    );
    assert!(report.passed());
    assert!(report.unjudged.is_empty());
    assert!(
        report
            .cases
            .iter()
            .all(|c| c.scenario != "cni-version-unlisted")
    );
}
