//! Shared by the kernel tests: a sandbox (node netns = the runtime's, pod netns = CNI_NETNS)
//! from the harness, and the built `vlan` binary run inside the node namespace the way a
//! runtime runs it.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::Write;
use std::process::{Child, Command, Stdio};

use cni_conform::sandbox::Sandbox;
use cni_conform::snapshot::{Link, Snapshot};
use cni_conform::topology::{Endpoint, Topology};
use cni_types::CniError;
use serde_json::{Value, json};

pub const CONTAINER_ID: &str = "ctr1";
/// Debian's upstream plugins: `static` is the IPAM these tests delegate to.
pub const UPSTREAM_CNI_PATH: &str = "/usr/lib/cni";

/// A sandbox with the given veth pairs, on a kernel that can make VLANs.
pub fn sandbox(veths: Vec<(Endpoint, Endpoint)>) -> Sandbox {
    cni_conform::kernel::require_vlan();
    let topology = veths
        .into_iter()
        .fold(Topology::default(), |t, (a, b)| t.with_veth(a, b));
    Sandbox::new(&topology).expect("building the sandbox")
}

/// `node/eth0` (the host master) paired with `node/eth0-peer`.
pub fn host_master_sandbox() -> Sandbox {
    sandbox(vec![(
        Endpoint::new("node", "eth0"),
        Endpoint::new("node", "eth0-peer"),
    )])
}

/// `pod/eth0` (made by "an earlier plugin") paired with `node/veth-pod`.
pub fn pod_eth0_sandbox() -> Sandbox {
    sandbox(vec![(
        Endpoint::new("node", "veth-pod"),
        Endpoint::new("pod", "eth0"),
    )])
}

pub fn pod_path(sandbox: &Sandbox) -> String {
    sandbox
        .netns_path("pod")
        .expect("the sandbox has a pod")
        .to_string_lossy()
        .into_owned()
}

/// One plugin execution, configured like a runtime would.
pub struct Call {
    command: Command,
}

impl Call {
    pub fn new(sandbox: &Sandbox, cni_command: &str, ifname: &str) -> Call {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vlan"));
        command
            .env_clear()
            .env("CNI_COMMAND", cni_command)
            .env("CNI_CONTAINERID", CONTAINER_ID)
            .env("CNI_NETNS", pod_path(sandbox))
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", UPSTREAM_CNI_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        sandbox
            .node()
            .enter_on_spawn(&mut command)
            .expect("joining the node netns");
        Call { command }
    }

    pub fn env(mut self, key: &str, value: &str) -> Call {
        self.command.env(key, value);
        self
    }

    pub fn spawn(mut self, config: &Value) -> Running {
        let mut child = self.command.spawn().expect("starting the plugin");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(&serde_json::to_vec(config).unwrap())
            .expect("writing the configuration");
        Running { child }
    }

    pub fn run(self, config: &Value) -> Outcome {
        self.spawn(config).wait()
    }
}

pub struct Running {
    child: Child,
}

impl Running {
    pub fn wait(self) -> Outcome {
        let output = self
            .child
            .wait_with_output()
            .expect("waiting for the plugin");
        Outcome {
            status: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Exit 0; the parsed stdout, or `Value::Null` when there was none.
    pub fn success(&self) -> Value {
        assert_eq!(self.status, Some(0), "plugin failed: {self:#?}");
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.stdout).expect("stdout is JSON")
        }
    }

    /// Exit 1 with a CNI error on stdout.
    pub fn error(&self) -> CniError {
        assert_eq!(self.status, Some(1), "plugin did not fail: {self:#?}");
        CniError::parse(self.stdout.as_bytes())
            .unwrap_or_else(|e| panic!("stdout is not a CNI error ({e}): {self:#?}"))
    }
}

/// `ipam` for upstream's static plugin.
pub fn static_ipam(addresses: &[(&str, &str)], routes: &[&str]) -> Value {
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|(address, gateway)| json!({"address": address, "gateway": gateway}))
        .collect();
    let routes: Vec<Value> = routes.iter().map(|dst| json!({"dst": dst})).collect();
    json!({"type": "static", "addresses": addresses, "routes": routes})
}

/// `config` with `prevResult` set (what a runtime sends to CHECK and DEL, and to the next
/// plugin of a chain).
pub fn with_prev_result(config: &Value, prev_result: &Value) -> Value {
    let mut config = config.clone();
    config["prevResult"] = prev_result.clone();
    config
}

pub fn snapshot(sandbox: &Sandbox) -> Snapshot {
    Snapshot::capture(sandbox).expect("dumping the sandbox")
}

pub fn links(sandbox: &Sandbox, netns: &str) -> Vec<Link> {
    snapshot(sandbox).netns[netns].links.clone()
}

pub fn link(sandbox: &Sandbox, netns: &str, name: &str) -> Option<Link> {
    links(sandbox, netns).into_iter().find(|l| l.name == name)
}

/// No temporary link (`vlt...`) anywhere: every path that created one also cleaned it up.
pub fn assert_no_temp_links(sandbox: &Sandbox) {
    let snapshot = snapshot(sandbox);
    for (netns, state) in &snapshot.netns {
        for link in &state.links {
            assert!(
                !link.name.starts_with("vlt"),
                "temporary link {netns}/{} left behind",
                link.name
            );
        }
    }
}
