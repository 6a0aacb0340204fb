//! The kernel seam. Every netlink request the plugin sends is built behind [`Netlink`]: the real
//! implementation is [`rtnl::Rtnl`] (blocking route sockets in the two namespaces), and unit tests use
//! a recording fake (`fake.rs`) so the exact requests of each mode can be snapshotted.
//!
//! The VLAN itself always lives in `CNI_NETNS`, so only the lookups and the creation name a
//! [`Namespace`]; every other operation acts in `CNI_NETNS`.

use std::io;
use std::net::IpAddr;

use cni_types::Route;
use ipnet::IpNet;
use nix::errno::Errno;
use serde::Serialize;

#[cfg(test)]
pub mod fake;
pub mod rtnl;

/// Which network namespace a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Namespace {
    /// The namespace the plugin was started in (the runtime's, "the host").
    Runtime,
    /// `CNI_NETNS`.
    Container,
}

impl Namespace {
    pub fn describe(self) -> &'static str {
        match self {
            Namespace::Runtime => "the runtime's network namespace",
            Namespace::Container => "CNI_NETNS",
        }
    }
}

/// A link as the plugin sees it; parsed in the crate the conformance harness shares.
pub use netlink_facts::LinkFacts as Link;
pub use netlink_facts::{LowerLink, VlanProtocol, VlanTag};

/// A VLAN to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewVlan<'a> {
    pub temp_name: &'a str,
    pub parent_index: u32,
    pub tag: VlanTag,
    /// `None` inherits the parent's MTU.
    pub mtu: Option<u32>,
    /// Create it directly in `CNI_NETNS` (`IFLA_NET_NS_FD`) although the request goes to the
    /// runtime's namespace, where the parent is.
    pub into_container: bool,
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledRoute {
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub table: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel answered with this errno.
    #[error("{0}")]
    Kernel(Errno),
    /// A transient errno (EBUSY, EAGAIN, ENOBUFS) that outlasted the bounded retries.
    #[error("{errno}, still after {attempts} attempts")]
    Contended { errno: Errno, attempts: u32 },
    /// The netlink conversation itself failed (socket, unexpected message).
    #[error("netlink: {0}")]
    Protocol(String),
}

impl NetlinkError {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetlinkError::Kernel(errno) | NetlinkError::Contended { errno, .. } => Some(*errno),
            NetlinkError::Protocol(_) => None,
        }
    }

    pub fn is_contention(&self) -> bool {
        matches!(self, NetlinkError::Contended { .. })
    }
}

/// The kernel operations the plugin performs. The methods are `fn`s used generically on a
/// single-threaded runtime, so no `Send` bound is wanted.
pub trait Netlink {
    fn link_by_name(&self, ns: Namespace, name: &str) -> Result<Option<Link>, NetlinkError>;

    /// Sent to `ns`, the namespace holding the parent.
    fn create_vlan(&self, ns: Namespace, vlan: &NewVlan<'_>) -> Result<(), NetlinkError>;

    /// The link must be down (the kernel answers EBUSY otherwise).
    fn rename_link(&self, index: u32, name: &str) -> Result<(), NetlinkError>;

    fn set_link_up(&self, index: u32) -> Result<(), NetlinkError>;

    fn delete_link(&self, index: u32) -> Result<(), NetlinkError>;

    /// IPv6 addresses are added with IFA_F_NODAD: IPAM already guarantees uniqueness, and a
    /// tentative address would make routes via an IPv6 gateway fail until DAD completes.
    fn add_address(&self, index: u32, address: IpNet) -> Result<(), NetlinkError>;

    /// Adds (appends, like upstream's `RouteAddEcmp`) a route through the link; `route.gw` is
    /// the gateway to use, already resolved.
    fn add_route(&self, index: u32, route: &Route) -> Result<(), NetlinkError>;

    fn addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError>;

    /// Routes whose output interface is the link, in every table.
    fn routes(&self, index: u32) -> Result<Vec<InstalledRoute>, NetlinkError>;

    /// The id `CNI_NETNS` gives the runtime's namespace (what a VLAN created from the runtime's
    /// namespace reports as its parent's `IFLA_LINK_NETNSID`), if one is assigned.
    fn runtime_netns_id(&self) -> Result<Option<i32>, NetlinkError>;

    /// Sets `net.ipv6.conf.<ifname>.disable_ipv6 = 0` in `CNI_NETNS`. Not netlink, but a
    /// per-namespace kernel write all the same, so it sits behind the seam too.
    fn enable_ipv6(&self, ifname: &str) -> Result<(), io::Error>;
}
