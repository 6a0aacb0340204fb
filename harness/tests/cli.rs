//! The `cni-conform` command line: argument errors, `list`, `explain`, scenario file errors,
//! and the report files `run --report-dir` writes.

#[path = "support/broken_variants.rs"]
mod broken_variants;
#[path = "support/cni_conform_cli.rs"]
mod cni_conform_cli;

use std::path::Path;
use std::process::Command;

use broken_variants::BrokenVariants;
use cni_conform_cli::{cni_conform, run_with_reports};
use quick_junit::{NonSuccessKind, TestCaseStatus};
use serde_json::Value;
use tempfile::TempDir;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bad_arguments_are_named_and_exit_2() {
    for (args, named) in [
        (&["run", "--versions", "9.9"][..], "--versions"),
        (&["run", "--versions", "1.0.0,9.9"], "9.9"),
        (
            &["run", "--skip-feature", "nope"],
            "--skip-feature \"nope\"",
        ),
        (&["run", "--jobs", "0"], "--jobs"),
        (
            &["run", "--plugin", "/nonexistent"],
            "--plugin /nonexistent",
        ),
        (
            &["run", "--scenarios", "/nonexistent"],
            "--scenarios /nonexistent",
        ),
        (&["run", "--no-such-flag"], "--no-such-flag"),
        (
            &["run", "--runtime", "crio"],
            "--runtime: unknown runtime \"crio\"; one of cni-conform, libcni",
        ),
    ] {
        let out = cni_conform(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} does not name {named}: {stderr}"
        );
    }
    // Unknown features are listed with the valid ones.
    let stderr = text(&cni_conform(&["run", "--skip-feature", "nope"]).stderr);
    assert!(
        stderr.contains("chaining") && stderr.contains("concurrency"),
        "{stderr}"
    );
}

#[test]
fn list_shows_the_bundled_scenarios() {
    let out = cni_conform(&["list"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("host-master [vlan]\n"), "{stdout}");
    assert!(stdout.contains("core-lifecycle [core]\n"), "{stdout}");
    assert!(
        stdout.contains("clause contract.mode.host-master (reference, MUST)")
            && stdout.contains(
                "clause spec.del.cleanup (spec, Section 2: Execution Protocol (DEL), SHOULD)"
            ),
        "{stdout}"
    );
    assert!(
        stdout.contains("versions: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"),
        "{stdout}"
    );
    // The clauses no scenario declares are listed too, so every clause a report names is here.
    let builtin = stdout
        .split_once("built-in clauses")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no built-in clauses: {stdout}"));
    for clause in [
        "clause suite.no-leftovers (suite, MUST)",
        "clause contract.add.undo-on-failure (reference, MUST)",
        "clause contract.errors.code (reference, MUST)",
        "clause spec.output.protocol (spec, Section 2: Execution Protocol (Result; Error), MUST)",
        "clause spec.check.later-plugins (spec, Section 2: Execution Protocol (CHECK), MUST)",
    ] {
        assert!(builtin.contains(clause), "{clause}: {builtin}");
    }
}

/// The packs: `list` shows each with its kernel needs; the type comes from `--plugin-type` or
/// the plugin's file name, and a name that is no type is an error listing the types.
#[test]
fn the_plugin_type_picks_the_packs_and_an_unknown_one_lists_the_types() {
    let out = cni_conform(&["list"]);
    let stdout = text(&out.stdout);
    let packs = stdout
        .split_once("\n  ")
        .map(|(head, _)| head)
        .unwrap_or_default();
    assert!(packs.starts_with("packs ("), "{stdout}");
    for line in [
        "  core: ",
        "  macvlan: ",
        "kernel: macvlan (module macvlan); reference contract: none (spec and suite clauses only)",
        "  vlan: ",
        "kernel: vlan (module 8021q); reference contract: vlan-plugin-contract.md",
        "  tap: ",
        "kernel: tap (module tun)",
        "  dummy: ",
    ] {
        assert!(stdout.contains(line), "{line:?}: {stdout}");
    }
    let types = "bridge, dummy, host-device, ipvlan, macvlan, ptp, tap, vlan";
    // A plugin whose file name is no type (an IPAM here) needs --plugin-type.
    let out = cni_conform(&["run", "--plugin", "/usr/lib/cni/host-local"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--plugin-type is needed: the plugin's file name \"host-local\" is not a type with a pack; one of {types}"
        )),
        "{stderr}"
    );
    let out = cni_conform(&["run", "--plugin-type", "wireguard"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no pack for plugin type \"wireguard\"; the types with a pack are {types}"
        )),
        "{stderr}"
    );
    let empty = tempfile::tempdir().unwrap();
    let out = cni_conform(&["run", "--plugin-dir", empty.path().to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no plugin named like a type with a pack"),
        "{stderr}"
    );
    // A core scenario shown for a type: the minimal configuration merged under its own keys.
    let out = cni_conform(&[
        "explain",
        "core-lifecycle@1.0.0",
        "--plugin-type",
        "macvlan",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "\"type\": \"macvlan\"",
        "\"mode\": \"bridge\"",
        "\"type\": \"conform-ipam\"",
        "master0-peer",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}:\n{stdout}");
    }
    let out = cni_conform(&["explain", "host-master", "--plugin-type", "macvlan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("in another type's pack"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn explain_prints_a_scenarios_steps() {
    let out = cni_conform(&["explain", "host-master"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "host-master: Host master",
        "step 1:\n",
        "state: host-master-added",
        "step 2:\n",
        "step 3:\n",
        "clause: spec.del.cleanup",
        "master0-peer",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}:\n{stdout}");
    }
    let out = cni_conform(&["explain", "no-such-scenario"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no scenario \"no-such-scenario\""),
        "{}",
        text(&out.stderr)
    );
}

/// Every report line names a case `scenario @ version`; `explain` takes it as
/// `scenario@version` and shows the network as that case ran it and its stored states.
#[test]
fn explain_shows_a_case_with_its_network_at_that_version_and_its_stored_states() {
    let out = cni_conform(&["explain", "host-master@1.0.0"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "host-master: Host master",
        "network (fixtures/networks/host-master.json):",
        "\"cniVersion\": \"1.0.0\"",
        "\"master\": \"master0\"",
        "stored state host-master-added:",
        "stored state host-master-base:",
        "runs at CNI versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}:\n{stdout}");
    }
    for (id, error) in [
        ("no-such@1.0.0", "no scenario \"no-such\""),
        (
            "check-below-0.4.0@1.1.0",
            "check-below-0.4.0 does not run at 1.1.0",
        ),
        ("host-master@9.9", "write SCENARIO@VERSION"),
    ] {
        let out = cni_conform(&["explain", id]);
        assert_eq!(out.status.code(), Some(2), "{id}");
        assert!(
            text(&out.stderr).contains(error),
            "{id}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("/tmp"),
            "{id}: an internal path"
        );
    }
}

/// A `--filter` or `--versions` that selects nothing is a mistake (a typo in a CI job), not an
/// empty pass.
#[test]
fn a_selection_of_no_case_exits_2_naming_what_it_was_matched_against() {
    let (out, text, json, _reports) = run_with_reports(&["--filter", "del-twcie"]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("--filter \"del-twcie\" matches none of the") && text.contains("del-twice"),
        "{text}"
    );
    assert!(json.is_null(), "a report was written: {json}");
    let (out, text, _, _reports) =
        run_with_reports(&["--filter", "check-below-0.4.0", "--versions", "1.1.0"]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("--versions 1.1.0 with --filter \"check-below-0.4.0\" selects no case"),
        "{text}"
    );
}

/// A scenario that runs the plugin without `CNI_COMMAND` records it so, not as an ADD.
#[test]
fn an_execution_without_cni_command_is_recorded_without_one() {
    cni_conform::kernel::require_vlan();
    let (out, text, json, _reports) =
        run_with_reports(&["--filter", "env-command-missing", "--versions", "1.1.0"]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let cases = json["report"]["cases"].as_array().unwrap();
    let case = cases
        .iter()
        .find(|c| c["scenario"] == "env-command-missing")
        .unwrap_or_else(|| panic!("{json}"));
    let execution = &case["executions"][0];
    assert!(execution["command"].is_null(), "{execution}");
    assert!(execution["env"].get("CNI_COMMAND").is_none(), "{execution}");
}

#[test]
fn explain_tells_what_a_clause_in_a_report_means() {
    let out = cni_conform(&["explain", "contract.add.undo-on-failure"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("clause contract.add.undo-on-failure (reference, MUST)")
            && stdout.contains("an ADD that fails undoes what it made")
            && stdout.contains("built in"),
        "{stdout}"
    );

    let out = cni_conform(&["explain", "spec.del.cleanup"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "clause spec.del.cleanup (spec, Section 2: Execution Protocol (DEL), SHOULD)"
        ) && stdout.contains("declared by: core-lifecycle, ")
            && stdout.contains("macvlan-mode-default, ")
            && stdout.contains("chained-seed, host-master"),
        "{stdout}"
    );

    let out = cni_conform(&["explain", "contract.no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no clause \"contract.no-such-rule\""),
        "{}",
        text(&out.stderr)
    );
}

/// A scenarios folder holding the bundled `host-master` and a file with a typo on line 4,
/// beside the bundled fixtures.
fn library_with_a_bad_file() -> TempDir {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::copy(
        bundled.join("scenarios/vlan/host-master.yaml"),
        scenarios.join("host-master.yaml"),
    )
    .unwrap();
    std::fs::write(
        scenarios.join("typo.yaml"),
        "description: a typo\nclauses:\n  - {id: x, level: MUST}\nnetwrok: networks/host-master.json\nsteps:\n  - add: {}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        bundled.join("fixtures").canonicalize().unwrap(),
        dir.path().join("fixtures"),
    )
    .unwrap();
    dir
}

#[test]
fn a_malformed_scenario_file_is_reported_with_file_and_line_and_the_others_run() {
    cni_conform::kernel::require_vlan();
    let library = library_with_a_bad_file();
    let scenarios = library.path().join("scenarios");
    let scenarios = scenarios.to_str().unwrap();
    let typo_at_line_4 = format!("{scenarios}/typo.yaml:4");

    let out = cni_conform(&["list", "--scenarios", scenarios]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("host-master\n"), "{stdout}");
    assert!(stderr.contains(&typo_at_line_4), "{stderr}");
    assert!(stderr.contains("netwrok"), "{stderr}");

    let reports = tempfile::tempdir().unwrap();
    let out = cni_conform(&[
        "run",
        "--scenarios",
        scenarios,
        "--versions",
        "1.1.0",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // host-master passed, but an unusable scenario file fails the run.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&typo_at_line_4), "{stdout}");
    assert!(
        stdout.contains("conformance (profile spec): 1 passed, 0 failed"),
        "{stdout}"
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(reports.path().join("report.json")).unwrap())
            .unwrap();
    let errors = json["report"]["scenario_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].as_str().unwrap().contains(&typo_at_line_4));
}

#[test]
fn run_writes_junit_json_markdown_and_a_reproducer_per_failure() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let plugin = variants.plugin("broken-wrong-vlan-id");
    let reports = tempfile::tempdir().unwrap();
    let out = cni_conform(&[
        "run",
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-type",
        "vlan",
        "--filter",
        "host-master",
        "--versions",
        "0.4.0,1.1.0",
        // The wrong VLAN id breaks the reference contract: a failure under this profile.
        "--profile",
        "reference",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a MUST failure: {stdout}{stderr}"
    );
    // The failing clause once, with where it failed and how to reproduce it.
    assert!(
        stdout.contains("FAIL contract.mode.host-master (reference, MUST): 2 cases")
            && stdout.contains("  in host-master @ 0.4.0, 1.1.0")
            && stdout.contains("  reproduce: bash ")
            && stdout.contains("/repro/host-master@0.4.0-1.sh"),
        "{stdout}"
    );

    // JUnit: one suite for the scenario, one case per version, the failure names the clause.
    let xml = std::fs::read_to_string(reports.path().join("report.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(junit.test_suites.len(), 1, "{xml}");
    let suite = &junit.test_suites[0];
    assert_eq!(suite.name.as_str(), "host-master");
    let names: Vec<&str> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["host-master @ 0.4.0", "host-master @ 1.1.0"]);
    for case in &suite.test_cases {
        let TestCaseStatus::NonSuccess {
            kind,
            message,
            ty,
            description,
            ..
        } = &case.status
        else {
            panic!("{} did not fail: {xml}", case.name.as_str());
        };
        assert_eq!(*kind, NonSuccessKind::Failure);
        assert_eq!(ty.as_deref(), Some("contract.mode.host-master"));
        assert!(
            message.as_deref().unwrap().contains("step 1 (add)"),
            "{xml}"
        );
        let description = description.as_deref().unwrap();
        assert!(
            description.contains("expected vs actual:") && description.contains("101"),
            "{xml}"
        );
    }

    // JSON: versioned, every case with its failures, executions and steps.
    let json: Value =
        serde_json::from_slice(&std::fs::read(reports.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["schemaVersion"], 1);
    let cases = json["report"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["scenario"], "host-master");
    assert_eq!(cases[1]["version"], "1.1.0");
    assert_eq!(cases[1]["status"], "fail");
    assert_eq!(
        cases[1]["failures"][0]["clause"],
        "contract.mode.host-master"
    );
    assert_eq!(cases[1]["failures"][0]["level"], "MUST");
    assert_eq!(cases[1]["steps"][0]["label"], "1 (add)");
    assert_eq!(cases[1]["executions"][0]["command"], "ADD");

    // Markdown: the table row and the failure with its reproducer.
    let summary = std::fs::read_to_string(reports.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("## cni-conform: FAILED"), "{summary}");
    assert!(
        summary.contains("| host-master | · | · | · | · | ❌ **FAIL** | · | ❌ **FAIL** |"),
        "{summary}"
    );
    assert!(
        summary.contains("#### contract.mode.host-master (reference, MUST)")
            && summary.contains("- in host-master @ 0.4.0, 1.1.0"),
        "{summary}"
    );
    assert!(
        summary.contains("reproducer: `repro/host-master@0.4.0-1.sh`"),
        "{summary}"
    );

    // A reproducer per failure that fails the run (MUST, reference profile), executable, and
    // valid bash.
    let json_failures: usize = cases
        .iter()
        .flat_map(|c| c["failures"].as_array().unwrap())
        .filter(|f| f["level"] == "MUST")
        .count();
    let repro = reports.path().join("repro");
    let scripts: Vec<_> = std::fs::read_dir(&repro)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(scripts.len(), json_failures, "{scripts:?}");
    assert!(repro.join("host-master@1.1.0-1.sh").exists());
    for script in scripts {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o111,
            0o111,
            "{} is not executable",
            script.display()
        );
        let check = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", text(&check.stderr));
    }
}

#[test]
fn print_states_shows_the_sandbox_where_a_step_compares_it() {
    let out = cni_conform(&[
        "run",
        "--filter",
        "host-master",
        "--versions",
        "1.1.0",
        "--print-states",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let added = stdout
        .split("--- state host-master-added:")
        .nth(1)
        .expect("the state after ADD is printed");
    assert!(
        added.contains("kind: vlan") && added.contains("id: 100") && added.contains("10.10.0.2/24"),
        "{added}"
    );
    assert!(stdout.contains("--- state host-master-base:"), "{stdout}");
}

/// `cni-conform` copied alone into a folder of its own: the fixture plugins the chain needs
/// (`conform-veth`, `conform-ipam`) are the binary itself, linked into each sandbox's CNI_PATH.
#[test]
fn copied_alone_it_passes_the_suite_against_the_reference_vlan() {
    cni_conform::kernel::require_vlan();
    let folder = tempfile::tempdir().unwrap();
    let copy = folder.path().join("cni-conform");
    std::fs::copy(env!("CARGO_BIN_EXE_cni-conform"), &copy).unwrap();
    let plugin = broken_variants::reference_plugin();
    let out = Command::new(&copy)
        .args(["run", "--plugin", plugin.to_str().unwrap()])
        .args(["--filter", "chained-seed", "--versions", "1.1.0"])
        .current_dir(folder.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    // Without --plugin: `vlan` beside it (none here), then /opt/cni/bin/vlan, then CNI_PATH.
    let cni_bin = folder.path().join("cni-bin");
    std::fs::create_dir(&cni_bin).unwrap();
    std::os::unix::fs::symlink(&plugin, cni_bin.join("vlan")).unwrap();
    let reports = folder.path().join("reports");
    let out = Command::new(&copy)
        .args(["run", "--filter", "chained-seed", "--versions", "1.1.0"])
        .arg("--report-dir")
        .arg(&reports)
        .env("CNI_PATH", format!("/nonexistent:{}", cni_bin.display()))
        .current_dir(folder.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    let installed = Path::new("/opt/cni/bin/vlan");
    let expected = if installed.is_file() {
        installed.canonicalize().unwrap()
    } else {
        plugin.canonicalize().unwrap()
    };
    assert_eq!(report["report"]["plugin"], expected.to_str().unwrap());

    // Nowhere: the error lists what was tried, and names no command of a source tree. (Where
    // /opt/cni/bin/vlan is installed, that one is found instead; the filter keeps that run empty.)
    let out = Command::new(&copy)
        .args(["run", "--filter", "no-such-scenario"])
        .env_remove("CNI_PATH")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    if installed.is_file() {
        assert!(!stderr.contains("no plugin to test"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "tried {} (next to cni-conform), /opt/cni/bin/vlan (installed), CNI_PATH is not set",
                folder.path().join("vlan").display()
            )),
            "{stderr}"
        );
        assert!(
            !stderr.contains("cargo") && !stderr.contains("ci/"),
            "{stderr}"
        );
    }
}

/// Completions and man pages are generated from the same clap definition as the parser.
#[test]
fn completions_and_man_pages_describe_the_commands() {
    let bash = cni_conform(&["completions", "bash"]);
    assert!(bash.status.success(), "{}", text(&bash.stderr));
    let script = text(&bash.stdout);
    assert!(
        script.contains("--require-feature") && script.contains("fetch-uml"),
        "{script}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = cni_conform(&["manpages", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "cni-conform-bench.1",
            "cni-conform-completions.1",
            "cni-conform-explain.1",
            "cni-conform-fetch-uml.1",
            "cni-conform-fuzz.1",
            "cni-conform-kernel-run.1",
            "cni-conform-kernel.1",
            "cni-conform-list.1",
            "cni-conform-run.1",
            "cni-conform.1",
        ]
    );
    let run = std::fs::read_to_string(dir.path().join("cni-conform-run.1")).unwrap();
    assert!(
        run.contains(".TH cni-conform-run 1") && run.contains("require\\-feature"),
        "{run}"
    );
}

/// What the harness itself needs is checked before the first case: never a plugin FAIL.
#[test]
fn a_missing_part_of_the_harness_exits_2_before_the_first_case() {
    let plugin = broken_variants::reference_plugin();
    for command in ["run", "fuzz", "bench"] {
        let out = Command::new(env!("CARGO_BIN_EXE_cni-conform"))
            .args([command, "--plugin", plugin.to_str().unwrap()])
            .env("TMPDIR", "/nonexistent/tmp")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("/nonexistent/tmp (TMPDIR)"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("cases"), "{command}: {stderr}");
    }
}

#[test]
fn runtime_libcni_without_its_driver_says_where_it_looked_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conform"))
        .args(["run", "--runtime", "libcni"])
        .env("CNI_CONFORM_LIBCNI_DRIVER", "/nonexistent/libcni-driver")
        .output()
        .expect("cni-conform starts");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--runtime: CNI_CONFORM_LIBCNI_DRIVER=/nonexistent/libcni-driver: no libcni driver at /nonexistent/libcni-driver"),
        "{stderr}"
    );
}
