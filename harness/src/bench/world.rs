//! The setting every benchmark section runs in: one sandbox whose node namespace has a master
//! link (one end of a veth whose other end sits in a namespace of its own, so the master has
//! carrier) for `vlan`, or the node of the type's pack for any other type; pod namespaces; and
//! per contender a `CNI_PATH` in which its binary is named after the type.

use std::path::Path;

use nix::errno::Errno;
use serde_json::{Value, json};

use super::paired::Contender;
use crate::fixtures::personality::FIXTURE_PLUGINS;
use crate::runtime::{Attachment, ChainRun, CniPath, Execution, NetworkConfigList, Runtime};
use crate::sandbox::{Context, Sandbox, SandboxError, link_name, netlink};
use crate::scenario::pack::{Minimal, TypePack};
use crate::topology::{Endpoint, NODE, Topology};

/// The type whose benchmarks are the VLAN ones (host master, chained, scale).
pub const VLAN: &str = "vlan";

/// What is benchmarked: the contenders' type, and for any type but `vlan` its pack's minimal
/// configuration and node.
#[derive(Debug, Clone)]
pub struct Subject {
    pub plugin_type: String,
    /// `None` for `vlan`, whose lists are built here ([`host_master_list`]).
    pub minimal: Option<Minimal>,
}

impl Subject {
    pub fn vlan() -> Subject {
        Subject {
            plugin_type: VLAN.into(),
            minimal: None,
        }
    }

    pub fn from_pack(pack: &TypePack) -> Subject {
        if pack.plugin_type == VLAN {
            return Subject::vlan();
        }
        Subject {
            plugin_type: pack.plugin_type.clone(),
            minimal: Some(pack.minimal.clone()),
        }
    }

    pub fn is_vlan(&self) -> bool {
        self.minimal.is_none()
    }

    /// The one attachment's network: a host-master VLAN with `vlan_id` for `vlan`, else the
    /// pack's minimal configuration; with `ipam` handing out `address`.
    pub fn list(&self, vlan_id: u16, ipam: Ipam, address: &str) -> NetworkConfigList {
        match &self.minimal {
            None => host_master_list(MASTER, vlan_id, ipam, address),
            Some(minimal) => {
                let mut plugin = Value::Object(minimal.plugin.clone());
                if let Some(section) = ipam.section(address) {
                    plugin["ipam"] = section;
                }
                list(vec![plugin])
            }
        }
    }

    /// The minimal configuration, for reports (`None` for `vlan`).
    pub fn configuration(&self) -> Option<Value> {
        self.minimal
            .as_ref()
            .map(|m| Value::Object(m.plugin.clone()))
    }
}
/// The node-side link every host-master VLAN sits on.
pub const MASTER: &str = "master0";
/// The namespace holding the master's veth peer.
const WIRE: &str = "wire";
/// What the configurations ask for: the newest version upstream's plugins (1.1.1) speak.
const CNI_VERSION: &str = "1.0.0";

/// Which IPAM the plugin delegates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipam {
    None,
    /// The harness's `conform-ipam`: static addresses, Go-free, so it adds the same small cost
    /// to either plugin.
    Conform,
    /// Upstream's `static` (Go).
    Static,
}

impl Ipam {
    pub fn label(self) -> &'static str {
        match self {
            Ipam::None => "no IPAM",
            Ipam::Conform => "conform-ipam",
            Ipam::Static => "static IPAM",
        }
    }

    /// The `ipam` object handing out `address` (a CIDR), if any.
    fn section(self, address: &str) -> Option<Value> {
        let plugin = match self {
            Ipam::None => return None,
            Ipam::Conform => "conform-ipam",
            Ipam::Static => "static",
        };
        Some(json!({"type": plugin, "addresses": [{"address": address}]}))
    }
}

pub struct World {
    pub sandbox: Sandbox,
    cni_paths: Vec<(&'static str, CniPath)>,
}

impl World {
    /// A sandbox with `pods` and the master (another type: its pack's node), ready for
    /// `contenders`.
    pub fn new(
        contenders: &[Contender],
        pods: &[String],
        subject: &Subject,
    ) -> Result<World, String> {
        let topology = match &subject.minimal {
            None => Topology::default()
                .with_pods(pods.iter().cloned())
                .with_extra_netns([WIRE])
                .with_veth(Endpoint::new(NODE, MASTER), Endpoint::new(WIRE, "peer0")),
            Some(minimal) => {
                let mut topology = minimal.topology.clone();
                for pod in pods {
                    if !topology.pods.contains(pod) {
                        topology.pods.push(pod.clone());
                    }
                }
                topology
            }
        };
        let sandbox =
            Sandbox::new(&topology).map_err(|e| format!("cannot build the sandbox: {e}"))?;
        let cni_paths = contenders
            .iter()
            .map(|c| {
                let links = sandbox.dir().join(format!("bin-{}", c.label));
                CniPath::standard(
                    &links,
                    &[(subject.plugin_type.as_str(), c.binary.as_path())],
                )
                .map(|path| (c.label, path))
                .map_err(|e| format!("cannot prepare CNI_PATH for {}: {e}", c.label))
            })
            .collect::<Result<_, _>>()?;
        Ok(World { sandbox, cni_paths })
    }

    /// A runtime running `contender` under its type, with a result cache of its own.
    pub fn runtime(&self, contender: &Contender) -> Runtime<'_> {
        let (label, cni_path) = self
            .cni_paths
            .iter()
            .find(|(label, _)| *label == contender.label)
            .expect("the world was built for every contender");
        Runtime::new(
            self.sandbox.node(),
            cni_path.clone(),
            self.sandbox.dir().join(format!("cache-{label}")),
        )
    }

    /// Runs one measurement; when it fails, deletes whatever the plugin left in the pods (e.g.
    /// upstream `vlan` keeps the link when its IPAM fails, and its DEL stops at the IPAM error),
    /// so the other contender starts from a clean sandbox.
    pub fn guarded<T>(&self, measure: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let outcome = measure();
        if outcome.is_err() {
            self.clear_pods()
                .map_err(|e| format!("cleaning up after a failure: {e}"))?;
        }
        outcome
    }

    /// Deletes every link but `lo` in every pod.
    pub fn clear_pods(&self) -> Result<(), SandboxError> {
        let sandbox = &self.sandbox;
        sandbox.block_on(async {
            for pod in &sandbox.topology().pods {
                let handle = sandbox.handle(pod)?;
                let links = netlink::links(&handle)
                    .await
                    .context(|| format!("listing the links of {pod}"))?;
                for link in links.iter().filter(|l| link_name(l) != Some("lo")) {
                    match netlink::delete_link(&handle, link.header.index).await {
                        // Went with its veth peer or its master meanwhile.
                        Err(e) if netlink::errno(&e) == Some(Errno::ENODEV) => {}
                        other => other.context(|| format!("deleting a leftover link in {pod}"))?,
                    }
                }
            }
            Ok(())
        })
    }

    /// An attachment of a pod of this sandbox.
    pub fn attachment(&self, pod: &str, container_id: &str, ifname: &str) -> Attachment {
        let path = self
            .sandbox
            .netns_path(pod)
            .expect("benchmarks only attach to pods of their own sandbox");
        Attachment::new(container_id, ifname, &path)
    }
}

/// A VLAN with `vlan_id` on `master` (a node link), moved into the pod.
pub fn host_master_list(
    master: &str,
    vlan_id: u16,
    ipam: Ipam,
    address: &str,
) -> NetworkConfigList {
    let mut vlan = json!({"type": VLAN, "master": master, "vlanId": vlan_id});
    if let Some(section) = ipam.section(address) {
        vlan["ipam"] = section;
    }
    list(vec![vlan])
}

/// `conform-veth` makes the pod's interface, then the plugin puts a VLAN on it inside the pod
/// (`linkInContainer`, no `master`): the chaining mode of the reference plugin.
pub fn chained_list(vlan_id: u16, ipam: Ipam, address: &str) -> NetworkConfigList {
    let mut vlan = json!({"type": VLAN, "linkInContainer": true, "vlanId": vlan_id});
    if let Some(section) = ipam.section(address) {
        vlan["ipam"] = section;
    }
    list(vec![json!({"type": "conform-veth"}), vlan])
}

fn list(plugins: Vec<Value>) -> NetworkConfigList {
    let value = json!({"cniVersion": CNI_VERSION, "name": "bench", "plugins": plugins});
    NetworkConfigList::from_value(value).expect("benchmark configurations are valid")
}

/// The execution of the plugin under test in a chain run: the one plugin of the benchmarks'
/// lists that is not a fixture.
pub fn plugin_exec<T, E>(run: &ChainRun<T, E>) -> Option<&Execution> {
    run.executions
        .iter()
        .find(|e| !FIXTURE_PLUGINS.contains(&e.plugin.as_str()))
}

pub fn millis(execution: &Execution) -> f64 {
    execution.wall_time.as_secs_f64() * 1000.0
}

/// Sum of the wall times of every execution of a chain run, in ms.
pub fn chain_millis<T, E>(run: &ChainRun<T, E>) -> f64 {
    run.executions.iter().map(millis).sum()
}

/// The plugin's execution of a successful operation, or why it failed.
pub fn succeeded<T>(run: &ChainRun<T>) -> Result<&Execution, String> {
    if let Err(e) = &run.outcome {
        return Err(e.to_string());
    }
    plugin_exec(run).ok_or_else(|| "the plugin was not run".to_string())
}

/// Whether `path` names a runnable file (what `--vs` defaults to looking for).
pub fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}
