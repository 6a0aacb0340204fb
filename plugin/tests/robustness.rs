//! Whatever the environment and stdin, the built binary answers like a CNI plugin: exit 0 with
//! nothing or a valid JSON answer on stdout, or exit 1 with a valid CNI error whose code is one
//! the contract allows. Never a panic, a signal, or anything else on stdout.
//!
//! Each run happens in a fresh, empty network namespace of its own (unshared between fork and
//! exec), so nothing it tries can touch any other namespace.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use cni_types::{CniError, CniResult, CniVersion};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The codes the contract lets the plugin return (no IPAM delegate is ever reachable here, so
/// no delegate's own code can appear).
fn allowed_code(code: u32) -> bool {
    matches!(code, 1 | 3 | 4 | 6 | 7 | 11) || (100..=112).contains(&code)
}

fn run_isolated(env: &[(String, String)], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vlan"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: unshare is a single async-signal-safe syscall.
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("starting the plugin");
    let mut pipe = child.stdin.take().expect("piped stdin");
    // The plugin may exit before reading everything (e.g. a bad CNI_COMMAND): ignore EPIPE.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().expect("waiting for the plugin")
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for `field` that is sometimes right, sometimes nearly right, sometimes anything.
fn field(plausible: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        3 => prop::sample::select(plausible),
        1 => json_value(),
    ])
}

fn config() -> impl Strategy<Value = Value> {
    let versions = CniVersion::ALL
        .iter()
        .map(|v| json!(v.as_str()))
        .chain([json!(""), json!("9.9.9")])
        .collect();
    (
        (
            field(versions),
            field(vec![json!("net"), json!(""), json!("-bad"), json!("a/b")]),
            field(vec![json!("vlan")]),
            field(vec![json!("eth0"), json!("lo"), json!(""), json!("a/b"), json!("0123456789abcdef")]),
            field(vec![json!(0), json!(1), json!(4094), json!(4095), json!(-1), json!("3")]),
        ),
        (
            field(vec![json!("802.1Q"), json!("802.1ad"), json!("802.1x")]),
            field(vec![json!(0), json!(1400), json!(9000), json!(-5)]),
            field(vec![json!(true), json!(false), json!("true")]),
            field(vec![json!({}), json!({"type": "static"}), json!({"type": "../x"}), json!({"a": 1})]),
            field(vec![json!({"nameservers": ["10.0.0.53"]}), json!({"nameservers": "x"})]),
            field(vec![
                json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/proc/self/ns/net"}]}),
                json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24"}}),
                json!({"ips": [{"address": "nonsense"}]}),
            ]),
        ),
    )
        .prop_map(
            |((version, name, kind, master, vlan_id), (protocol, mtu, in_container, ipam, dns, prev))| {
                let fields = [
                    ("cniVersion", version),
                    ("name", name),
                    ("type", kind),
                    ("master", master),
                    ("vlanId", vlan_id),
                    ("vlanProtocol", protocol),
                    ("mtu", mtu),
                    ("linkInContainer", in_container),
                    ("ipam", ipam),
                    ("dns", dns),
                    ("prevResult", prev),
                ];
                let object: Map<String, Value> = fields
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                    .collect();
                Value::Object(object)
            },
        )
}

fn stdin() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => config().prop_map(|c| serde_json::to_vec(&c).unwrap()),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn env() -> impl Strategy<Value = Vec<(String, String)>> {
    let pick = |values: &[&str]| {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        prop::option::of(prop_oneof![
            4 => prop::sample::select(values),
            1 => "\\PC{0,20}",
        ])
    };
    (
        pick(&["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC", "add", ""]),
        pick(&["ctr1", "", "-bad"]),
        // Never a namespace other than the child's own: /proc/self/ns/net is the fresh one.
        pick(&["/proc/self/ns/net", "", "/nonexistent", "/tmp", "/dev/null"]),
        pick(&[
            "eth0",
            "net1",
            "lo",
            "",
            "a/b",
            "0123456789abcdef",
            "..",
            "%d",
            "all",
        ]),
        pick(&["/nonexistent", "", "/tmp"]),
    )
        .prop_map(|(command, id, netns, ifname, path)| {
            [
                ("CNI_COMMAND", command),
                ("CNI_CONTAINERID", id),
                ("CNI_NETNS", netns),
                ("CNI_IFNAME", ifname),
                ("CNI_PATH", path),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect()
        })
}

/// 128 cases (each starts a process: ~50 ms in User-Mode Linux) unless PROPTEST_CASES says.
fn proptest_config() -> ProptestConfig {
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default().cases
    } else {
        128
    };
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn always_a_cni_answer(env in env(), stdin in stdin()) {
        let output = run_isolated(&env, &stdin);
        let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) if stdout.trim().is_empty() => {}
            Some(0) => {
                let answer: Value = serde_json::from_str(&stdout)
                    .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
                let command = env.iter().find(|(k, _)| k == "CNI_COMMAND").map(|(_, v)| v.as_str());
                match command {
                    Some("VERSION") => prop_assert!(answer["supportedVersions"].is_array(), "{stdout}"),
                    _ => {
                        CniResult::parse(&answer, CniVersion::LATEST)
                            .unwrap_or_else(|e| panic!("stdout is not a CNI result ({e}): {stdout}"));
                    }
                }
            }
            Some(1) => {
                let error = CniError::parse(stdout.as_bytes())
                    .unwrap_or_else(|e| panic!("stdout is not a CNI error ({e}): {stdout}"));
                prop_assert!(allowed_code(error.code), "code {} not in the contract: {stdout}", error.code);
                prop_assert!(!error.msg.is_empty());
            }
            other => prop_assert!(false, "exit {other:?} (a panic or a signal?)\nstdout: {stdout}\nstderr: {stderr}"),
        }
        prop_assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
