//! A failure is attributed to the rule book it comes from, so a plugin author can tell a CNI
//! SPEC violation from a place where they merely differ from the reference plugin. Plugins that
//! are the reference `vlan` with one deviation each (a shell wrapper rewriting its error
//! object) are judged by both profiles:
//!
//! - another error code for an invalid `CNI_IFNAME`: the SPEC requires an error, not code 4, so
//!   this differs from the reference (`contract.errors.code`, or the scenario's own contract
//!   clause) and fails only under `--profile reference`;
//! - code 4 without the variable's name: "The error message must contain the names of invalid
//!   variables" is the SPEC's, so this fails under both profiles;
//! - another code and no variable name: code 4's wording rule does not apply, the message is
//!   advisory (a SHOULD warning), so this differs;
//! - code 4 naming `CNI_IFNAME` but not its value: naming the value is the reference's advice,
//!   a warning only.

#[path = "support/cni_conform_cli.rs"]
mod cni_conform_cli;

use std::path::{Path, PathBuf};

use cni_conform_cli::{run_with_reports, script_plugin};
use serde_json::Value;

/// The reference plugin, its stdout passed through `sed` with `script` and its exit status
/// kept: one deviation in its error objects, nothing else.
fn rewriting_plugin(dir: &Path, name: &str, script: &str) -> PathBuf {
    let reference = cni_conform::runtime::reference_plugin().unwrap_or_else(|e| panic!("{e}"));
    script_plugin(
        dir,
        name,
        &format!(
            "out=$({})\nstatus=$?\nprintf '%s\\n' \"$out\" | sed -e '{script}'\nexit $status\n",
            reference.display()
        ),
    )
}

/// Code 4 becomes 999 (the reference pretty-prints its error objects).
const CODE_999: &str = r#"s/"code": 4,/"code": 999,/"#;
/// `CNI_IFNAME` disappears from every message.
const UNNAMED: &str = "s/CNI_IFNAME //g";

/// The one case of `scenario` at 1.1.0 under `profile`: its JSON and the run's exit status.
/// (The filter is the id as a glob, so the core pack's `core-<id>` is not selected too.)
fn judged(plugin: &Path, scenario: &str, profile: &str) -> (Value, Option<i32>, String) {
    let exact = format!("[{}]{}", &scenario[..1], &scenario[1..]);
    let (out, text, json, _reports) = run_with_reports(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--filter",
        &exact,
        "--versions",
        "1.1.0",
        "--profile",
        profile,
    ]);
    assert!(!json.is_null(), "no report.json:\n{text}");
    let cases = json["report"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{text}");
    (cases[0].clone(), out.status.code(), text)
}

/// `(clause, source, level)` of every failure of a case.
fn failures(case: &Value) -> Vec<(String, String, String)> {
    case["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("clause"), s("source"), s("level"))
        })
        .collect()
}

fn failure(clause: &str, source: &str, level: &str) -> (String, String, String) {
    (clause.into(), source.into(), level.into())
}

#[test]
fn an_error_code_is_the_references_choice_and_naming_the_variable_with_code_4_the_specs() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    let other_code = rewriting_plugin(dir.path(), "other-code", CODE_999);
    let unnamed = rewriting_plugin(dir.path(), "code-4-unnamed", UNNAMED);
    let other_code_unnamed = rewriting_plugin(
        dir.path(),
        "other-code-unnamed",
        &format!("{CODE_999}; {UNNAMED}"),
    );

    // spec.errors.invalid-environment: CNI_IFNAME ".." must be refused; code 4 is ours.
    let (case, status, text) = judged(&other_code, "env-ifname-dot", "spec");
    assert_eq!(case["status"], "differs", "{text}");
    assert_eq!(status, Some(0), "{text}");
    assert_eq!(
        failures(&case),
        [failure("contract.errors.code", "reference", "MUST")],
        "{text}"
    );
    let (case, status, text) = judged(&other_code, "env-ifname-dot", "reference");
    assert_eq!(case["status"], "fail", "{text}");
    assert_eq!(status, Some(1), "{text}");

    // Code 4 whose message does not name CNI_IFNAME breaks the SPEC under either profile.
    for profile in ["spec", "reference"] {
        let (case, status, text) = judged(&unnamed, "env-ifname-dot", profile);
        assert_eq!(case["status"], "fail", "{profile}: {text}");
        assert_eq!(status, Some(1), "{profile}: {text}");
        assert_eq!(
            failures(&case),
            [failure(
                "spec.errors.invalid-variables-named",
                "spec",
                "MUST"
            )],
            "{profile}: {text}"
        );
        assert!(
            text.contains(
                "FAIL spec.errors.invalid-variables-named (spec, Section 5: Result Types (Error, well-known error codes), MUST)"
            ),
            "{profile}: {text}"
        );
    }

    // With another code the SPEC says nothing about the wording: advice only.
    let (case, _, text) = judged(&other_code_unnamed, "env-ifname-dot", "spec");
    assert_eq!(case["status"], "differs", "{text}");
    assert_eq!(
        failures(&case),
        [
            failure("contract.errors.code", "reference", "MUST"),
            failure(
                "contract.errors.message-names-the-problem",
                "reference",
                "SHOULD"
            ),
        ],
        "{text}"
    );
}

#[test]
fn an_unusable_interface_name_must_be_refused_the_rest_is_the_references() {
    cni_conform::kernel::require_vlan();
    let dir = tempfile::tempdir().unwrap();
    // spec.add.ifname-unusable: "a%" must be refused; code 4 before any IPAM call is ours.
    let other_code = rewriting_plugin(dir.path(), "other-code", CODE_999);
    let (case, status, text) = judged(&other_code, "env-ifname-percent", "spec");
    assert_eq!(case["status"], "differs", "{text}");
    assert_eq!(status, Some(0), "{text}");
    assert_eq!(
        failures(&case),
        [failure(
            "contract.add.ifname-refused-first",
            "reference",
            "MUST"
        )],
        "{text}"
    );
    let (case, _, text) = judged(&other_code, "env-ifname-percent", "reference");
    assert_eq!(case["status"], "fail", "{text}");

    // Code 4 naming CNI_IFNAME but not the value: a warning, under either profile.
    let no_value = rewriting_plugin(dir.path(), "no-value", r#"s/ \\"a%\\"//g"#);
    for profile in ["spec", "reference"] {
        let (case, status, text) = judged(&no_value, "env-ifname-percent", profile);
        assert_eq!(case["status"], "pass", "{profile}: {text}");
        assert_eq!(status, Some(0), "{profile}: {text}");
        assert_eq!(
            failures(&case),
            [failure(
                "contract.errors.message-names-the-problem",
                "reference",
                "SHOULD"
            )],
            "{profile}: {text}"
        );
    }
}
