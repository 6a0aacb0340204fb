//! The kernel state of a sandbox as a normalized, deterministic model: what scenarios compare
//! and insta stores as YAML. Everything that varies between two runs of the same scenario is
//! replaced by something that does not: ifindexes by names (`<netns>/<link>` across
//! namespaces), MAC addresses by symbols (`mac-1`, ...; equal MACs get equal symbols), sandbox
//! paths by netns names; namespaces, links, addresses and routes are sorted by name and value,
//! never by ifindex or dump order.

mod host;
mod kernel_view;
mod result;
mod result_interfaces;

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use host::{HostLink, HostNetworkState};
use kernel_view::{NetnsDump, RouteFacts};
pub use result_interfaces::missing_result_interfaces;

use crate::sandbox::{Sandbox, SandboxError};
use crate::topology::VlanTag;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every live namespace of the sandbox, by name.
    pub netns: BTreeMap<String, NetnsState>,
    /// The CNI result the runtime got, normalized the same way (see [`Snapshot::capture_with_result`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsState {
    /// Sorted by name; `lo` left out.
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    /// The rtnetlink kind (`veth`, `vlan`, ...); absent for devices without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<VlanTag>,
    /// The lower device (`<netns>/<name>`) of a link stacked on another, e.g. a VLAN's parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The other end (`<netns>/<name>`) of a veth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub mtu: u32,
    /// Admin state (IFF_UP), not carrier.
    pub up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The bridge (`<netns>/<name>`) a port belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// A macvlan's or ipvlan's mode (`bridge`, `private`, `l2`, `l3s`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub link: String,
    /// Address with its prefix length.
    pub cidr: String,
    pub family: Family,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// A CIDR, or `default` for 0.0.0.0/0 and ::/0.
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub scope: String,
}

/// Where links live after the dump: `(netns, ifindex) -> name`, and per namespace which sandbox
/// namespace each of its nsids stands for.
struct Names<'a> {
    links: BTreeMap<(&'a str, u32), &'a str>,
    nsids: BTreeMap<&'a str, BTreeMap<i32, &'a str>>,
}

/// Hands out `mac-1`, `mac-2`, ... in first-seen order; the same MAC always gets the same one.
#[derive(Default)]
struct MacSymbols(BTreeMap<String, String>);

impl Snapshot {
    pub fn capture(sandbox: &Sandbox) -> Result<Snapshot, SandboxError> {
        Snapshot::capture_with_result(sandbox, None)
    }

    /// Also normalizes `result` (the CNI result JSON a plugin printed, any version's shape):
    /// paths of sandbox namespaces become their names, other paths inside the sandbox folder
    /// start with `<sandbox>`, and every `mac` value becomes the symbol the links use, so a
    /// result MAC equal to a link's MAC shows the same symbol.
    pub fn capture_with_result(
        sandbox: &Sandbox,
        result: Option<&serde_json::Value>,
    ) -> Result<Snapshot, SandboxError> {
        let dumps = kernel_view::dump_sandbox(sandbox)?;
        let names = Names::of(&dumps);
        let mut macs = MacSymbols::default();
        let netns = dumps
            .iter()
            .map(|(netns, dump)| {
                let state = normalize_netns(netns, dump, &names, &mut macs);
                (netns.clone(), state)
            })
            .collect();
        let result = result.map(|r| result::normalize(r, sandbox, &mut |mac| macs.symbol(mac)));
        Ok(Snapshot { netns, result })
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a snapshot is plain data and always serializes")
    }
}

fn normalize_netns(
    netns: &str,
    dump: &NetnsDump,
    names: &Names,
    macs: &mut MacSymbols,
) -> NetnsState {
    let mut links: Vec<Link> = dump
        .links
        .iter()
        .filter(|link| !link.loopback)
        .map(|link| {
            let lower = link.lower.and_then(|lower| {
                // A link pointing at itself (IFLA_LINK = own index) has no lower device.
                (lower.nsid.is_some() || lower.index != link.index)
                    .then(|| names.qualified(netns, lower.nsid, lower.index))
            });
            let is_veth = link.kind.as_deref() == Some("veth");
            Link {
                name: link.name.clone(),
                kind: link.kind.clone(),
                vlan: link.vlan,
                parent: lower.clone().filter(|_| !is_veth),
                peer: lower.filter(|_| is_veth),
                mtu: link.mtu,
                up: link.up,
                mac: None,
                master: link.master.map(|index| names.qualified(netns, None, index)),
                mode: link.mode.clone(),
            }
        })
        .collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    // Symbols follow the sorted order, not the dump order.
    for link in &mut links {
        let raw = dump.links.iter().find(|l| l.name == link.name);
        link.mac = raw
            .and_then(|l| l.mac.as_deref())
            .map(|mac| macs.symbol(mac));
    }

    let mut addresses: Vec<(IpNet, Address)> = dump
        .addresses
        .iter()
        .filter(|a| !is_kernel_link_local(&a.cidr))
        .filter(|a| !dump.links.iter().any(|l| l.loopback && l.index == a.index))
        .filter_map(|a| {
            let link = names.links.get(&(netns, a.index))?;
            Some((a.cidr, address(link, a.cidr)))
        })
        .collect();
    addresses.sort_by(|(a_net, a), (b_net, b)| {
        (&a.link, a.family, a_net).cmp(&(&b.link, b.family, b_net))
    });

    let mut routes: Vec<(RouteKey, Route)> = dump
        .routes
        .iter()
        .filter(|r| is_stable_main_route(r))
        .map(|r| normalize_route(netns, r, names))
        .collect();
    routes.sort_by(|(a, _), (b, _)| a.cmp(b));

    NetnsState {
        links,
        addresses: addresses.into_iter().map(|(_, a)| a).collect(),
        routes: routes.into_iter().map(|(_, r)| r).collect(),
    }
}

fn address(link: &str, cidr: IpNet) -> Address {
    Address {
        link: link.to_string(),
        cidr: cidr.to_string(),
        family: family_of(&cidr),
    }
}

fn family_of(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::Ipv4,
        IpNet::V6(_) => Family::Ipv6,
    }
}

/// fe80::/10: the kernel derives these from the (random) MAC once the link has carrier, so
/// whether and which one shows up depends on timing.
fn is_kernel_link_local(net: &IpNet) -> bool {
    matches!(net, IpNet::V6(v6) if v6.addr().segments()[0] & 0xffc0 == 0xfe80)
}

/// The main table only, without what the kernel adds on its own schedule: the fe80::/64 route
/// appears with the link-local address (after carrier and DAD timing), and the ff00::/8
/// multicast route with IPv6 coming up on the link. Neither says anything about a plugin.
fn is_stable_main_route(route: &RouteFacts) -> bool {
    const MAIN_TABLE: u32 = 254;
    let kernel_link_local = route.dst.prefix_len() == 64 && is_kernel_link_local(&route.dst);
    route.table == MAIN_TABLE && !route.multicast && !kernel_link_local
}

/// Routes sort by family, destination, then the rest, all by value.
type RouteKey = (Family, IpNet, Option<String>, Option<String>, String);

fn normalize_route(netns: &str, route: &RouteFacts, names: &Names) -> (RouteKey, Route) {
    let device = route
        .device_index
        .map(|index| names.local(netns, index).to_string());
    let gateway = route.gateway.map(|gw| gw.to_string());
    let dst = if route.dst.prefix_len() == 0 {
        "default".to_string()
    } else {
        route.dst.to_string()
    };
    let key = (
        family_of(&route.dst),
        route.dst,
        gateway.clone(),
        device.clone(),
        route.scope.clone(),
    );
    let route = Route {
        dst,
        gateway,
        device,
        scope: route.scope.clone(),
    };
    (key, route)
}

impl<'a> Names<'a> {
    fn of(dumps: &'a BTreeMap<String, NetnsDump>) -> Names<'a> {
        let links = dumps
            .iter()
            .flat_map(|(netns, dump)| {
                dump.links
                    .iter()
                    .map(move |l| ((netns.as_str(), l.index), l.name.as_str()))
            })
            .collect();
        let nsids = dumps
            .iter()
            .map(|(netns, dump)| {
                let ids = dump.nsids.iter().map(|(id, peer)| (*id, peer.as_str()));
                (netns.as_str(), ids.collect())
            })
            .collect();
        Names { links, nsids }
    }

    /// `<netns>/<name>` of the link `index` seen from `netns`, in the namespace `nsid` names
    /// there (its own when `None`).
    fn qualified(&self, netns: &str, nsid: Option<i32>, index: u32) -> String {
        let Some(nsid) = nsid else {
            return format!("{netns}/{}", self.local(netns, index));
        };
        match self.nsids.get(netns).and_then(|ids| ids.get(&nsid)) {
            Some(peer_netns) => format!("{peer_netns}/{}", self.local(peer_netns, index)),
            None => format!("(outside the sandbox)/#{index}"),
        }
    }

    fn local(&self, netns: &str, index: u32) -> &str {
        self.links
            .get(&(netns, index))
            .copied()
            .unwrap_or("(vanished during the dump)")
    }
}

impl MacSymbols {
    fn symbol(&mut self, mac: &str) -> String {
        let next = format!("mac-{}", self.0.len() + 1);
        self.0
            .entry(mac.to_ascii_lowercase())
            .or_insert(next)
            .clone()
    }
}
