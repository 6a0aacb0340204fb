//! The raw facts a snapshot is made from: each namespace's links, addresses and routes as the
//! kernel reports them (ifindexes, nsids and all), before any normalization.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_facts::{AddressFacts, LinkFacts};
use rtnetlink::Handle;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia,
};

use crate::sandbox::{Context, Sandbox, SandboxError, netlink};

pub(super) struct NetnsDump {
    pub links: Vec<LinkFacts>,
    pub addresses: Vec<AddressFacts>,
    pub routes: Vec<RouteFacts>,
    /// The sandbox namespaces this namespace knows by an nsid.
    pub nsids: BTreeMap<i32, String>,
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
        links.iter().map(LinkFacts::from_message).collect(),
        addresses
            .iter()
            .filter_map(AddressFacts::from_message)
            .collect(),
    ))
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
