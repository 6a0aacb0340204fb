//! A scenario's private piece of network: a node namespace standing in for the host, the pod
//! namespaces, and the veth topology between them, all as bind-mounted netns files in the
//! sandbox's own temp folder (no `ip netns`, no `/run/netns` names, so any number of sandboxes
//! can live at once without colliding). Every kernel change is made in-process through
//! rtnetlink. Dropping the sandbox removes every mount and the folder, also while a test
//! panics; it never touches a link outside its own namespaces.
//!
//! The API is synchronous: each sandbox owns a current-thread tokio runtime and blocks on it,
//! so callers are plain `#[test]`s and the CLI (not async code: a runtime cannot block inside
//! another one).

pub(crate) mod netlink;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cni_types::names::validate_ifname;
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::Handle;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use tempfile::TempDir;

use crate::netns::Netns;
use crate::topology::{Endpoint, NODE, Topology, TopologyError, VlanTag};

/// Where the netns files live inside the sandbox folder (the rest is free for the runtime's
/// cache and reports).
const NETNS_SUBDIR: &str = "netns";

/// The loopback is part of every namespace; nothing the sandbox lists or deletes.
const LOOPBACK: &str = "lo";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid topology: {0}")]
    Topology(#[from] TopologyError),
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("no netns named {0:?} in this sandbox")]
    UnknownNetns(String),
    #[error("no link {name:?} in netns {netns:?}")]
    NoSuchLink { netns: String, name: String },
    #[error("no address {cidr} on link {name:?} in netns {netns:?}")]
    NoSuchAddress {
        netns: String,
        name: String,
        cidr: IpNet,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {}", describe_netlink(source))]
    Netlink {
        context: String,
        #[source]
        source: rtnetlink::Error,
    },
}

impl SandboxError {
    /// The kernel's errno behind this error, if the kernel refused something.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            SandboxError::Netlink { source, .. } => netlink::errno(source),
            SandboxError::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }
}

fn describe_netlink(error: &rtnetlink::Error) -> String {
    match netlink::errno(error) {
        Some(errno) => errno.to_string(),
        None => error.to_string(),
    }
}

/// Attaches what was being done to a kernel error, keeping the error (and its errno) as source.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, SandboxError>;
}

impl<T> Context<T> for Result<T, io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, SandboxError> {
        self.map_err(|source| SandboxError::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for Result<T, rtnetlink::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, SandboxError> {
        self.map_err(|source| SandboxError::Netlink {
            context: what(),
            source,
        })
    }
}

#[derive(Debug)]
pub struct Sandbox {
    topology: Topology,
    /// Live namespaces by name; [`Sandbox::delete_netns`] removes entries. Dropped before
    /// `dir`, so every mount is gone when the folder is removed.
    namespaces: BTreeMap<String, Netns>,
    runtime: tokio::runtime::Runtime,
    dir: TempDir,
}

impl Sandbox {
    /// Builds the topology in a new folder under the system temp folder.
    pub fn new(topology: &Topology) -> Result<Sandbox, SandboxError> {
        Sandbox::new_in(topology, &std::env::temp_dir())
    }

    /// Builds the topology in a new folder under `parent`. Validates first, so an invalid
    /// topology creates nothing; a kernel failure half-way removes everything made so far.
    pub fn new_in(topology: &Topology, parent: &Path) -> Result<Sandbox, SandboxError> {
        topology.validate()?;
        let dir = tempfile::Builder::new()
            .prefix("cni-conform-")
            .tempdir_in(parent)
            .context(|| format!("creating a sandbox folder in {}", parent.display()))?;
        std::fs::create_dir(dir.path().join(NETNS_SUBDIR))
            .context(|| format!("creating {}/{NETNS_SUBDIR}", dir.path().display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context(|| "starting the sandbox's tokio runtime".into())?;
        // From here on, an early return drops `sandbox`, which unmounts what exists so far.
        let mut sandbox = Sandbox {
            topology: topology.clone(),
            namespaces: BTreeMap::new(),
            runtime,
            dir,
        };
        for name in topology.netns_names() {
            let path = sandbox.netns_file(name);
            let netns =
                Netns::create(name, &path).context(|| format!("creating netns {name:?}"))?;
            sandbox.namespaces.insert(name.to_string(), netns);
        }
        for pair in &topology.veths {
            let [a, b] = &pair.ends;
            sandbox.block_on(sandbox.create_veth(a, b))?;
        }
        for bridge in &topology.bridges {
            sandbox.block_on(sandbox.create_bridge(bridge))?;
        }
        Ok(sandbox)
    }

    /// The sandbox's own folder: the runtime's cache and the reports go here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The namespace standing in for the host.
    pub fn node(&self) -> &Netns {
        &self.namespaces[NODE]
    }

    /// A live pod namespace.
    pub fn pod(&self, name: &str) -> Option<&Netns> {
        if self.topology.pods.iter().any(|pod| pod == name) {
            self.namespaces.get(name)
        } else {
            None
        }
    }

    /// Any live namespace of the sandbox: node, pod or extra.
    pub fn netns(&self, name: &str) -> Option<&Netns> {
        self.namespaces.get(name)
    }

    /// Names of the live namespaces, sorted.
    pub fn netns_names(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// Where the file of a namespace the topology declares is (or was, after
    /// [`Sandbox::delete_netns`]): what a runtime passes as `CNI_NETNS`.
    pub fn netns_path(&self, name: &str) -> Option<PathBuf> {
        self.topology
            .netns_names()
            .any(|declared| declared == name)
            .then(|| self.netns_file(name))
    }

    /// Adds a veth pair the way the topology's pairs are made.
    pub fn add_veth(&self, a: &Endpoint, b: &Endpoint) -> Result<(), SandboxError> {
        for (field, end) in [("veth end a", a), ("veth end b", b)] {
            end.validate(field)?;
            self.live(&end.netns)?;
        }
        self.block_on(self.create_veth(a, b))
    }

    /// Adds a VLAN on `parent` (in `parent_netns`), placed, named and set up as `link` says:
    /// e.g. a VLAN with another id, or a link squatting on the name a plugin will want.
    pub fn add_vlan(
        &self,
        link: &Endpoint,
        parent_netns: &str,
        parent: &str,
        tag: VlanTag,
    ) -> Result<(), SandboxError> {
        link.validate("vlan")?;
        if tag.id > 4094 {
            return Err(SandboxError::InvalidArgument {
                what: "vlan id",
                value: tag.id.to_string(),
                reason: "802.1Q ids are 0..=4094".into(),
            });
        }
        self.live(&link.netns)?;
        self.block_on(async {
            let handle = self.handle(parent_netns)?;
            let parent_index = self.index_of(&handle, parent_netns, parent).await?;
            let [temp] = self
                .add_under_temp_names(&handle, parent_netns, |[temp]| {
                    netlink::vlan(temp, parent_index, tag)
                })
                .await?;
            self.settle(&handle, parent_netns, &[(temp, link)]).await
        })
    }

    pub fn delete_link(&self, netns: &str, name: &str) -> Result<(), SandboxError> {
        self.block_on(async {
            let handle = self.handle(netns)?;
            let index = self.index_of(&handle, netns, name).await?;
            netlink::delete_link(&handle, index)
                .await
                .context(|| format!("deleting link {netns}/{name}"))
        })
    }

    pub fn set_mtu(&self, netns: &str, name: &str, mtu: u32) -> Result<(), SandboxError> {
        self.change_link(netns, name, &format!("setting mtu {mtu} on"), |index| {
            netlink::set_mtu(index, mtu)
        })
    }

    /// Sets the admin state (IFF_UP).
    pub fn set_up(&self, netns: &str, name: &str, up: bool) -> Result<(), SandboxError> {
        let what = if up { "bringing up" } else { "bringing down" };
        self.change_link(netns, name, what, |index| netlink::set_up(index, up))
    }

    /// Adds `cidr` (address with its prefix length, host bits kept) to a link.
    pub fn add_address(&self, netns: &str, name: &str, cidr: IpNet) -> Result<(), SandboxError> {
        self.block_on(async {
            let handle = self.handle(netns)?;
            let index = self.index_of(&handle, netns, name).await?;
            let added = netlink::add_address(&handle, index, cidr).await;
            let without_ipv6 = matches!(&added, Err(e) if cidr.addr().is_ipv6()
                && netlink::errno(e) == Some(Errno::EOPNOTSUPP));
            added.context(|| {
                let hint = if without_ipv6 {
                    " (this kernel runs without IPv6; under User-Mode Linux load the ipv6 module)"
                } else {
                    ""
                };
                format!("adding address {cidr} to {netns}/{name}{hint}")
            })
        })
    }

    pub fn remove_address(&self, netns: &str, name: &str, cidr: IpNet) -> Result<(), SandboxError> {
        self.block_on(async {
            let handle = self.handle(netns)?;
            let index = self.index_of(&handle, netns, name).await?;
            let context = || format!("removing address {cidr} from {netns}/{name}");
            let address = netlink::find_address(&handle, index, cidr)
                .await
                .context(context)?
                .ok_or_else(|| SandboxError::NoSuchAddress {
                    netns: netns.into(),
                    name: name.into(),
                    cidr,
                })?;
            netlink::delete_address(&handle, address)
                .await
                .context(context)
        })
    }

    /// Adds a main-table route to `dst` (a network: no host bits), via `gateway` (same family)
    /// and/or out of `device`.
    pub fn add_route(
        &self,
        netns: &str,
        dst: IpNet,
        gateway: Option<IpAddr>,
        device: Option<&str>,
    ) -> Result<(), SandboxError> {
        if dst != dst.trunc() {
            return Err(SandboxError::InvalidArgument {
                what: "route destination",
                value: dst.to_string(),
                reason: format!("has host bits set (the network is {})", dst.trunc()),
            });
        }
        if let Some(gateway) = gateway.filter(|gw| gw.is_ipv4() != dst.addr().is_ipv4()) {
            return Err(SandboxError::InvalidArgument {
                what: "route gateway",
                value: gateway.to_string(),
                reason: format!("is not of the same family as the destination {dst}"),
            });
        }
        self.block_on(async {
            let handle = self.handle(netns)?;
            let device_index = match device {
                Some(name) => Some(self.index_of(&handle, netns, name).await?),
                None => None,
            };
            let route = netlink::route(dst, gateway, device_index);
            netlink::add_route(&handle, route).await.context(|| {
                let via = gateway.map(|gw| format!(" via {gw}")).unwrap_or_default();
                let dev = device.map(|d| format!(" dev {d}")).unwrap_or_default();
                format!("adding route {dst}{via}{dev} in netns {netns}")
            })
        })
    }

    pub fn link_exists(&self, netns: &str, name: &str) -> Result<bool, SandboxError> {
        self.block_on(async {
            let handle = self.handle(netns)?;
            Ok(self.find_link(&handle, netns, name).await?.is_some())
        })
    }

    /// Deletes a pod (or extra) namespace: its file disappears, so a `CNI_NETNS` naming it
    /// points nowhere, and its links die as they do when a namespace goes away (a veth's peer
    /// with it). The node namespace lives as long as the sandbox.
    pub fn delete_netns(&mut self, name: &str) -> Result<(), SandboxError> {
        if name == NODE {
            return Err(SandboxError::InvalidArgument {
                what: "netns",
                value: name.into(),
                reason: "the node netns lives as long as the sandbox".into(),
            });
        }
        // The kernel dismantles a dead namespace later, on a workqueue; deleting its links now
        // makes the effect complete when this returns, so a following snapshot cannot race it.
        self.block_on(async {
            let handle = self.handle(name)?;
            let links = netlink::links(&handle)
                .await
                .context(|| format!("listing the links of netns {name}"))?;
            for link in links.iter().filter(|l| link_name(l) != Some(LOOPBACK)) {
                match netlink::delete_link(&handle, link.header.index).await {
                    // Gone already: the peer or parent of a link deleted before it.
                    Err(e) if netlink::errno(&e) == Some(Errno::ENODEV) => {}
                    other => other.context(|| {
                        let link = link_name(link).unwrap_or("?");
                        format!("deleting link {name}/{link} with its netns")
                    })?,
                }
            }
            Ok::<(), SandboxError>(())
        })?;
        let netns = self
            .namespaces
            .remove(name)
            .ok_or_else(|| SandboxError::UnknownNetns(name.into()))?;
        netns
            .remove()
            .context(|| format!("removing the file of netns {name}"))
    }

    /// Runs `future` to completion on the sandbox's runtime (rtnetlink connections spawned by
    /// [`Sandbox::handle`] are driven meanwhile).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// An rtnetlink handle in a live namespace. Call inside [`Sandbox::block_on`].
    pub(crate) fn handle(&self, netns: &str) -> Result<Handle, SandboxError> {
        self.live(netns)?
            .handle()
            .context(|| format!("opening a netlink socket in netns {netns}"))
    }

    /// The live namespaces, sorted by name.
    pub(crate) fn namespaces(&self) -> impl Iterator<Item = (&str, &Netns)> {
        self.namespaces.iter().map(|(n, ns)| (n.as_str(), ns))
    }

    fn live(&self, netns: &str) -> Result<&Netns, SandboxError> {
        self.namespaces
            .get(netns)
            .ok_or_else(|| SandboxError::UnknownNetns(netns.into()))
    }

    fn netns_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(NETNS_SUBDIR).join(name)
    }

    async fn create_veth(&self, a: &Endpoint, b: &Endpoint) -> Result<(), SandboxError> {
        let node = self.handle(NODE)?;
        let [temp_a, temp_b] = self
            .add_under_temp_names(&node, NODE, |[a, b]| netlink::veth(a, b))
            .await?;
        self.settle(&node, NODE, &[(temp_a, a), (temp_b, b)]).await
    }

    /// Made in its own namespace: a bridge is netns-local (NETIF_F_NETNS_LOCAL), the kernel
    /// refuses to move one (EINVAL), so a bridge of a pod cannot be made on the node first.
    async fn create_bridge(&self, bridge: &Endpoint) -> Result<(), SandboxError> {
        let handle = self.handle(&bridge.netns)?;
        let [temp] = self
            .add_under_temp_names(&handle, &bridge.netns, |[name]| netlink::bridge(name))
            .await?;
        self.settle(&handle, &bridge.netns, &[(temp, bridge)]).await
    }

    /// Creates a link under free temporary names in `netns`: the final names may be taken there
    /// (they only need to be free where the link ends up), and a new link is created in its
    /// creator's namespace first.
    async fn add_under_temp_names<const N: usize>(
        &self,
        handle: &Handle,
        netns: &str,
        build: impl Fn(&[String; N]) -> LinkMessage,
    ) -> Result<[String; N], SandboxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let names =
                std::array::from_fn(|_| format!("cctmp{}", NEXT.fetch_add(1, Ordering::Relaxed)));
            match netlink::add_link(handle, build(&names)).await {
                // Someone (a plugin, a test) uses such a name already: take the next ones.
                Err(e) if netlink::errno(&e) == Some(Errno::EEXIST) => continue,
                other => other.context(|| format!("creating a link in netns {netns}"))?,
            }
            return Ok(names);
        }
    }

    /// Moves, renames and configures links just created under temp names in `from`. If one
    /// fails, it and the links not placed yet are deleted (best effort: the error to report is
    /// the first one), so nothing half-made stays.
    async fn settle(
        &self,
        from: &Handle,
        from_netns: &str,
        links: &[(String, &Endpoint)],
    ) -> Result<(), SandboxError> {
        for (done, (temp, end)) in links.iter().enumerate() {
            let Err(error) = self.settle_one(from, from_netns, temp, end).await else {
                continue;
            };
            // The kernel applies the request step by step (move under the current name, rename,
            // MTU, flags), so the failed link is under its temp name here or in its target, or,
            // if only the MTU or flags failed, under its final name: that name was free before,
            // so the link under it is ours. A name that was taken is never touched.
            // (A failed look-up counts as found: better a leftover than a wrong deletion.)
            let under_temp_name = self
                .delete_link_if_present(from_netns, temp)
                .await
                .unwrap_or(true)
                || self
                    .delete_link_if_present(&end.netns, temp)
                    .await
                    .unwrap_or(true);
            if !under_temp_name {
                let _ = self.delete_link_if_present(&end.netns, &end.name).await;
            }
            for (unplaced, _) in &links[done + 1..] {
                let _ = self.delete_link_if_present(from_netns, unplaced).await;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Whether there was such a link to delete.
    async fn delete_link_if_present(&self, netns: &str, name: &str) -> Result<bool, SandboxError> {
        let handle = self.handle(netns)?;
        let Some(link) = self.find_link(&handle, netns, name).await? else {
            return Ok(false);
        };
        match netlink::delete_link(&handle, link.header.index).await {
            // Went with its veth peer in the meantime.
            Err(e) if netlink::errno(&e) == Some(Errno::ENODEV) => Ok(true),
            other => other
                .map(|()| true)
                .context(|| format!("deleting link {netns}/{name}")),
        }
    }

    async fn settle_one(
        &self,
        from: &Handle,
        from_netns: &str,
        temp: &str,
        end: &Endpoint,
    ) -> Result<(), SandboxError> {
        let index = self.index_of(from, from_netns, temp).await?;
        let target = (end.netns != from_netns)
            .then(|| self.live(&end.netns).map(|ns| ns.fd()))
            .transpose()?;
        netlink::change_link(from, netlink::settle(index, end, target))
            .await
            .context(|| {
                let mtu = end.mtu.map(|m| format!(", mtu {m}")).unwrap_or_default();
                let state = if end.up { "up" } else { "down" };
                format!(
                    "placing a new link as {}/{}{mtu}, {state}",
                    end.netns, end.name
                )
            })
    }

    async fn find_link(
        &self,
        handle: &Handle,
        netns: &str,
        name: &str,
    ) -> Result<Option<LinkMessage>, SandboxError> {
        // A name the kernel cannot hold would come back as a confusing EINVAL or ENODEV.
        validate_ifname(name).map_err(|reason| SandboxError::InvalidArgument {
            what: "link name",
            value: name.into(),
            reason: reason.to_string(),
        })?;
        netlink::find_link(handle, name)
            .await
            .context(|| format!("looking up link {netns}/{name}"))
    }

    async fn index_of(
        &self,
        handle: &Handle,
        netns: &str,
        name: &str,
    ) -> Result<u32, SandboxError> {
        match self.find_link(handle, netns, name).await? {
            Some(link) => Ok(link.header.index),
            None => Err(SandboxError::NoSuchLink {
                netns: netns.into(),
                name: name.into(),
            }),
        }
    }

    fn change_link(
        &self,
        netns: &str,
        name: &str,
        what: &str,
        change: impl FnOnce(u32) -> LinkMessage,
    ) -> Result<(), SandboxError> {
        self.block_on(async {
            let handle = self.handle(netns)?;
            let index = self.index_of(&handle, netns, name).await?;
            netlink::change_link(&handle, change(index))
                .await
                .context(|| format!("{what} {netns}/{name}"))
        })
    }
}

pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}
