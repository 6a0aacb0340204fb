//! Which kernel runs the VLAN work: this one when it can make 802.1Q links and we hold
//! CAP_NET_ADMIN, User-Mode Linux otherwise. Never a silent skip: without either, a VLAN test
//! fails with a message saying what to install.

use std::io;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{IpVlanMode, MacVlanMode};
use rtnetlink::{LinkBridge, LinkDummy, LinkIpVlan, LinkMacVlan, LinkVeth, LinkVlan};

use crate::netns::Netns;
use crate::source_tree;

/// The runner script (also cargo's test runner through ci/kernel-runner), embedded so the
/// installed `cni-conform` binary can boot UML on its own.
pub const UML_RUN_SCRIPT: &str = include_str!("../../ci/uml-run");

/// What `ci/setup` runs to fetch User-Mode Linux, embedded so an installed `cni-conform` can
/// provide it too (`cni-conform fetch-uml`).
pub const UML_FETCH_SCRIPT: &str = include_str!("../../ci/uml-fetch");

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Native,
    Uml,
}

/// The kernel this process runs on, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelInfo {
    pub release: String,
    pub backend: Backend,
    /// Inside UML: which UML and mode, as the runner describes it (e.g. "user-mode-linux 7.2um1
    /// from Debian unstable, seccomp mode"), since the package version and the mode matter for
    /// speed and for which host CPUs it boots on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uml: Option<String>,
}

impl std::fmt::Display for KernelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.backend, &self.uml) {
            (Backend::Native, _) => write!(f, "Linux {} (native)", self.release),
            (Backend::Uml, Some(uml)) => {
                write!(f, "Linux {} (User-Mode Linux: {uml})", self.release)
            }
            (Backend::Uml, None) => write!(f, "Linux {} (User-Mode Linux)", self.release),
        }
    }
}

/// `uname -r`, and whether (and which) UML guest we are inside.
pub fn current() -> KernelInfo {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    let (backend, uml) = if inside_uml() {
        let uml = std::env::var("CNI_CONFORM_UML_DESCRIPTION").ok();
        (Backend::Uml, uml.filter(|d| !d.is_empty()))
    } else {
        (Backend::Native, None)
    };
    KernelInfo {
        release,
        backend,
        uml,
    }
}

/// Whether this process runs inside the UML guest. The runner marks it in the environment; the
/// UML kernel's release carries no marker, so the variable is the source of truth.
pub fn inside_uml() -> bool {
    std::env::var("CNI_CONFORM_KERNEL_RUNNER").as_deref() == Ok("uml")
}

#[derive(Debug, thiserror::Error)]
pub enum VlanSupportError {
    #[error("this kernel ({release}) cannot create 802.1Q VLAN links ({cause}); {advice}")]
    NoVlan {
        release: String,
        cause: String,
        /// What to do, naming only commands this binary's user has.
        advice: &'static str,
    },
    #[error(
        "network namespaces cannot be created here ({0}); run as root (CAP_SYS_ADMIN and \
         CAP_NET_ADMIN are needed)"
    )]
    NoPrivilege(io::Error),
}

/// What to do without 802.1Q: in a clone, the test runner and `ci/setup`; installed, the
/// kernel module or the commands the package has.
fn no_vlan_advice() -> &'static str {
    source_tree::advice(
        "run the tests through ci/kernel-runner (plain `cargo test` does, via \
         .cargo/config.toml), which boots User-Mode Linux; ci/setup provides it",
        "load the 8021q module (modprobe 8021q), or let `cni-conform run` boot User-Mode Linux \
         by itself (--kernel auto, the default) once `cni-conform fetch-uml` (as root) has \
         fetched it",
    )
}

/// Creates a veth and a VLAN on it in a throwaway namespace, in-process.
pub fn probe_vlan() -> Result<(), VlanSupportError> {
    let dir = tempfile::tempdir().map_err(VlanSupportError::NoPrivilege)?;
    let ns =
        Netns::create("probe", &dir.path().join("probe")).map_err(VlanSupportError::NoPrivilege)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(VlanSupportError::NoPrivilege)?;
    let outcome: Result<(), String> = runtime.block_on(async {
        let handle = ns.handle().map_err(|e| e.to_string())?;
        create_probe_links(&handle).await.map_err(|e| e.to_string())
    });
    outcome.map_err(|cause| VlanSupportError::NoVlan {
        release: current().release,
        cause,
        advice: no_vlan_advice(),
    })
}

async fn create_probe_links(handle: &rtnetlink::Handle) -> Result<(), rtnetlink::Error> {
    handle
        .link()
        .add(LinkVeth::new("probe0", "probe1").build())
        .execute()
        .await?;
    let parent = link_index(handle, "probe0").await?;
    handle
        .link()
        .add(LinkVlan::new("probe0.9", parent, 9).build())
        .execute()
        .await?;
    Ok(())
}

/// A kind of link a plugin type makes; a pack lists those its type needs (`kernel:` in its
/// pack.yaml) and the suite probes them before its cases run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Vlan,
    Veth,
    Macvlan,
    Ipvlan,
    Bridge,
    Dummy,
    /// A tap device: /dev/net/tun.
    Tap,
}

impl LinkKind {
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Vlan => "vlan",
            LinkKind::Veth => "veth",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Bridge => "bridge",
            LinkKind::Dummy => "dummy",
            LinkKind::Tap => "tap",
        }
    }

    /// The kernel module that provides it (what ci/uml-run loads inside User-Mode Linux).
    pub fn module(self) -> &'static str {
        match self {
            LinkKind::Vlan => "8021q",
            LinkKind::Tap => "tun",
            other => other.name(),
        }
    }
}

/// The kinds of `kinds` this kernel cannot make, each with the kernel's answer: tried in a
/// throwaway namespace, in-process (a tap is /dev/net/tun opened).
pub fn missing_link_kinds(kinds: &[LinkKind]) -> Result<Vec<(LinkKind, String)>, String> {
    let no_privilege = |e: io::Error| VlanSupportError::NoPrivilege(e).to_string();
    let dir = tempfile::tempdir().map_err(no_privilege)?;
    let ns = Netns::create("probe", &dir.path().join("probe")).map_err(no_privilege)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(no_privilege)?;
    runtime.block_on(async {
        let handle = ns.handle().map_err(|e| e.to_string())?;
        handle
            .link()
            .add(LinkVeth::new("probe0", "probe1").build())
            .execute()
            .await
            .map_err(|e| format!("cannot make the veth pair every pack needs: {e}"))?;
        let parent = link_index(&handle, "probe0")
            .await
            .map_err(|e| e.to_string())?;
        let mut missing = Vec::new();
        for (n, kind) in kinds.iter().enumerate() {
            let name = format!("probe{}", n + 2);
            let message = match kind {
                LinkKind::Veth => continue,
                LinkKind::Vlan => LinkVlan::new(&name, parent, 9).build(),
                LinkKind::Macvlan => LinkMacVlan::new(&name, parent, MacVlanMode::Bridge).build(),
                LinkKind::Ipvlan => LinkIpVlan::new(&name, parent, IpVlanMode::L2).build(),
                LinkKind::Bridge => LinkBridge::new(&name).build(),
                LinkKind::Dummy => LinkDummy::new(&name).build(),
                LinkKind::Tap => {
                    if let Err(e) = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open("/dev/net/tun")
                    {
                        missing.push((*kind, format!("/dev/net/tun: {e}")));
                    }
                    continue;
                }
            };
            if let Err(e) = handle.link().add(message).execute().await {
                missing.push((*kind, e.to_string()));
            }
        }
        Ok(missing)
    })
}

async fn link_index(handle: &rtnetlink::Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    Ok(handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await?
        .map(|m| m.header.index)
        .unwrap_or(0))
}

/// For tests that need a VLAN: fails (never skips) with what to do when the kernel lacks one.
pub fn require_vlan() {
    if let Err(e) = probe_vlan() {
        panic!("{e}");
    }
}
