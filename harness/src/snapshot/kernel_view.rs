//! The raw facts a snapshot is made from: each namespace's links, addresses and routes as the
//! kernel reports them (ifindexes, nsids and all), before any normalization.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    VlanProtocol as WireVlanProtocol,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia,
};

use crate::sandbox::{Context, Sandbox, SandboxError, netlink};
use crate::topology::{VlanProtocol, VlanTag};

pub(super) struct NetnsDump {
    pub links: Vec<LinkFacts>,
    pub addresses: Vec<AddressFacts>,
    pub routes: Vec<RouteFacts>,
    /// The sandbox namespaces this namespace knows by an nsid.
    pub nsids: BTreeMap<i32, String>,
}

pub(super) struct LinkFacts {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub vlan: Option<VlanTag>,
    /// IFLA_LINK (+ IFLA_LINK_NETNSID): a VLAN's parent, a veth's peer.
    pub lower: Option<LowerLink>,
    pub mtu: u32,
    pub up: bool,
    pub loopback: bool,
    pub mac: Option<String>,
}

#[derive(Clone, Copy)]
pub(super) struct LowerLink {
    pub index: u32,
    /// The namespace holding `index`, as an nsid of the link's own namespace; `None` = same.
    pub nsid: Option<i32>,
}

pub(super) struct AddressFacts {
    pub index: u32,
    pub cidr: IpNet,
}

pub(super) struct RouteFacts {
    pub table: u32,
    pub multicast: bool,
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub device_index: Option<u32>,
    pub scope: String,
}

/// Dumps every live namespace of the sandbox, by name.
pub(super) fn dump_sandbox(sandbox: &Sandbox) -> Result<BTreeMap<String, NetnsDump>, SandboxError> {
    sandbox.block_on(async {
        let mut dumps = BTreeMap::new();
        for (netns, _) in sandbox.namespaces() {
            let handle = sandbox.handle(netns)?;
            // Links first: dumping a link whose peer lives elsewhere makes the kernel assign
            // the nsid that the queries below then find.
            let (links, addresses) = dump_links_and_addresses(&handle, netns).await?;
            let routes = netlink::routes(&handle)
                .await
                .context(|| format!("dumping the routes of netns {netns}"))?;
            let mut nsids = BTreeMap::new();
            for (other, other_ns) in sandbox.namespaces().filter(|(other, _)| *other != netns) {
                let nsid = netlink::nsid_of(&handle, other_ns.fd())
                    .await
                    .context(|| format!("asking netns {netns} for the nsid of netns {other}"))?;
                if let Some(nsid) = nsid {
                    nsids.insert(nsid, other.to_string());
                }
            }
            let dump = NetnsDump {
                links,
                addresses,
                routes: routes.iter().filter_map(route_facts).collect(),
                nsids,
            };
            dumps.insert(netns.to_string(), dump);
        }
        Ok(dumps)
    })
}

/// Links and addresses of the namespace behind `handle`; `netns` names it in errors.
pub(super) async fn dump_links_and_addresses(
    handle: &Handle,
    netns: &str,
) -> Result<(Vec<LinkFacts>, Vec<AddressFacts>), SandboxError> {
    let links = netlink::links(handle)
        .await
        .context(|| format!("dumping the links of netns {netns}"))?;
    let addresses = netlink::addresses(handle)
        .await
        .context(|| format!("dumping the addresses of netns {netns}"))?;
    Ok((
        links.iter().map(link_facts).collect(),
        addresses.iter().filter_map(address_facts).collect(),
    ))
}

fn link_facts(message: &LinkMessage) -> LinkFacts {
    let mut link = LinkFacts {
        index: message.header.index,
        name: String::new(),
        kind: None,
        vlan: None,
        lower: None,
        mtu: 0,
        up: message.header.flags.contains(LinkFlags::Up),
        loopback: message.header.flags.contains(LinkFlags::Loopback),
        mac: None,
    };
    let mut lower_nsid = None;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            LinkAttribute::Address(bytes) => link.mac = Some(format_mac(bytes)),
            LinkAttribute::Link(index) => {
                link.lower = Some(LowerLink {
                    index: *index,
                    nsid: None,
                })
            }
            LinkAttribute::LinkNetNsId(nsid) => lower_nsid = Some(*nsid),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => link.kind = Some(kind.to_string()),
                        LinkInfo::Data(InfoData::Vlan(vlan)) => link.vlan = Some(vlan_tag(vlan)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(lower) = &mut link.lower {
        lower.nsid = lower_nsid;
    }
    link
}

fn vlan_tag(attributes: &[InfoVlan]) -> VlanTag {
    let mut tag = VlanTag::new(0, VlanProtocol::Ieee8021Q);
    for attribute in attributes {
        match attribute {
            InfoVlan::Id(id) => tag.id = *id,
            InfoVlan::Protocol(WireVlanProtocol::Ieee8021Ad) => {
                tag.protocol = VlanProtocol::Ieee8021Ad
            }
            _ => {}
        }
    }
    tag
}

fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn address_facts(message: &AddressMessage) -> Option<AddressFacts> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links (and the only one IPv6 sends).
    let local = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    let ip = local.or(address)?;
    Some(AddressFacts {
        index: message.header.index,
        cidr: IpNet::new(ip, message.header.prefix_len).ok()?,
    })
}

fn route_facts(message: &RouteMessage) -> Option<RouteFacts> {
    let header = &message.header;
    let mut route = RouteFacts {
        table: u32::from(header.table),
        multicast: header.kind == RouteType::Multicast,
        dst: IpNet::new(unspecified(message)?, header.destination_prefix_length).ok()?,
        gateway: None,
        device_index: None,
        scope: header.scope.to_string(),
    };
    for attribute in &message.attributes {
        match attribute {
            // Tables above 255 only fit the attribute; it wins over the header byte.
            RouteAttribute::Table(table) => route.table = *table,
            RouteAttribute::Destination(dst) => {
                route.dst = IpNet::new(ip_of(dst)?, header.destination_prefix_length).ok()?
            }
            RouteAttribute::Gateway(gateway) => route.gateway = ip_of(gateway),
            RouteAttribute::Via(RouteVia::Inet(v4)) => route.gateway = Some((*v4).into()),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => route.gateway = Some((*v6).into()),
            RouteAttribute::Oif(index) => route.device_index = Some(*index),
            _ => {}
        }
    }
    Some(route)
}

/// The all-zero address of the route's family (the destination when none is given); `None`
/// for families other than IPv4 and IPv6.
fn unspecified(message: &RouteMessage) -> Option<IpAddr> {
    use rtnetlink::packet_route::AddressFamily;
    match message.header.address_family {
        AddressFamily::Inet => Some(IpAddr::from([0u8; 4])),
        AddressFamily::Inet6 => Some(IpAddr::from([0u8; 16])),
        _ => None,
    }
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some((*v4).into()),
        RouteAddress::Inet6(v6) => Some((*v6).into()),
        _ => None,
    }
}
