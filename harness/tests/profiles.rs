//! Verdicts a plugin author can act on: the same run judged by `--profile spec` (the CNI SPEC
//! and the suite's invariants decide; reference-contract failures are differences) and
//! `--profile reference` (everything decides); optional capabilities a plugin declines cleanly
//! are `unsupported` under spec unless `--require-feature` asks for them; a broken VERSION
//! answer is a failed case, not a harness error.

#[path = "support/broken_variants.rs"]
mod broken_variants;
#[path = "support/cni_conform_cli.rs"]
mod cni_conform_cli;

use std::path::{Path, PathBuf};

use broken_variants::{BrokenVariants, reference_plugin};
use cni_conform_cli::{run_with_reports as run, script_plugin};
use quick_junit::{NonSuccessKind, TestCaseStatus};

#[test]
fn the_profile_changes_the_exit_status_of_the_same_run() {
    cni_conform::kernel::require_vlan();
    // Creating the VLAN with the wrong id breaks the reference contract's host-master mode,
    // which the CNI SPEC does not speak about.
    let variants = BrokenVariants::new();
    let plugin = variants.plugin("broken-wrong-vlan-id");
    let plugin = plugin.to_str().unwrap();
    let selection = ["--filter", "host-master", "--versions", "1.1.0"];
    // With --verbose, each difference in full.
    let (_, text, _, _reports) =
        run(&[&["--plugin", plugin, "--verbose"][..], &selection].concat());
    assert!(
        text.contains("DIFFERS host-master @ 1.1.0 step 1 (add) clause contract.mode.host-master (reference, MUST)"),
        "{text}"
    );

    let (out, text, json, _reports) = run(&[&["--plugin", plugin][..], &selection].concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(json["report"]["judgement"]["profile"], "spec", "{json}");
    let case = &json["report"]["cases"][0];
    assert_eq!(case["status"], "differs", "{case}");
    assert_eq!(case["failures"][0]["source"], "reference", "{case}");
    assert!(
        text.contains(
            "differences from the reference plugin (not failures): 1 clause, seen in 1 case: \
             contract.mode.host-master (1)"
        ) && text.contains("cni-conform explain CLAUSE")
            && text.contains(
                "conformance (profile spec): 0 passed, 0 failed, 1 differ from the reference, 0 unsupported"
            ),
        "{text}"
    );

    let (out, text, json, _reports) = run(&[
        &["--plugin", plugin, "--profile", "reference"][..],
        &selection,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        json["report"]["judgement"]["profile"], "reference",
        "{json}"
    );
    assert_eq!(json["report"]["cases"][0]["status"], "fail");
    assert!(
        text.contains("conformance (profile reference): 0 passed, 1 failed (reference 1)"),
        "{text}"
    );
}

/// A plugin without chaining: a chained configuration (no `master`) gets a clean CNI error
/// and nothing is made; everything else goes to the reference plugin.
fn declines_chaining_cleanly(dir: &Path) -> PathBuf {
    let reference = reference_plugin();
    script_plugin(
        dir,
        "no-chaining",
        &format!(
            r#"config=$(cat)
case "$CNI_COMMAND:$config" in
  ADD:*'"master"'*) ;;
  ADD:*)
    printf '%s' '{{"cniVersion":"1.0.0","code":7,"msg":"chaining is not supported: master is required"}}'
    exit 1 ;;
esac
printf '%s' "$config" | exec {}
"#,
            reference.display()
        ),
    )
}

/// The same refusal, but only after the reference plugin made the VLAN: it stays behind.
fn declines_chaining_leaving_a_link(dir: &Path) -> PathBuf {
    let reference = reference_plugin();
    script_plugin(
        dir,
        "no-chaining-leaky",
        &format!(
            r#"config=$(cat)
case "$CNI_COMMAND:$config" in
  ADD:*'"master"'*) ;;
  ADD:*)
    printf '%s' "$config" | {0} >/dev/null
    printf '%s' '{{"cniVersion":"1.0.0","code":7,"msg":"chaining is not supported: master is required"}}'
    exit 1 ;;
esac
printf '%s' "$config" | exec {0}
"#,
            reference.display()
        ),
    )
}

const CHAINED_SEED: [&str; 4] = ["--filter", "chained-seed", "--versions", "1.0.0"];

#[test]
fn a_plugin_declining_chaining_cleanly_is_unsupported_under_spec_and_fails_otherwise() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let plugin = declines_chaining_cleanly(dir.path());
    let plugin = plugin.to_str().unwrap();

    let (out, text, json, _reports) = run(&[&["--plugin", plugin][..], &CHAINED_SEED].concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    let case = &json["report"]["cases"][0];
    assert_eq!(case["status"], "unsupported", "{case}");
    assert_eq!(
        case["features"],
        serde_json::json!(["chaining", "link-in-container"])
    );
    assert!(
        case["reason"]
            .as_str()
            .unwrap()
            .contains("chaining is not supported"),
        "{case}"
    );
    assert!(
        text.contains("1 unsupported (chaining, link-in-container)")
            && text.contains("1 case unsupported: the plugin declined"),
        "{text}"
    );
    // What the refusal broke is the declined capability, not a failure to report.
    assert_eq!(case["failures"], serde_json::json!([]), "{case}");

    for extra in [
        &["--profile", "reference"][..],
        &["--require-feature", "chaining"],
    ] {
        let (out, text, json, _reports) =
            run(&[&["--plugin", plugin][..], &CHAINED_SEED, extra].concat());
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {text}");
        assert_eq!(json["report"]["cases"][0]["status"], "fail", "{extra:?}");
        assert_eq!(
            json["report"]["cases"][0]["failures"][0]["clause"], "contract.mode.chained",
            "{extra:?}: {text}"
        );
    }
}

/// A plugin without GC and STATUS: both get a clean CNI error; everything else goes to the
/// reference plugin.
fn declines_gc_and_status(dir: &Path) -> PathBuf {
    script_plugin(
        dir,
        "no-gc-no-status",
        &format!(
            r#"case "$CNI_COMMAND" in
  GC|STATUS)
    cat >/dev/null
    printf '%s' '{{"cniVersion":"1.1.0","code":4,"msg":"'"$CNI_COMMAND"' is not supported"}}'
    exit 1 ;;
esac
exec {}
"#,
            reference_plugin().display()
        ),
    )
}

#[test]
fn a_declined_gc_or_status_names_that_capability_alone() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let plugin = declines_gc_and_status(dir.path());
    let plugin = plugin.to_str().unwrap();
    // status-without-ipam also exercises ipam-optional, which the ADD-less STATUS call does
    // not ask for: the refusal names status only.
    // The ids as globs: the core pack's core-gc-forwarded is another scenario.
    for (scenario, feature) in [
        ("[g]c-forwarded", "gc"),
        ("[s]tatus-without-ipam", "status"),
    ] {
        let selection = [
            "--plugin",
            plugin,
            "--filter",
            scenario,
            "--versions",
            "1.1.0",
        ];
        let (out, text, json, _reports) = run(&selection);
        assert_eq!(out.status.code(), Some(0), "{scenario}: {text}");
        let case = &json["report"]["cases"][0];
        assert_eq!(case["status"], "unsupported", "{scenario}: {case}");
        assert_eq!(case["features"], serde_json::json!([feature]), "{scenario}");
        assert!(
            text.contains(&format!("1 unsupported ({feature})")),
            "{scenario}: {text}"
        );

        let (out, text, json, _reports) =
            run(&[&selection[..], &["--require-feature", feature]].concat());
        assert_eq!(out.status.code(), Some(1), "{scenario}: {text}");
        assert_eq!(json["report"]["cases"][0]["status"], "fail", "{scenario}");
    }
}

/// Leaving the VLAN behind is no clean refusal, so never `unsupported`; its DEL (the
/// reference's) removes it, so it is no leak either: only the reference contract's undo inside
/// the failed ADD is broken, a difference under spec and a failure under reference.
#[test]
fn a_plugin_declining_chaining_by_leaving_a_link_is_no_clean_decline() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let plugin = declines_chaining_leaving_a_link(dir.path());
    let plugin = plugin.to_str().unwrap();
    for (profile, status, exit) in [("spec", "differs", 0), ("reference", "fail", 1)] {
        let (out, text, json, _reports) = run(&[
            &["--plugin", plugin, "--profile", profile][..],
            &CHAINED_SEED,
        ]
        .concat());
        assert_eq!(out.status.code(), Some(exit), "{profile}: {text}");
        let case = &json["report"]["cases"][0];
        assert_eq!(case["status"], status, "{profile}: {case}");
        assert!(case.get("declined").is_none(), "{profile}: {case}");
        let leftover = case["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["clause"] == "contract.add.undo-on-failure")
            .unwrap_or_else(|| panic!("{profile}: no leftover failure: {text}"));
        assert_eq!(leftover["source"], "reference");
        assert!(
            leftover["message"].as_str().unwrap().contains("eth0.3"),
            "{leftover}"
        );
    }
}

#[test]
fn a_version_answer_with_noise_on_stdout_is_a_failed_case_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = script_plugin(
        dir.path(),
        "noisy-version",
        r#"cat >/dev/null
echo "starting noisy-version"
echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}'
"#,
    );
    let (out, text, json, reports) = run(&["--plugin", plugin.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed case, not a harness error: {text}"
    );
    assert!(
        text.contains("FAIL spec.version.reply (spec, Section 2: Execution Protocol (VERSION), MUST): 1 case\n  in version @ 1.1.0")
            && text.contains("conformance (profile spec): 0 passed, 1 failed (spec 1)"),
        "{text}"
    );

    let case = &json["report"]["cases"][0];
    assert_eq!(case["status"], "fail");
    assert_eq!(case["failures"][0]["clause"], "spec.version.reply");
    assert_eq!(case["failures"][0]["source"], "spec");
    assert_eq!(case["executions"][0]["command"], "VERSION");
    assert!(
        case["executions"][0]["stdout"]
            .as_str()
            .unwrap()
            .starts_with("starting noisy-version\n"),
        "{case}"
    );

    let xml = std::fs::read_to_string(reports.path().join("report.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let case = &junit.test_suites[0].test_cases[0];
    assert_eq!(case.name.as_str(), "version @ 1.1.0");
    let TestCaseStatus::NonSuccess {
        kind,
        ty,
        description,
        ..
    } = &case.status
    else {
        panic!("the VERSION case did not fail: {xml}");
    };
    assert_eq!(*kind, NonSuccessKind::Failure);
    assert_eq!(ty.as_deref(), Some("spec.version.reply"));
    assert!(
        description
            .as_deref()
            .unwrap()
            .contains("starting noisy-version"),
        "{xml}"
    );

    let summary = std::fs::read_to_string(reports.path().join("summary.md")).unwrap();
    assert!(
        summary.starts_with("## cni-conform: FAILED") && summary.contains("starting noisy-version"),
        "{summary}"
    );
}

#[test]
fn a_result_without_the_optional_interface_mtu_fails_no_mode_under_spec() {
    cni_conform::kernel::require_vlan();
    // The reference plugin with `mtu` taken out of every result it prints: CNI 1.1.0 makes
    // the field optional, so the host-master mode itself must not fail for it.
    let dir = tempfile::tempdir().unwrap();
    let plugin = script_plugin(
        dir.path(),
        "no-result-mtu",
        &format!(
            r#"config=$(cat)
out=$(printf '%s' "$config" | {})
status=$?
printf '%s' "$out" | tr -d '\n' | sed -E 's/,[[:space:]]*"mtu":[[:space:]]*[0-9]+//g; s/"mtu":[[:space:]]*[0-9]+[[:space:]]*,//g'
exit $status
"#,
            reference_plugin().display()
        ),
    );
    let plugin = plugin.to_str().unwrap();
    let selection = ["--filter", "host-master", "--versions", "1.1.0"];

    let (out, text, json, _reports) = run(&[&["--plugin", plugin][..], &selection].concat());
    assert_eq!(out.status.code(), Some(0), "{text}");
    let case = &json["report"]["cases"][0];
    assert_eq!(case["status"], "differs", "{text}");
    let clauses: Vec<&str> = case["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["clause"].as_str().unwrap())
        .collect();
    assert_eq!(clauses, ["contract.result.interface-mtu"], "{text}");

    let (out, text, json, _reports) = run(&[
        &["--plugin", plugin, "--profile", "reference"][..],
        &selection,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(json["report"]["cases"][0]["status"], "fail", "{text}");
}
