//! The sandbox fuzz cases run in, and how it is checked for leftovers.
//!
//! For `vlan`: node namespace with `master0` (veth peer in a namespace of its own), a pod with
//! `eth0` (veth peer `hosteth0` on the node) for the container-master and chained modes. For
//! any other type: the node its pack's `minimal.topology` asks for ([`Target`]). Both get decoys
//! for `CNI_NETNS`: a regular file and a folder. The baseline snapshot is taken when the arena
//! is built; after every case the sandbox must be equal to it again (and the IPAM call log must
//! hold no ADD without a DEL). An arena with leftovers is rebuilt before the next case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use serde_json::Map;

use super::input::{NODE_MASTER, POD_LINK, Places};
use crate::fixtures::IPAM_PLUGIN;
use crate::fixtures::call_log::{self, CallRecord};
use crate::kernel::LinkKind;
use crate::runtime::{CniCommand, CniPath, ExecRequest, Outcome, execute};
use crate::sandbox::Sandbox;
use crate::scenario::pack::TypePack;
use crate::snapshot::Snapshot;
use crate::topology::{DEFAULT_POD, Endpoint, NODE, Topology};

/// The type whose cases are its three modes rather than its pack's minimal configuration.
pub const VLAN: &str = "vlan";

const WIRE: &str = "wire";

/// What is fuzzed: the plugin's type (it is linked under that name into `CNI_PATH`), the valid
/// configuration the cases start from and the node they run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub plugin_type: String,
    /// The pack's `minimal.plugin` (with its `type`); `None` for `vlan`, whose cases start from
    /// its three modes (host master, master in the pod, chained).
    pub minimal: Option<Map<String, Value>>,
    /// The node, without the `CNI_NETNS` decoys (files, not links).
    pub topology: Topology,
    /// Link kinds the kernel must make.
    pub kernel: Vec<LinkKind>,
}

impl Target {
    /// `vlan` as the fuzzer has always run it.
    pub fn vlan() -> Target {
        let topology = Topology::default()
            .with_extra_netns([WIRE])
            .with_veth(
                Endpoint::new(NODE, NODE_MASTER),
                Endpoint::new(WIRE, "peer0"),
            )
            .with_veth(
                Endpoint::new(DEFAULT_POD, POD_LINK),
                Endpoint::new(NODE, "hosteth0"),
            );
        Target {
            plugin_type: VLAN.into(),
            minimal: None,
            topology,
            kernel: vec![LinkKind::Vlan],
        }
    }

    /// A type pack's plugin: its minimal configuration on its minimal node (`vlan`: [`Target::vlan`]).
    pub fn from_pack(pack: &TypePack) -> Result<Target, String> {
        if pack.plugin_type == VLAN {
            return Ok(Target::vlan());
        }
        let topology = pack.minimal.topology.clone();
        if !topology.pods.iter().any(|p| p == DEFAULT_POD) {
            return Err(format!(
                "the {} pack's minimal.topology has no pod {DEFAULT_POD:?}, the one fuzz cases \
                 attach to",
                pack.plugin_type
            ));
        }
        Ok(Target {
            plugin_type: pack.plugin_type.clone(),
            minimal: Some(pack.minimal.plugin.clone()),
            topology,
            kernel: pack.kernel.clone(),
        })
    }
}

const REPLAY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Arena {
    pub sandbox: Sandbox,
    pub places: Places,
    pub plugin: PathBuf,
    /// The name the plugin runs under (its type).
    pub plugin_type: String,
    baseline: Snapshot,
}

impl Arena {
    pub fn new(plugin: &Path, target: &Target) -> Result<Arena, String> {
        let sandbox =
            Sandbox::new(&target.topology).map_err(|e| format!("cannot build the sandbox: {e}"))?;
        let dir = sandbox.dir().to_path_buf();
        let plugin_type = target.plugin_type.as_str();
        let cni_path = CniPath::standard(&dir.join("bin"), &[(plugin_type, plugin)])
            .map_err(|e| format!("cannot prepare CNI_PATH: {e}"))?;
        std::fs::write(dir.join("file"), b"not a namespace\n")
            .and_then(|()| std::fs::create_dir(dir.join("folder")))
            .map_err(|e| format!("cannot make the CNI_NETNS decoys: {e}"))?;
        let mut places = Places::under(&dir, cni_path.to_string());
        // The sandbox decides where its netns files are; the layout above only mirrors it.
        let netns_path = |name: &str| sandbox.netns_path(name).map(|p| p.display().to_string());
        places.pod_netns = netns_path(DEFAULT_POD).expect("declared in the topology");
        places.node_netns = netns_path(NODE).expect("declared in the topology");
        let baseline =
            Snapshot::capture(&sandbox).map_err(|e| format!("cannot snapshot the sandbox: {e}"))?;
        Ok(Arena {
            sandbox,
            places,
            plugin: plugin.to_path_buf(),
            plugin_type: target.plugin_type.clone(),
            baseline,
        })
    }

    /// Forgets the IPAM calls of earlier cases.
    pub fn clear_ipam_log(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.places.ipam_log) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("clearing {}: {e}", self.places.ipam_log))
            }
            _ => Ok(()),
        }
    }

    /// What differs from the baseline, one line each; empty when nothing does.
    pub fn leftovers(&self) -> Result<Vec<String>, String> {
        let now = Snapshot::capture(&self.sandbox).map_err(|e| format!("snapshot: {e}"))?;
        let mut found = Vec::new();
        if now != self.baseline {
            let before = self.baseline.to_yaml();
            let after = now.to_yaml();
            let diff = similar::TextDiff::from_lines(&before, &after);
            found.extend(diff.iter_all_changes().filter_map(|change| {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => return None,
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                };
                Some(format!("{sign} {}", change.value().trim_end()))
            }));
        }
        let calls = call_log::read(Path::new(&self.places.ipam_log))
            .map_err(|e| format!("reading the IPAM call log: {e}"))?;
        for call in call_log::outstanding_reservations(&calls) {
            if self.reserved(call)? {
                let (container, ifname) = call.attachment();
                found.push(format!(
                    "IPAM ADD for ({container:?}, {ifname:?}) never undone by an IPAM DEL"
                ));
            }
        }
        Ok(found)
    }

    /// Whether an IPAM ADD the log recorded succeeded (the log is written before the answer):
    /// `conform-ipam` is deterministic, so the call is made again, without the log. A fuzzed
    /// IPAM configuration fails its ADD, and nothing is left to undo then.
    fn reserved(&self, call: &CallRecord) -> Result<bool, String> {
        let vars = &call.vars;
        let env: BTreeMap<String, String> = [
            ("CNI_COMMAND", &vars.command),
            ("CNI_CONTAINERID", &vars.container_id),
            ("CNI_NETNS", &vars.netns),
            ("CNI_IFNAME", &vars.ifname),
            ("CNI_ARGS", &vars.args),
            ("CNI_PATH", &vars.path),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.clone()?)))
        .collect();
        let mut stdin = call.stdin.clone();
        if let Some(ipam) = stdin.get_mut("ipam").and_then(Value::as_object_mut) {
            ipam.remove("callLog");
        }
        // The link the sandbox made: `cni-conform` is the fixture under that name.
        let binary = self.sandbox.dir().join("bin").join(IPAM_PLUGIN);
        let request = ExecRequest {
            plugin: IPAM_PLUGIN.into(),
            binary,
            command: CniCommand::Add,
            env,
            stdin: stdin.to_string().into_bytes(),
            timeout: REPLAY_TIMEOUT,
            memory: Default::default(),
        };
        let replay = execute(&request, Some(self.sandbox.node()))
            .map_err(|e| format!("replaying an IPAM ADD: {e}"))?;
        Ok(matches!(replay.outcome, Outcome::Success(_)))
    }
}
