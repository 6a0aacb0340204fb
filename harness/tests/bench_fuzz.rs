//! `cni-conform bench` and `cni-conform fuzz` end to end, through the command line.
//!
//! Benchmarks report, they never judge: these tests check that every section is there with
//! sane numbers, never how fast anything was. The fuzz tests hold the reference plugin to zero
//! findings on a fixed seed and show that a defect is found, shrunk and reproduced.

#[path = "support/cni_conform_cli.rs"]
mod cni_conform_cli;

#[path = "support/upstream_release.rs"]
mod upstream_release;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cni_conform::runtime::reference_plugin;
use serde_json::Value;
use tempfile::TempDir;

const UPSTREAM_VLAN: &str = "/usr/lib/cni/vlan";
/// Debian 12's upstream macvlan (1.1.1).
const UPSTREAM_MACVLAN: &str = "/usr/lib/cni/macvlan";

/// The current upstream release's macvlan, as ci/upstream-fetch leaves it.
fn current_upstream_macvlan() -> PathBuf {
    let bin = upstream_release::current_bin();
    let macvlan = bin.join("macvlan");
    assert!(
        macvlan.exists(),
        "{} is missing: ci/upstream-fetch provides the current release (ci/setup runs it)",
        macvlan.display()
    );
    macvlan
}

/// The kernel makes macvlan links (UML's does; so does a host with the module).
fn require_macvlan() {
    let missing =
        cni_conform::kernel::missing_link_kinds(&[cni_conform::kernel::LinkKind::Macvlan])
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(missing.is_empty(), "{missing:?}");
}

fn reference_vlan() -> PathBuf {
    reference_plugin().unwrap_or_else(|e| panic!("{e}"))
}

/// `cni-conform ARGS`, its stderr echoed so a failing test shows what the run said.
fn cni_conform(args: &[&str]) -> Output {
    let output = cni_conform_cli::cni_conform(args);
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} should exist: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A row's figures for one plugin: every sample positive and the order statistics in order.
fn assert_measured(row: &Value, plugin: &str, runs: usize) {
    let figures = &row[plugin]["measured"];
    assert!(
        figures.is_object(),
        "{} for {plugin} should be measured: {row}",
        row["name"]
    );
    let samples = figures["samples"].as_array().unwrap();
    assert_eq!(samples.len(), runs, "{row}");
    assert_eq!(figures["count"], runs, "{row}");
    assert!(samples.iter().all(|s| s.as_f64().unwrap() > 0.0), "{row}");
    let stat = |name: &str| figures[name].as_f64().unwrap();
    assert!(
        stat("min") <= stat("median")
            && stat("median") <= stat("p95")
            && stat("p95") <= stat("max"),
        "{row}"
    );
}

fn row<'a>(rows: &'a Value, name: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name:?} in {rows}"))
}

/// `cni-conform bench <options>` of the reference plugin alone; its bench.json.
fn bench_reference_alone(options: &[&str]) -> Value {
    let dir = TempDir::new().unwrap();
    let reference = reference_vlan();
    let mut args = vec!["bench", "--alone", "--plugin", path_arg(&reference)];
    args.extend(["--report-dir", path_arg(dir.path())]);
    args.extend(options);
    let output = cni_conform(&args);
    assert!(output.status.success(), "{options:?}");
    read_json(&dir.path().join("bench.json"))
}

#[test]
fn bench_only_start_measures_process_start_and_nothing_else() {
    let report = bench_reference_alone(&["--only", "start", "--runs", "2"]);
    for name in ["VERSION", "VERSION peak RSS"] {
        assert_measured(row(&report["process_start"], name), "a", 2);
    }
    for section in ["lifecycle", "chained", "concurrency"] {
        assert_eq!(report[section], serde_json::json!([]), "{section}");
    }
    assert_eq!(report["scale"]["curve"], serde_json::json!([]));

    let wrong = cni_conform(&["bench", "--only", "start,warp"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--only"));
}

#[test]
fn bench_plugin_fill_0_leaves_the_fill_out() {
    cni_conform::kernel::require_vlan();
    let report = bench_reference_alone(&[
        "--only",
        "scale",
        "--scale-points",
        "0",
        "--runs",
        "1",
        "--plugin-fill",
        "0",
    ]);
    let scale = &report["scale"];
    assert_measured(&scale["curve"][0]["add"], "a", 1);
    assert_eq!(scale["fill_with_plugin"], serde_json::json!([]));
}

#[test]
fn bench_quick_measures_every_section_for_both_plugins() {
    cni_conform::kernel::require_vlan();
    let reference = reference_vlan();
    assert!(
        Path::new(UPSTREAM_VLAN).exists(),
        "ci/setup installs containernetworking-plugins"
    );
    let dir = TempDir::new().unwrap();
    let output = cni_conform(&[
        "bench",
        "--quick",
        "--plugin",
        path_arg(&reference),
        "--vs",
        UPSTREAM_VLAN,
        "--report-dir",
        path_arg(dir.path()),
    ]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}");
    assert!(table.contains("== process start =="), "{table}");
    assert!(
        table.contains("== concurrency: operations per second =="),
        "{table}"
    );

    let report = read_json(&dir.path().join("bench.json"));
    let runs = 3;
    assert_eq!(report["runs"], runs);
    assert_eq!(report["quick"], true);
    assert_eq!(report["plugins"][0]["label"], "A");
    assert_eq!(report["plugins"][1]["path"], UPSTREAM_VLAN);

    let start = &report["process_start"];
    assert_eq!(start.as_array().unwrap().len(), 2);
    for name in ["VERSION", "VERSION peak RSS"] {
        for plugin in ["a", "b"] {
            assert_measured(row(start, name), plugin, runs);
        }
        assert!(
            row(start, name)["ratio"]["median_of_pair_ratios"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }

    let lifecycle = &report["lifecycle"];
    assert_eq!(
        lifecycle.as_array().unwrap().len(),
        12,
        "4 rows per IPAM choice"
    );
    for ipam in ["no IPAM", "conform-ipam", "static IPAM"] {
        for metric in ["ADD", "CHECK", "DEL", "ADD peak RSS"] {
            assert_measured(row(lifecycle, &format!("{metric} ({ipam})")), "a", runs);
        }
    }
    for metric in ["ADD", "CHECK", "DEL"] {
        assert_measured(
            row(lifecycle, &format!("{metric} (conform-ipam)")),
            "b",
            runs,
        );
    }
    // Upstream requires IPAM: its row says why, and the run went on.
    let fails = row(lifecycle, "ADD (no IPAM)")["b"]["fails"]
        .as_str()
        .unwrap();
    assert!(fails.contains("IPAM"), "{fails}");

    let chained = &report["chained"];
    assert_eq!(chained.as_array().unwrap().len(), 4);
    for r in chained.as_array().unwrap() {
        assert_measured(r, "a", runs);
        assert!(
            r["b"]["fails"].is_string(),
            "upstream 1.1.1 has no chaining: {r}"
        );
    }

    let scale = &report["scale"];
    let points: Vec<u64> = scale["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["vlans"].as_u64().unwrap())
        .collect();
    assert_eq!(points, [0, 64]);
    for point in scale["curve"].as_array().unwrap() {
        for plugin in ["a", "b"] {
            assert_measured(&point["add"], plugin, runs);
            assert_measured(&point["del"], plugin, runs);
        }
    }
    let fill = &scale["fill_in_process"];
    assert_eq!(fill.as_array().unwrap().len(), 1);
    assert_eq!(
        (fill[0]["from_vlans"].as_u64(), fill[0]["to_vlans"].as_u64()),
        (Some(0), Some(64))
    );
    assert!(fill[0]["seconds"].as_f64().unwrap() > 0.0);
    let plugin_fill = scale["fill_with_plugin"].as_array().unwrap();
    assert_eq!(plugin_fill.len(), 2);
    for f in plugin_fill {
        assert_eq!(f["vlans"], 16);
        assert_eq!(f["failed"], 0, "{f}");
        assert!(f["adds_per_second"].as_f64().unwrap() > 0.0);
    }

    let levels = report["concurrency"].as_array().unwrap();
    let processes: Vec<u64> = levels
        .iter()
        .map(|l| l["processes"].as_u64().unwrap())
        .collect();
    assert_eq!(processes, [1, 8]);
    for level in levels {
        assert_eq!(level["operations"], 8);
        for plugin in ["a", "b"] {
            assert_measured(&level["add_throughput"], plugin, 1);
            assert_measured(&level["del_throughput"], plugin, 1);
        }
        for tally in level["failures"].as_array().unwrap() {
            assert_eq!(
                (tally["add_failed"].as_u64(), tally["del_failed"].as_u64()),
                (Some(0), Some(0)),
                "{tally}"
            );
        }
    }

    let svg = std::fs::read_to_string(dir.path().join("bench.svg")).unwrap();
    assert!(
        svg.trim_start().starts_with("<svg"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("VLANs on the master"));
    assert!(svg.contains("ADD (conform-ipam)"));
}

#[test]
fn fuzz_finds_nothing_wrong_with_the_reference_plugin() {
    cni_conform::kernel::require_vlan();
    let reference = reference_vlan();
    let dir = TempDir::new().unwrap();
    let output = cni_conform(&[
        "fuzz",
        "--plugin",
        path_arg(&reference),
        "--cases",
        "300",
        "--kill-rounds",
        "20",
        "--seed",
        "20261128",
        "--report-dir",
        path_arg(dir.path()),
    ]);
    let summary = String::from_utf8_lossy(&output.stdout);
    let report = read_json(&dir.path().join("fuzz.json"));
    assert_eq!(report["findings"], Value::Array(vec![]), "{summary}");
    assert_eq!(
        report["kill"]["findings"],
        Value::Array(vec![]),
        "{summary}"
    );
    assert!(output.status.success(), "{summary}");
    assert_eq!(report["seed"], 20261128);
    assert_eq!(report["cases"], 300);
    assert_eq!(report["kill"]["rounds"], 20);
    assert!(
        report["kill"]["killed"].as_u64().unwrap() > 0,
        "some ADDs were interrupted: {summary}"
    );
    assert_eq!(
        report["kill"]["plan"]["configurations"]
            .as_array()
            .unwrap()
            .len(),
        6,
        "the reference plugin handles every mode with and without IPAM: {summary}"
    );
    // The cases reached deep: successful ADDs (then CHECK and DEL), and many kinds of refusal.
    let outcomes = report["outcomes"].as_object().unwrap();
    assert!(outcomes.get("\"ADD\": success").is_some(), "{outcomes:?}");
    let error_codes = outcomes.keys().filter(|k| k.contains(": error ")).count();
    assert!(error_codes >= 5, "{outcomes:?}");
    let total: u64 = outcomes.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 300);
}

/// The reference plugin behind a wrapper that kills itself when the configuration has a
/// `vlanProtocol` key (which no result has, so it never hides in a `prevResult`): the fuzzer
/// must find it, shrink it to that one key, and write a reproducer that shows the crash again.
#[test]
fn fuzz_finds_shrinks_and_reproduces_a_crash() {
    cni_conform::kernel::require_vlan();
    let reference = reference_vlan();
    let dir = TempDir::new().unwrap();
    let plugin = dir.path().join("crashing-vlan");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/bash\ninput=$(cat)\ncase \"$input\" in *'\"vlanProtocol\"'*) kill -SEGV $$ ;; esac\nexec {} <<< \"$input\"\n",
            reference.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let reports = dir.path().join("report");
    let output = cni_conform(&[
        "fuzz",
        "--plugin",
        path_arg(&plugin),
        "--plugin-type",
        "vlan",
        "--cases",
        "150",
        "--kill-rounds",
        "0",
        "--seed",
        "7",
        "--report-dir",
        path_arg(&reports),
    ]);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "findings fail the run: {summary}"
    );
    let report = read_json(&reports.join("fuzz.json"));
    let crashes: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["signature"]["kind"] == "killed_by_signal")
        .collect();
    assert!(!crashes.is_empty(), "{summary}");
    // Found in several commands (a distinct finding per step); each shrinks to the one mutation
    // that matters, in an otherwise standard request.
    for crash in &crashes {
        let case = &crash["case"];
        let mutations = case["config"]["mutations"].as_array().unwrap();
        assert_eq!(mutations.len(), 1, "{case}");
        assert_eq!(mutations[0]["field"]["Top"], "vlanProtocol", "{case}");
        assert_eq!(case["config"]["encoding"], "Json", "{case}");
        assert_eq!(case["env"]["netns"], "Pod", "{case}");
        for var in ["container_id", "ifname", "args", "cni_path"] {
            assert_eq!(case["env"][var], "Standard", "{case}");
        }
    }
    let crash = crashes[0];
    let script = PathBuf::from(crash["reproducer"].as_str().unwrap());
    let replay = Command::new("bash").arg(&script).output().unwrap();
    let replayed = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replayed.contains("== exit status 139"),
        "the reproducer shows the SIGSEGV again:\n{replayed}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let stdin = std::fs::read(script.with_file_name("step1.stdin")).unwrap();
    assert!(String::from_utf8_lossy(&stdin).contains("\"vlanProtocol\""));
}

/// Another type's bench: both builds through the lifecycle with the pack's minimal
/// configuration on the pack's node, and concurrency; the VLAN-only sections are not run.
#[test]
fn bench_compares_two_macvlan_builds_with_the_pack_configuration() {
    require_macvlan();
    let current = current_upstream_macvlan();
    let dir = TempDir::new().unwrap();
    let output = cni_conform(&[
        "bench",
        "--quick",
        "--runs",
        "1",
        "--plugin",
        UPSTREAM_MACVLAN,
        "--vs",
        path_arg(&current),
        "--report-dir",
        path_arg(dir.path()),
    ]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}");
    assert!(table.contains("type: macvlan"), "{table}");
    assert!(
        table.contains(
            "== macvlan {\"type\":\"macvlan\",\"master\":\"master0\",\"mode\":\"bridge\"} =="
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "== scale: VLANs already on the master: VLAN-only, not measured for macvlan =="
        ),
        "{table}"
    );
    let report = read_json(&dir.path().join("bench.json"));
    assert_eq!(report["plugin_type"], "macvlan");
    assert_eq!(report["configuration"]["mode"], "bridge");
    assert_eq!(report["plugins"][0]["path"], UPSTREAM_MACVLAN);
    let lifecycle = &report["lifecycle"];
    assert_eq!(lifecycle.as_array().unwrap().len(), 12, "{lifecycle}");
    for ipam in ["no IPAM", "conform-ipam"] {
        for metric in ["ADD", "CHECK", "DEL", "ADD peak RSS"] {
            for plugin in ["a", "b"] {
                assert_measured(row(lifecycle, &format!("{metric} ({ipam})")), plugin, 1);
            }
        }
    }
    assert_measured(row(&report["process_start"], "VERSION"), "b", 1);
    assert_eq!(report["chained"], serde_json::json!([]));
    assert_eq!(report["scale"]["curve"], serde_json::json!([]));
    let levels = report["concurrency"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for level in levels {
        for tally in level["failures"].as_array().unwrap() {
            assert_eq!(
                (tally["add_failed"].as_u64(), tally["del_failed"].as_u64()),
                (Some(0), Some(0)),
                "{tally}"
            );
        }
    }
}

/// A VLAN-only benchmark asked of another type is refused before anything runs, naming both.
#[test]
fn bench_refuses_vlan_only_benchmarks_for_other_types() {
    for (args, benchmark) in [
        (vec!["--only", "scale"], "the scale benchmark"),
        (vec!["--only", "start,chained"], "the chained benchmark"),
        (vec!["--plugin-fill", "4"], "the scale benchmark"),
    ] {
        let mut all = vec!["bench", "--plugin", UPSTREAM_MACVLAN];
        all.extend(args.iter().copied());
        let out = cni_conform(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(benchmark), "{args:?}: {stderr}");
        assert!(
            stderr.contains("VLAN-only; a macvlan plugin"),
            "{args:?}: {stderr}"
        );
    }
    let out = cni_conform(&[
        "fuzz",
        "--plugin",
        UPSTREAM_MACVLAN,
        "--plugin-type",
        "warp",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("macvlan, ptp"),
        "the types are listed: {stderr}"
    );
}

/// Another type's fuzz: the cases start from its pack's minimal configuration on its pack's
/// node, the plugin runs under its type, and a finding's reproducer rebuilds that node.
#[test]
fn fuzz_runs_a_macvlan_with_its_pack_configuration_and_node() {
    require_macvlan();
    let dir = TempDir::new().unwrap();
    let output = cni_conform(&[
        "fuzz",
        "--plugin",
        UPSTREAM_MACVLAN,
        "--cases",
        "30",
        "--kill-rounds",
        "3",
        "--seed",
        "7",
        "--report-dir",
        path_arg(dir.path()),
    ]);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains(
            "(type macvlan, cases start from {\"type\":\"macvlan\",\"master\":\"master0\",\"mode\":\"bridge\"})"
        ),
        "{summary}"
    );
    let report = read_json(&dir.path().join("fuzz.json"));
    assert_eq!(report["plugin_type"], "macvlan");
    assert_eq!(report["cases"], 30);
    assert_eq!(report["kill"]["rounds"], 3);
    assert_eq!(
        report["kill"]["plan"]["configurations"],
        serde_json::json!([["Minimal", true], ["Minimal", false]]),
        "upstream's macvlan handles its minimal configuration with and without IPAM: {summary}"
    );
    let outcomes = report["outcomes"].as_object().unwrap();
    assert!(outcomes.get("\"ADD\": success").is_some(), "{outcomes:?}");
    // 1.1.1 keeps its link when the IPAM's result has no address: found, and replayed.
    let findings = report["findings"].as_array().unwrap();
    let left = findings
        .iter()
        .find(|f| f["signature"]["kind"] == "left_behind")
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(
        left["case"]["config"]["plugin"]["type"], "macvlan",
        "{left}"
    );
    let script = PathBuf::from(left["reproducer"].as_str().unwrap());
    let stdin = std::fs::read(script.with_file_name("step1.stdin")).unwrap();
    assert!(
        String::from_utf8_lossy(&stdin).contains("\"type\":\"macvlan\""),
        "{}",
        String::from_utf8_lossy(&stdin)
    );
    let replay = Command::new("bash").arg(&script).output().unwrap();
    let replayed = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replayed.contains("started with veth master0/master0-peer")
            && replayed.contains("macvlan mode bridge"),
        "the reproducer builds the macvlan node and shows the link left in the pod:\n{replayed}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
}
