//! What a failed ADD leaves behind is judged in two parts. Undoing it inside the failed ADD is the
//! reference contract's choice (`contract.add.undo-on-failure`): the CNI SPEC obliges the runtime
//! to send DEL after a failed ADD (Section 3), so a plugin whose DEL then removes what its failed
//! ADD left breaks no SPEC rule and leaks nothing; it differs from the reference under
//! `--profile spec` and fails only under `--profile reference`. What survives that DEL leaks
//! (`suite.no-leftovers`) and fails under both. A scenario without a DEL step of its own gets
//! the runtime's DEL from the harness, at the end of the case, only when a failed ADD left
//! something.

#[path = "support/broken_variants.rs"]
mod broken_variants;
#[path = "support/cni_conform_cli.rs"]
mod cni_conform_cli;

use std::path::{Path, PathBuf};

use broken_variants::BrokenVariants;
use cni_conform_cli::{run_with_reports as run, script_plugin};
use serde_json::Value;

/// The reference plugin, except that a failed ADD leaves a VLAN with the target name behind
/// (the `broken-leak-on-ipam-failure` fixture); its DEL, the reference's, removes it.
fn leaves_until_del(variants: &BrokenVariants) -> PathBuf {
    variants.plugin("broken-leak-on-ipam-failure")
}

/// The same, but its DEL looks for another interface name, so the VLAN a failed ADD left
/// survives it (IPAM DEL still runs).
fn leaves_for_good(dir: &Path, variants: &BrokenVariants) -> PathBuf {
    script_plugin(
        dir,
        "leaves-for-good",
        &format!(
            r#"if [ "$CNI_COMMAND" = DEL ]; then CNI_IFNAME=elsewhere0; export CNI_IFNAME; fi
exec {}
"#,
            leaves_until_del(variants).display()
        ),
    )
}

/// The case of `scenario` (a filter selects every scenario whose id starts with it).
fn case_of<'a>(json: &'a Value, scenario: &str) -> &'a Value {
    json["report"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no case of {scenario}: {json}"))
}

fn failures_of<'a>(case: &'a Value, clause: &str) -> Vec<&'a Value> {
    case["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["clause"] == clause)
        .collect()
}

/// Also selects `ipam-add-failure-delegate-del`, whose only step is the failed ADD.
const IPAM_ADD_FAILURE: [&str; 4] = ["--filter", "[i]pam-add-failure", "--versions", "1.0.0"];
/// A failing `exec` ADD and no DEL step.
const IPAM_TYPE_PATH: [&str; 4] = ["--filter", "[i]pam-type-path", "--versions", "1.0.0"];

#[test]
fn a_failed_add_whose_leftovers_del_removes_differs_under_spec_and_fails_under_reference() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let plugin = leaves_until_del(&variants);
    let plugin = plugin.to_str().unwrap();

    let (out, text, json, _reports) = run(&[&["--plugin", plugin][..], &IPAM_ADD_FAILURE].concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    let case = case_of(&json, "ipam-add-failure");
    assert_eq!(case["status"], "differs", "{case}");
    let undo = failures_of(case, "contract.add.undo-on-failure");
    assert_eq!(undo.len(), 1, "{case}");
    assert_eq!(undo[0]["source"], "reference");
    assert_eq!(undo[0]["level"], "MUST");
    assert_eq!(undo[0]["step"], "1 (add)");
    let message = undo[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("left behind after the failed ADD: ") && message.contains("pod/eth0"),
        "{message}"
    );
    assert!(failures_of(case, "suite.no-leftovers").is_empty(), "{case}");
    // The scenario's own DEL settled it: no DEL of the harness's.
    assert!(
        !case["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["label"].as_str().unwrap().starts_with("runtime DEL")),
        "{case}"
    );

    let (out, text, json, _reports) = run(&[
        &["--plugin", plugin, "--profile", "reference"][..],
        &IPAM_ADD_FAILURE,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1), "{text}");
    let case = case_of(&json, "ipam-add-failure");
    assert_eq!(case["status"], "fail", "{case}");
    assert_eq!(failures_of(case, "contract.add.undo-on-failure").len(), 1);
    assert!(failures_of(case, "suite.no-leftovers").is_empty(), "{case}");
}

#[test]
fn a_failed_add_whose_leftovers_survive_del_fails_under_both_profiles() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let variants = BrokenVariants::new();
    let plugin = leaves_for_good(dir.path(), &variants);
    let plugin = plugin.to_str().unwrap();
    for profile in ["spec", "reference"] {
        let (out, text, json, _reports) = run(&[
            &["--plugin", plugin, "--profile", profile][..],
            &IPAM_ADD_FAILURE,
        ]
        .concat());
        assert_eq!(out.status.code(), Some(1), "{profile}: {text}");
        let case = case_of(&json, "ipam-add-failure");
        assert_eq!(case["status"], "fail", "{profile}: {case}");
        let leak = failures_of(case, "suite.no-leftovers");
        assert_eq!(leak.len(), 1, "{profile}: {case}");
        assert_eq!(leak[0]["source"], "suite");
        assert_eq!(leak[0]["step"], "2 (del)", "{profile}: {case}");
        assert!(
            leak[0]["message"]
                .as_str()
                .unwrap()
                .contains("left behind after DEL: link pod/eth0"),
            "{profile}: {}",
            leak[0]
        );
        assert_eq!(
            failures_of(case, "contract.add.undo-on-failure").len(),
            1,
            "{profile}: {case}"
        );
    }
}

/// The case's steps whose label names the harness's runtime DEL, with their executions.
fn runtime_dels(case: &Value) -> Vec<(&str, Vec<&Value>)> {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["label"].as_str().unwrap().starts_with("runtime DEL"))
        .map(|s| {
            let start = s["executions"]["start"].as_u64().unwrap() as usize;
            let end = s["executions"]["end"].as_u64().unwrap() as usize;
            let executions = case["executions"].as_array().unwrap()[start..end]
                .iter()
                .collect();
            (s["label"].as_str().unwrap(), executions)
        })
        .collect()
}

#[test]
fn without_a_del_step_the_harness_sends_the_runtimes_del_only_after_a_failed_add_left_something() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let variants = BrokenVariants::new();

    // The reference plugin undoes its failed ADD: no extra execution.
    let reference = broken_variants::reference_plugin();
    let (out, text, json, _reports) = run(&[
        &[
            "--plugin",
            reference.to_str().unwrap(),
            "--profile",
            "reference",
        ][..],
        &IPAM_TYPE_PATH,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    let case = case_of(&json, "ipam-type-path");
    assert_eq!(case["status"], "pass", "{case}");
    assert!(runtime_dels(case).is_empty(), "{case}");
    assert_eq!(case["executions"].as_array().unwrap().len(), 1, "{case}");

    // Left until DEL: the runtime's DEL removes it, a difference only.
    let plugin = leaves_until_del(&variants);
    let (out, text, json, _reports) =
        run(&[&["--plugin", plugin.to_str().unwrap()][..], &IPAM_TYPE_PATH].concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    let case = case_of(&json, "ipam-type-path");
    assert_eq!(case["status"], "differs", "{case}");
    assert_eq!(failures_of(case, "contract.add.undo-on-failure").len(), 1);
    assert!(failures_of(case, "suite.no-leftovers").is_empty(), "{case}");
    let dels = runtime_dels(case);
    assert_eq!(dels.len(), 1, "{case}");
    let (label, executions) = &dels[0];
    assert_eq!(*label, "runtime DEL after the failed ADD (step 1)");
    assert!(!executions.is_empty(), "{case}");
    assert!(executions.iter().all(|e| e["command"] == "DEL"), "{case}");
    assert!(
        executions
            .iter()
            .any(|e| e["env"]["CNI_COMMAND"] == "DEL" && e["plugin"] == "vlan"),
        "{case}"
    );

    // Left for good: what survives the runtime's DEL leaks, under both profiles.
    let plugin = leaves_for_good(dir.path(), &variants);
    for profile in ["spec", "reference"] {
        let (out, text, json, _reports) = run(&[
            &["--plugin", plugin.to_str().unwrap(), "--profile", profile][..],
            &IPAM_TYPE_PATH,
        ]
        .concat());
        assert_eq!(out.status.code(), Some(1), "{profile}: {text}");
        let case = case_of(&json, "ipam-type-path");
        assert_eq!(case["status"], "fail", "{profile}: {case}");
        let leak = failures_of(case, "suite.no-leftovers");
        assert_eq!(leak.len(), 1, "{profile}: {case}");
        assert_eq!(
            leak[0]["step"], "runtime DEL after the failed ADD (step 1)",
            "{profile}: {case}"
        );
        assert!(
            leak[0]["message"]
                .as_str()
                .unwrap()
                .contains("left behind after the failed ADD and the runtime's DEL: link pod/eth0"),
            "{profile}: {}",
            leak[0]
        );
        assert!(
            text.contains("runtime DEL after the failed ADD (step 1)"),
            "{profile}: {text}"
        );
        assert_eq!(runtime_dels(case).len(), 1, "{profile}: {case}");
    }
}
