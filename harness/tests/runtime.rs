//! The chain runtime against small bash plugins (and the fixture plugins): libcni's ordering,
//! injection, caching, error handling, and what every execution records.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cni_conform::netns::Netns;
use cni_conform::runtime::cni_path::link_plugin;
use cni_conform::runtime::{
    Attachment, AttachmentKey, ChainError, CniCommand, CniPath, ConfigError, Execution, ExitStatus,
    FindError, Finding, MemoryAccounting, NetworkConfigList, Outcome, PluginFailure, Runtime,
    SuccessOutput, VersionInfo, ViolationKind, link_fixture_plugins,
};
use cni_types::{CniError, CniVersion};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A node netns, a folder of fake plugins and a cache folder, all in one temp dir.
struct Bench {
    dir: TempDir,
    node: Netns,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let node = Netns::create("node", &dir.path().join("node")).unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        Bench { dir, node }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Writes an executable bash plugin `bin/<name>`.
    fn fake(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin().join(name);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A plugin that answers ADD with one interface named after itself in the requested
    /// version, and every other command with nothing. `extra` runs first (e.g. to fail GC).
    fn well_behaved(&self, name: &str, extra: &str) {
        self.fake(
            name,
            &format!(
                r#"input=$(cat)
[[ $input =~ \"cniVersion\":\"([0-9.]*)\" ]] && version=${{BASH_REMATCH[1]}}
{extra}
case "$CNI_COMMAND" in
  ADD) echo "{{\"cniVersion\":\"$version\",\"interfaces\":[{{\"name\":\"{name}0\"}}]}}" ;;
  VERSION) echo "{{\"cniVersion\":\"$version\",\"supportedVersions\":[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}}" ;;
esac"#
            ),
        );
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("child.pid")
    }

    fn runtime(&self) -> Runtime<'_> {
        let fixtures = self.dir.path().join("fixtures");
        link_fixture_plugins(&fixtures).unwrap();
        let cni_path = CniPath::new(vec![self.bin(), fixtures]);
        Runtime::new(&self.node, cni_path, self.cache_dir())
    }

    fn attachment(&self, container_id: &str) -> Attachment {
        Attachment::new(container_id, "eth0", &self.dir.path().join("pod"))
    }
}

fn list(version: &str, plugins: Value) -> NetworkConfigList {
    NetworkConfigList::from_value(json!({"cniVersion": version, "name": "net", "plugins": plugins}))
        .unwrap()
}

fn stdin(execution: &Execution) -> Value {
    serde_json::from_slice(execution.stdin.as_bytes()).unwrap()
}

fn stdout(execution: &Execution) -> Value {
    serde_json::from_slice(execution.stdout.as_bytes()).unwrap()
}

fn order(executions: &[Execution]) -> Vec<(String, CniCommand)> {
    executions
        .iter()
        .map(|e| (e.plugin.clone(), e.command))
        .collect()
}

fn steps(steps: &[(&str, CniCommand)]) -> Vec<(String, CniCommand)> {
    steps.iter().map(|(p, c)| (p.to_string(), *c)).collect()
}

#[test]
fn conflist_loading_selects_versions_and_names_bad_fields() {
    let load = |v: Value| NetworkConfigList::from_value(v);
    let plugins = json!([{"type": "a"}]);
    let picked = |v: Value| load(v).unwrap().cni_version;
    assert_eq!(
        picked(
            json!({"name": "n", "cniVersion": "0.3.1", "cniVersions": ["0.4.0", "1.0.0", "1.2.0"], "plugins": plugins})
        ),
        CniVersion::V1_0_0,
        "highest supported of cniVersion and cniVersions, newer than 1.1.0 ignored"
    );
    assert_eq!(
        picked(
            json!({"name": "n", "cniVersion": "2.0.0", "cniVersions": ["0.4.0", "1.1.0"], "plugins": plugins})
        ),
        CniVersion::V1_1_0
    );
    assert_eq!(
        picked(json!({"name": "n", "plugins": plugins})),
        CniVersion::V0_1_0
    );

    let switches = load(json!({"name": "n", "cniVersion": "1.1.0", "disableCheck": "TRUE", "disableGC": false, "plugins": plugins})).unwrap();
    assert!(switches.disable_check && !switches.disable_gc);

    let single = NetworkConfigList::from_plugin_conf(
        json!({"cniVersion": "0.4.0", "name": "solo", "type": "vlan", "master": "eth0"}),
    )
    .unwrap();
    assert_eq!(
        (
            single.name.as_str(),
            single.cni_version,
            single.plugins.len()
        ),
        ("solo", CniVersion::V0_4_0, 1)
    );
    assert_eq!(single.plugins[0].raw["master"], "eth0");

    let pinned = load(
        json!({"name": "n", "cniVersion": "1.0.0", "cniVersions": ["1.1.0"], "plugins": plugins}),
    )
    .unwrap()
    .with_version(CniVersion::V0_3_1);
    assert_eq!(pinned.cni_version, CniVersion::V0_3_1);
    assert_eq!(
        pinned.to_json(),
        json!({"name": "n", "cniVersion": "0.3.1", "plugins": plugins})
    );

    let bad_inputs = [
        json!(["not an object"]),
        json!({"cniVersion": "1.0.0", "plugins": plugins}),
        json!({"name": "-leading-dash", "cniVersion": "1.0.0", "plugins": plugins}),
        json!({"name": "n", "cniVersion": "0.3.2", "plugins": plugins}),
        json!({"name": "n", "cniVersion": "1.0.0", "cniVersions": ["1.0"], "plugins": plugins}),
        json!({"name": "n", "cniVersion": "1.0.0", "cniVersions": "1.0.0", "plugins": plugins}),
        json!({"name": "n", "cniVersion": "1.0.0"}),
        json!({"name": "n", "cniVersion": "1.0.0", "plugins": []}),
        json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "a"}, {"mtu": 1500}]}),
        json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": ""}]}),
        json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "a", "capabilities": {"ips": "yes"}}]}),
        json!({"name": "n", "cniVersion": "1.0.0", "disableGC": "yes", "plugins": plugins}),
    ];
    let errors: Vec<String> = bad_inputs
        .into_iter()
        .map(|input| load(input).unwrap_err().to_string())
        .collect();
    insta::assert_yaml_snapshot!(errors);
    assert!(matches!(
        NetworkConfigList::from_bytes(b"{not json"),
        Err(ConfigError::Json(_))
    ));
}

#[test]
fn add_runs_in_order_injecting_name_version_prev_result_and_runtime_config() {
    let bench = Bench::new();
    for name in ["a", "b", "c"] {
        bench.well_behaved(name, "");
    }
    let runtime = bench.runtime();
    let list = list(
        "1.1.0",
        json!([
            {"type": "a", "keep": "me"},
            {"type": "b", "capabilities": {"portMappings": true, "bandwidth": false, "ips": true}},
            {"type": "c", "name": "third"},
        ]),
    );
    let capability_args = json!({
        "portMappings": [{"hostPort": 8080, "containerPort": 80}],
        "bandwidth": {"ingressRate": 1},
        "mac": "c2:00:00:00:00:01",
    });
    let attachment = bench
        .attachment("ctr1")
        .with_cni_args(&[("K8S_POD_NAME", "web"), ("IgnoreUnknown", "1")])
        .with_capability_args(capability_args.as_object().unwrap().clone());

    let run = runtime.add(&list, &attachment);
    let result = run.outcome.unwrap();

    assert_eq!(
        order(&run.executions),
        steps(&[
            ("a", CniCommand::Add),
            ("b", CniCommand::Add),
            ("c", CniCommand::Add)
        ])
    );
    let inputs: Vec<Value> = run.executions.iter().map(stdin).collect();
    for input in &inputs {
        assert_eq!(
            input["name"], "net",
            "list name injected (overriding a plugin's own)"
        );
        assert_eq!(input["cniVersion"], "1.1.0");
    }
    assert_eq!(inputs[0]["keep"], "me", "unknown keys pass through");
    assert!(
        inputs[0].get("prevResult").is_none(),
        "first plugin gets no prevResult"
    );
    assert!(
        inputs[0].get("runtimeConfig").is_none(),
        "no capabilities, no runtimeConfig"
    );
    assert_eq!(inputs[1]["prevResult"], stdout(&run.executions[0]));
    assert_eq!(
        inputs[1]["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80}]}),
        "only enabled capabilities the runtime has arguments for"
    );
    assert_eq!(inputs[2]["prevResult"], stdout(&run.executions[1]));
    assert_eq!(result.json, stdout(&run.executions[2]));
    assert_eq!(result.result.interfaces[0].name, "c0");

    let env = &run.executions[0].env;
    assert_eq!(
        env.keys().collect::<Vec<_>>(),
        [
            "CNI_ARGS",
            "CNI_COMMAND",
            "CNI_CONTAINERID",
            "CNI_IFNAME",
            "CNI_NETNS",
            "CNI_PATH",
            "PATH"
        ]
    );
    assert_eq!(env["CNI_COMMAND"], "ADD");
    assert_eq!(env["CNI_CONTAINERID"], "ctr1");
    assert_eq!(env["CNI_IFNAME"], "eth0");
    assert_eq!(env["CNI_NETNS"], attachment.netns);
    assert_eq!(env["CNI_ARGS"], "K8S_POD_NAME=web;IgnoreUnknown=1");
    assert_eq!(env["CNI_PATH"], runtime.cni_path().to_string());

    let cache_file = bench.cache_dir().join("results/net-ctr1-eth0");
    let mode = std::fs::metadata(&cache_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache_file).unwrap()).unwrap();
    assert_eq!(cached["kind"], "cniCacheV1");
    assert_eq!(cached["containerId"], "ctr1");
    assert_eq!(cached["ifName"], "eth0");
    assert_eq!(cached["networkName"], "net");
    assert_eq!(cached["netns"], attachment.netns);
    assert_eq!(
        cached["cniArgs"],
        json!([["K8S_POD_NAME", "web"], ["IgnoreUnknown", "1"]])
    );
    assert_eq!(cached["capabilityArgs"], capability_args);
    assert_eq!(cached["result"], result.json);
    assert!(
        cached["config"].as_str().unwrap().starts_with("ey"),
        "base64 of a JSON object"
    );
}

#[test]
fn check_and_del_use_the_cached_result_and_del_runs_in_reverse() {
    let bench = Bench::new();
    bench.well_behaved("a", "");
    bench.well_behaved("b", "");
    let runtime = bench.runtime();
    let list = list("1.0.0", json!([{"type": "a"}, {"type": "b"}]));
    let attachment = bench.attachment("ctr1");
    let added = runtime.add(&list, &attachment).outcome.unwrap();

    let check = runtime.check(&list, &attachment);
    check.outcome.unwrap();
    assert_eq!(
        order(&check.executions),
        steps(&[("a", CniCommand::Check), ("b", CniCommand::Check)])
    );
    for execution in &check.executions {
        assert_eq!(stdin(execution)["prevResult"], added.json);
        assert_eq!(execution.env["CNI_COMMAND"], "CHECK");
    }

    let del = runtime.del(&list, &attachment);
    del.outcome.unwrap();
    assert_eq!(
        order(&del.executions),
        steps(&[("b", CniCommand::Del), ("a", CniCommand::Del)])
    );
    for execution in &del.executions {
        assert_eq!(stdin(execution)["prevResult"], added.json);
    }
    assert!(!bench.cache_dir().join("results/net-ctr1-eth0").exists());

    let again = runtime.del(&list, &attachment);
    again.outcome.unwrap();
    assert!(
        again
            .executions
            .iter()
            .all(|e| stdin(e).get("prevResult").is_none()),
        "no cache, no prevResult"
    );
}

#[test]
fn check_is_refused_before_0_4_0_or_skipped_when_disabled_and_old_del_has_no_prev_result() {
    let bench = Bench::new();
    bench.well_behaved("a", "");
    let runtime = bench.runtime();
    let attachment = bench.attachment("ctr1");

    let old = list("0.3.1", json!([{"type": "a"}]));
    runtime.add(&old, &attachment).outcome.unwrap();
    let check = runtime.check(&old, &attachment);
    assert!(check.executions.is_empty());
    let error = check.outcome.unwrap_err();
    assert!(matches!(error, ChainError::Unsupported { .. }));
    assert_eq!(
        error.to_string(),
        r#"configuration version "0.3.1" does not support the CHECK command"#
    );
    let del = runtime.del(&old, &attachment);
    del.outcome.unwrap();
    assert!(stdin(&del.executions[0]).get("prevResult").is_none());

    let disabled = NetworkConfigList::from_value(
        json!({"cniVersion": "1.0.0", "name": "net", "disableCheck": true, "plugins": [{"type": "a"}]}),
    )
    .unwrap();
    runtime.add(&disabled, &attachment).outcome.unwrap();
    let check = runtime.check(&disabled, &attachment);
    check.outcome.unwrap();
    assert!(check.executions.is_empty());
}

#[test]
fn add_halts_at_the_first_error_and_keeps_the_plugins_error_object() {
    let bench = Bench::new();
    bench.well_behaved("a", "");
    bench.well_behaved("c", "");
    bench.fake(
        "bad",
        r#"cat >/dev/null; echo '{"code": 11, "msg": "try later", "details": "busy"}'; exit 1"#,
    );
    let runtime = bench.runtime();
    let chain = list(
        "1.1.0",
        json!([{"type": "a"}, {"type": "bad", "name": "flaky"}, {"type": "c"}]),
    );
    let run = runtime.add(&chain, &bench.attachment("ctr1"));
    assert_eq!(
        order(&run.executions),
        steps(&[("a", CniCommand::Add), ("bad", CniCommand::Add)])
    );
    let error = run.outcome.unwrap_err();
    assert_eq!(
        error.cni_error(),
        Some(&CniError::new(11, "try later").with_details("busy"))
    );
    assert!(
        error
            .to_string()
            .starts_with(r#"plugin type="bad" name="flaky" failed (add): "#),
        "{error}"
    );
    assert!(
        !bench.cache_dir().join("results/net-ctr1-eth0").exists(),
        "no cache after a failed ADD"
    );

    let missing = runtime.add(
        &list("1.1.0", json!([{"type": "nope"}])),
        &bench.attachment("ctr2"),
    );
    assert!(missing.executions.is_empty());
    assert!(matches!(
        missing.outcome,
        Err(ChainError::Plugin {
            failure: PluginFailure::NotFound(FindError::NotFound { .. }),
            ..
        })
    ));

    let invalid = runtime.add(&chain, &bench.attachment("bad/id"));
    assert!(matches!(
        invalid.outcome,
        Err(ChainError::InvalidAttachment(_))
    ));
    assert!(invalid.executions.is_empty());
}

#[test]
fn gc_deletes_stale_attachments_then_runs_every_plugin_and_collects_all_failures() {
    let bench = Bench::new();
    bench.well_behaved(
        "a",
        r#"if [ "$CNI_COMMAND" = GC ]; then echo '{"code": 11, "msg": "gc later"}'; exit 1; fi"#,
    );
    bench.well_behaved("b", "");
    let runtime = bench.runtime();
    let list = list("1.1.0", json!([{"type": "a"}, {"type": "b"}]));
    runtime
        .add(&list, &bench.attachment("ctr1"))
        .outcome
        .unwrap();
    runtime
        .add(&list, &bench.attachment("ctr2"))
        .outcome
        .unwrap();
    let valid = [AttachmentKey {
        container_id: "ctr1".into(),
        ifname: "eth0".into(),
    }];

    let gc = runtime.gc(&list, Some(&valid));
    assert_eq!(
        order(&gc.executions),
        steps(&[
            ("b", CniCommand::Del),
            ("a", CniCommand::Del),
            ("a", CniCommand::Gc),
            ("b", CniCommand::Gc)
        ]),
        "stale ctr2 deleted in reverse, then GC on every plugin despite a's failure"
    );
    assert_eq!(gc.executions[0].env["CNI_CONTAINERID"], "ctr2");
    let errors = gc.outcome.unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].cni_error().map(|e| e.code), Some(11));
    for execution in &gc.executions[2..] {
        let input = stdin(execution);
        let expected = json!([{"containerID": "ctr1", "ifname": "eth0"}]);
        assert_eq!(input["cni.dev/valid-attachments"], expected);
        assert_eq!(input["cni.dev/attachments"], expected);
        assert_eq!(input["name"], "net");
        for variable in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"] {
            assert_eq!(execution.env[variable], "", "{variable} is empty for GC");
        }
    }
    assert!(bench.cache_dir().join("results/net-ctr1-eth0").exists());
    assert!(!bench.cache_dir().join("results/net-ctr2-eth0").exists());

    let disabled = NetworkConfigList::from_value(
        json!({"cniVersion": "1.1.0", "name": "net", "disableGC": "true", "plugins": [{"type": "a"}]}),
    )
    .unwrap();
    let gc = runtime.gc(&disabled, None);
    assert!(gc.executions.is_empty() && gc.outcome.is_ok());

    let before_gc = list.clone().with_version(CniVersion::V1_0_0);
    let gc = runtime.gc(&before_gc, None);
    gc.outcome.unwrap();
    assert_eq!(
        order(&gc.executions),
        steps(&[("b", CniCommand::Del), ("a", CniCommand::Del)]),
        "without GC arguments every cached attachment is stale; no GC command before 1.1.0"
    );
}

#[test]
fn status_runs_from_1_1_0_and_stops_at_the_first_failure() {
    let bench = Bench::new();
    bench.well_behaved("ready", "");
    bench.fake(
        "down",
        r#"cat >/dev/null; echo '{"code": 50, "msg": "plugin not available"}'; exit 1"#,
    );
    bench.well_behaved("never", "");
    let runtime = bench.runtime();
    let list = list(
        "1.1.0",
        json!([{"type": "ready"}, {"type": "down"}, {"type": "never"}]),
    );
    let status = runtime.status(&list);
    assert_eq!(
        order(&status.executions),
        steps(&[("ready", CniCommand::Status), ("down", CniCommand::Status)])
    );
    assert_eq!(
        status.outcome.unwrap_err().cni_error().map(|e| e.code),
        Some(50)
    );
    assert_eq!(
        stdin(&status.executions[0]),
        json!({"type": "ready", "name": "net", "cniVersion": "1.1.0"})
    );

    let status = runtime.status(&list.with_version(CniVersion::V1_0_0));
    assert!(status.executions.is_empty() && status.outcome.is_ok());
}

#[test]
fn version_probing_asks_every_plugin_and_flags_unsupported_versions() {
    let bench = Bench::new();
    bench.well_behaved("modern", "");
    bench.fake("old", r#"cat >/dev/null; echo '{"cniVersion": "0.2.0"}'"#);
    let runtime = bench.runtime();
    let list = list(
        "1.0.0",
        json!([{"type": "modern"}, {"type": "old"}, {"type": "conform-ipam"}]),
    );
    let probe = runtime.versions(&list);
    assert_eq!(probe.executions.len(), 3);
    for execution in &probe.executions {
        assert_eq!(stdin(execution), json!({"cniVersion": "1.0.0"}));
        assert_eq!(execution.env["CNI_PATH"], "dummy");
    }
    let replies: Vec<&VersionInfo> = probe
        .executions
        .iter()
        .map(|e| match &e.outcome {
            Outcome::Success(SuccessOutput::Version(info)) => info,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(replies[1].supported_versions, ["0.1.0", "0.2.0"]);
    assert_eq!(
        replies[2].supported_versions,
        CniVersion::ALL.map(|v| v.as_str())
    );
    assert_eq!(
        replies[2].cni_version, "1.0.0",
        "the fixture echoes the asked version"
    );
    let errors = probe.outcome.unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        r#"plugin type="old" does not support config version "1.0.0" (it supports ["0.1.0", "0.2.0"])"#
    );
}

/// A runtime with one fake, `odd`, whose misbehaviour is chosen per request through
/// `FAKE_MODE`, and a short timeout.
fn misbehaving(bench: &Bench) -> Runtime<'_> {
    bench.fake(
        "odd",
        r#"cat >/dev/null
case "$FAKE_MODE" in
  garbage) printf 'hello \xff world'; exit 0 ;;
  error-exit-0) echo '{"code": 7, "msg": "bad config"}'; exit 0 ;;
  silent-failure) echo "something broke" >&2; exit 3 ;;
  result-on-failure) echo '{"cniVersion": "1.0.0", "interfaces": []}'; exit 1 ;;
  nothing) exit 0 ;;
  chatty) echo '{"deleted": true}' ;;
  old-result) echo '{"cniVersion": "0.4.0", "ips": []}' ;;
  reserved-code) echo '{"code": 42, "msg": "made up"}'; exit 1 ;;
  bad-result) echo '{"cniVersion": "1.0.0", "ips": [{"address": "not-an-ip"}]}' ;;
  segv) kill -SEGV $$ ;;
  hang) sleep 30 & echo $! > "$FAKE_PID_FILE"; wait ;;
esac"#,
    );
    bench.runtime().with_timeout(Duration::from_secs(2))
}

fn run_mode(runtime: &Runtime, bench: &Bench, command: CniCommand, mode: &str) -> Execution {
    let mut env = runtime.env(command, &bench.attachment("ctr1"));
    env.insert("FAKE_MODE".into(), mode.into());
    env.insert(
        "FAKE_PID_FILE".into(),
        bench.pid_file().to_string_lossy().into(),
    );
    let stdin = br#"{"cniVersion": "1.0.0", "name": "net", "type": "odd"}"#.to_vec();
    let request = runtime.request("odd", command, env, stdin).unwrap();
    runtime.exec(&request).unwrap()
}

fn violation_kind(execution: &Execution) -> Option<ViolationKind> {
    match &execution.outcome {
        Outcome::Violation(v) => Some(v.kind),
        _ => None,
    }
}

#[test]
fn output_that_is_neither_a_result_nor_an_error_is_a_violation_with_the_raw_bytes() {
    let bench = Bench::new();
    let runtime = misbehaving(&bench);
    let exec = |command, mode| run_mode(&runtime, &bench, command, mode);

    let garbage = exec(CniCommand::Add, "garbage");
    assert_eq!(violation_kind(&garbage), Some(ViolationKind::NotJson));
    let Outcome::Violation(violation) = &garbage.outcome else {
        unreachable!()
    };
    assert_eq!(violation.stdout.as_bytes(), b"hello \xff world");
    assert_eq!(
        serde_json::to_value(&garbage.stdout).unwrap(),
        json!({"hex": "68656c6c6f20ff20776f726c64"}),
        "non-UTF-8 output survives serialization"
    );

    let cases = [
        (
            CniCommand::Add,
            "error-exit-0",
            ViolationKind::ErrorWithExitZero,
        ),
        (
            CniCommand::Del,
            "silent-failure",
            ViolationKind::FailureWithoutOutput,
        ),
        (
            CniCommand::Add,
            "result-on-failure",
            ViolationKind::FailureWithoutErrorObject,
        ),
        (CniCommand::Add, "nothing", ViolationKind::MissingOutput),
        (
            CniCommand::Add,
            "bad-result",
            ViolationKind::MalformedResult,
        ),
    ];
    for (command, mode, kind) in cases {
        let execution = exec(command, mode);
        assert_eq!(violation_kind(&execution), Some(kind), "{mode}");
    }
    assert_eq!(
        exec(CniCommand::Del, "silent-failure").exit,
        ExitStatus::Code(3)
    );

    let chatty = exec(CniCommand::Del, "chatty");
    assert_eq!(chatty.outcome, Outcome::Success(SuccessOutput::Nothing));
    assert_eq!(chatty.findings, [Finding::OutputOnSuccess]);

    let old = exec(CniCommand::Add, "old-result");
    assert!(matches!(
        old.outcome,
        Outcome::Success(SuccessOutput::Result(_))
    ));
    assert_eq!(
        old.findings,
        [Finding::ResultVersionMismatch {
            requested: CniVersion::V1_0_0,
            returned: CniVersion::V0_4_0
        }]
    );

    let reserved = exec(CniCommand::Add, "reserved-code");
    assert_eq!(
        reserved.outcome,
        Outcome::Error(CniError::new(42, "made up"))
    );
    assert_eq!(reserved.findings, [Finding::ReservedErrorCode { code: 42 }]);
}

#[test]
fn a_plugin_killed_by_a_signal_or_outliving_the_timeout_is_a_violation() {
    let bench = Bench::new();
    let runtime = misbehaving(&bench);
    let segv = run_mode(&runtime, &bench, CniCommand::Add, "segv");
    assert_eq!(segv.exit, ExitStatus::Signal(libc::SIGSEGV));
    assert_eq!(violation_kind(&segv), Some(ViolationKind::KilledBySignal));

    let started = Instant::now();
    let hung = run_mode(&runtime, &bench, CniCommand::Add, "hang");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(hung.timed_out);
    assert_eq!(hung.exit, ExitStatus::Signal(libc::SIGKILL));
    assert_eq!(violation_kind(&hung), Some(ViolationKind::TimedOut));
    let child: u32 = std::fs::read_to_string(bench.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        is_dead(child),
        "the plugin's own child (sleep {child}) was killed with it"
    );
}

/// Gone, or a zombie waiting for init to reap it.
fn is_dead(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn executions_record_env_stdin_stdout_stderr_status_time_and_rss() {
    let bench = Bench::new();
    bench.fake(
        "logger",
        r#"cat >/dev/null; echo "working on $CNI_IFNAME" >&2; echo '{"cniVersion": "1.1.0", "interfaces": [{"name": "x0"}]}'"#,
    );
    let runtime = bench.runtime();
    let run = runtime.add(
        &list("1.1.0", json!([{"type": "logger"}])),
        &bench.attachment("ctr1"),
    );
    run.outcome.unwrap();
    let execution = &run.executions[0];
    assert_eq!(execution.binary, bench.bin().join("logger"));
    assert_eq!(execution.stderr.as_bytes(), b"working on eth0\n");
    assert_eq!(execution.exit, ExitStatus::Code(0));
    assert!(execution.wall_time > Duration::ZERO);
    assert!(execution.peak_rss_kib > 100, "bash uses more than 100 KiB");
    assert!(!execution.timed_out);
    insta::assert_json_snapshot!(execution, {
        ".binary" => "[bin]/logger",
        ".wall_time_ms" => "[ms]",
        ".peak_rss_kib" => "[kib]",
        ".env.CNI_NETNS" => "[netns]",
        ".env.CNI_PATH" => "[cni path]",
        ".env.PATH" => "[path]",
    });
}

#[test]
fn peak_rss_counts_a_delegate_unless_the_plugin_alone_is_asked_for() {
    let bench = Bench::new();
    // A 64 MiB string in a child process, then a result naming the netns the plugin ran in.
    bench.fake(
        "hungry-child",
        r#"cat >/dev/null
perl -e '$x = "a" x (64 << 20);'
echo "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"$(readlink /proc/self/ns/net)\"}]}""#,
    );
    let list = list("1.0.0", json!([{"type": "hungry-child"}]));
    let with_delegates = bench.runtime().add(&list, &bench.attachment("ctr1"));
    let alone = bench
        .runtime()
        .with_memory(MemoryAccounting::PluginOnly)
        .add(&list, &bench.attachment("ctr2"));

    let tree = &with_delegates.executions[0];
    assert!(tree.peak_rss_kib > 64 * 1024, "{} KiB", tree.peak_rss_kib);
    let own = &alone.executions[0];
    assert!(
        (100..16 * 1024).contains(&own.peak_rss_kib),
        "bash alone: {} KiB",
        own.peak_rss_kib
    );
    // Traced, the plugin still runs in the node's netns and answers the same.
    let node = bench
        .node
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    for run in [with_delegates, alone] {
        let reported = run.outcome.unwrap().result.interfaces[0].name.clone();
        assert_eq!(reported, node.to_string_lossy());
    }
}

#[test]
fn a_traced_plugin_ends_as_it_would_untraced() {
    let bench = Bench::new();
    let traced = misbehaving(&bench).with_memory(MemoryAccounting::PluginOnly);
    let failed = run_mode(&traced, &bench, CniCommand::Add, "silent-failure");
    assert_eq!(failed.exit, ExitStatus::Code(3));
    assert_eq!(failed.stderr.as_bytes(), b"something broke\n");
    let crashed = run_mode(&traced, &bench, CniCommand::Add, "segv");
    assert_eq!(crashed.exit, ExitStatus::Signal(libc::SIGSEGV));
    let hung = run_mode(&traced, &bench, CniCommand::Add, "hang");
    assert!(hung.timed_out);
    assert_eq!(hung.exit, ExitStatus::Signal(libc::SIGKILL));
}

#[test]
fn plugins_are_found_by_type_through_links_in_cni_path_order() {
    let bench = Bench::new();
    let elsewhere = bench.dir.path().join("build");
    std::fs::create_dir(&elsewhere).unwrap();
    let binary = elsewhere.join("my-vlan-v2");
    std::fs::write(
        &binary,
        "#!/bin/bash\ncat >/dev/null; echo '{\"cniVersion\":\"1.0.0\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();

    let links = bench.dir.path().join("links");
    let cni_path = CniPath::standard(&links, &[("vlan", binary.as_path())]).unwrap();
    assert_eq!(
        cni_path.dirs(),
        [
            links.clone(),
            PathBuf::from("/opt/cni/bin"),
            PathBuf::from("/usr/lib/cni")
        ]
    );
    let found = cni_path.find("vlan").unwrap();
    assert_eq!(
        found,
        links.join("vlan"),
        "the link shadows /usr/lib/cni/vlan"
    );
    assert_eq!(std::fs::read_link(&found).unwrap(), binary);
    for fixture in ["conform-veth", "conform-ipam"] {
        let found = cni_path.find(fixture).unwrap();
        assert_eq!(found, links.join(fixture));
        assert_eq!(
            std::fs::read_link(&found).unwrap(),
            Path::new(env!("CARGO_BIN_EXE_cni-conform")),
            "cni-conform itself is the fixture plugins"
        );
    }
    link_plugin(&links, "vlan", &binary).unwrap();
    assert_eq!(cni_path.to_string().split(':').count(), 3);

    assert_eq!(cni_path.find(""), Err(FindError::NoName));
    assert_eq!(
        cni_path.find("a/b"),
        Err(FindError::InvalidName("a/b".into()))
    );
    assert_eq!(
        CniPath::new(Vec::new()).find("vlan"),
        Err(FindError::NoPaths)
    );
    assert_eq!(
        cni_path.find("nope").unwrap_err().to_string(),
        format!(r#"failed to find plugin "nope" in path {cni_path}"#)
    );

    let runtime = Runtime::new(&bench.node, cni_path, bench.cache_dir());
    let run = runtime.add(
        &list("1.0.0", json!([{"type": "vlan"}])),
        &bench.attachment("ctr1"),
    );
    assert_eq!(run.outcome.unwrap().json, json!({"cniVersion": "1.0.0"}));
    assert_eq!(run.executions[0].binary, links.join("vlan"));
}

#[test]
fn plugins_run_in_the_node_netns() {
    let bench = Bench::new();
    bench.fake(
        "where",
        r#"cat >/dev/null; echo "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"$(readlink /proc/self/ns/net)\"}]}""#,
    );
    let runtime = bench.runtime();
    let run = runtime.add(
        &list("1.0.0", json!([{"type": "where"}])),
        &bench.attachment("ctr1"),
    );
    let reported = run.outcome.unwrap().result.interfaces[0].name.clone();
    let node = bench
        .node
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    assert_eq!(reported, node.to_string_lossy());
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(reported, ours.to_string_lossy());
}

#[test]
fn concurrent_executions_are_recorded_independently() {
    let bench = Bench::new();
    bench.fake(
        "echo-id",
        r#"cat >/dev/null; echo "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"$CNI_CONTAINERID\"}]}""#,
    );
    let runtime = bench.runtime();
    let list = list("1.0.0", json!([{"type": "echo-id"}]));
    let names: BTreeMap<String, String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let attachment = bench.attachment(&format!("ctr{i}"));
                let (runtime, list) = (&runtime, &list);
                scope.spawn(move || {
                    let result = runtime.add(list, &attachment).outcome.unwrap();
                    (
                        attachment.container_id,
                        result.result.interfaces[0].name.clone(),
                    )
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|(id, name)| id == name));
}
