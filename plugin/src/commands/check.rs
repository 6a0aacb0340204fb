//! CHECK: the attachment still matches `prevResult` and the configuration; each mismatch is
//! named. Then the IPAM delegate's CHECK.

use std::net::IpAddr;

use cni_types::{CniResult, IpConfig, Route};

use super::{Invocation, netlink_error};
use crate::env::Command;
use crate::error::Error;
use crate::netlink::{Link, LowerLink, Namespace, Netlink};
use crate::result::route_gateway;

/// The kernel's main routing table, where a route without `table` goes.
const MAIN_TABLE: u32 = 254;

pub fn check<K: Netlink>(kernel: &K, inv: &Invocation<'_>) -> Result<(), Error> {
    let prev = inv
        .conf
        .prev_result
        .as_ref()
        .ok_or_else(|| Error::Config("\"prevResult\" is required for CHECK".into()))?;
    let name = &inv.placement.link_name;
    let (index, expected) = prev
        .interfaces
        .iter()
        .enumerate()
        .find(|(_, i)| &i.name == name && i.sandbox.as_deref() == Some(inv.sandbox))
        .ok_or_else(|| {
            drift(format!(
                "prevResult has no interface {name:?} with sandbox {:?}",
                inv.sandbox
            ))
        })?;
    let link = kernel
        .link_by_name(Namespace::Container, name)
        .map_err(netlink_error(format!("looking up {name:?}")))?
        .ok_or_else(|| drift(format!("link {name:?} does not exist in CNI_NETNS")))?;

    check_vlan(inv, &link)?;
    check_parent(kernel, inv, &link)?;
    if let Some(mtu) = inv.conf.mtu
        && link.mtu != mtu
    {
        return Err(drift(format!(
            "{name:?} has MTU {}, the configuration says {mtu}",
            link.mtu
        )));
    }
    if let Some(mac) = &expected.mac
        && !link
            .mac
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(mac))
    {
        return Err(drift(format!(
            "{name:?} has MAC {}, prevResult says {mac}",
            link.mac.as_deref().unwrap_or("none")
        )));
    }
    if !link.up {
        return Err(drift(format!("{name:?} is down")));
    }
    let own_ips: Vec<&IpConfig> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(index))
        .collect();
    check_addresses(kernel, &link, &own_ips)?;
    check_routes(kernel, &link, prev, index, &own_ips)?;

    match &inv.ipam {
        Some(ipam) => ipam.run(Command::Check, inv.stdin),
        None => Ok(()),
    }
}

fn drift(what: String) -> Error {
    Error::CheckFailed(what)
}

fn check_vlan(inv: &Invocation<'_>, link: &Link) -> Result<(), Error> {
    let name = &link.name;
    let tag = match (&link.kind, link.vlan) {
        (Some(kind), Some(tag)) if kind == "vlan" => tag,
        _ => {
            return Err(drift(format!(
                "{name:?} is a {} link, not a VLAN",
                link.kind_name()
            )));
        }
    };
    let want = inv.conf.vlan;
    if tag.id != want.id {
        return Err(drift(format!(
            "{name:?} has VLAN id {}, the configuration says {}",
            tag.id, want.id
        )));
    }
    if tag.protocol != want.protocol {
        return Err(drift(format!(
            "{name:?} uses {}, the configuration says {}",
            tag.protocol, want.protocol
        )));
    }
    Ok(())
}

/// The VLAN's lower device must be the master, in the namespace the mode puts it in: the
/// runtime's (then the kernel reports it through the id `CNI_NETNS` gives that namespace) or
/// `CNI_NETNS` itself (no namespace id).
fn check_parent<K: Netlink>(kernel: &K, inv: &Invocation<'_>, link: &Link) -> Result<(), Error> {
    let placement = &inv.placement;
    let master = super::find_master(kernel, inv)?;
    let expected = match placement.master_namespace {
        Namespace::Container => Some(None),
        Namespace::Runtime => kernel
            .runtime_netns_id()
            .map_err(netlink_error(
                "asking CNI_NETNS for the runtime namespace's id",
            ))?
            .map(Some),
    }
    .map(|nsid| LowerLink {
        index: master.index,
        nsid,
    });
    if link.lower.is_some() && link.lower == expected {
        return Ok(());
    }
    let actual = match link.lower {
        None => "no parent".to_string(),
        Some(LowerLink { index, nsid: None }) => format!("parent index {index} in CNI_NETNS"),
        Some(LowerLink {
            index,
            nsid: Some(id),
        }) => format!("parent index {index} in the namespace CNI_NETNS calls {id}"),
    };
    Err(drift(format!(
        "{:?} has {actual}, expected master {:?} (index {}) in {}",
        link.name,
        placement.master,
        master.index,
        placement.master_namespace.describe()
    )))
}

fn check_addresses<K: Netlink>(
    kernel: &K,
    link: &Link,
    own_ips: &[&IpConfig],
) -> Result<(), Error> {
    if own_ips.is_empty() {
        return Ok(());
    }
    let present = kernel.addresses(link.index).map_err(netlink_error(format!(
        "listing the addresses of {:?}",
        link.name
    )))?;
    match own_ips.iter().find(|ip| !present.contains(&ip.address)) {
        Some(missing) => Err(drift(format!(
            "address {} is not on {:?}",
            missing.address, link.name
        ))),
        None => Ok(()),
    }
}

/// The `prevResult` routes that ADD installed through the VLAN must be there. A route is the
/// VLAN's when its gateway is in one of the VLAN's subnets, or, without a gateway, when the
/// VLAN is the only interface in `prevResult` with an address of the route's family.
fn check_routes<K: Netlink>(
    kernel: &K,
    link: &Link,
    prev: &CniResult,
    index: usize,
    own_ips: &[&IpConfig],
) -> Result<(), Error> {
    let expected: Vec<(&Route, Option<IpAddr>)> = prev
        .routes
        .iter()
        .filter(|route| routed_through(route, prev, index, own_ips))
        .map(|route| (route, route_gateway(route, own_ips)))
        .collect();
    if expected.is_empty() {
        return Ok(());
    }
    let installed = kernel.routes(link.index).map_err(netlink_error(format!(
        "listing the routes through {:?}",
        link.name
    )))?;
    for (route, gateway) in expected {
        let table = route.table.unwrap_or(MAIN_TABLE);
        let found = installed
            .iter()
            .any(|r| r.dst == route.dst.trunc() && r.gateway == gateway && r.table == table);
        if !found {
            return Err(drift(format!(
                "route to {} via {} in table {table} through {:?} is missing",
                route.dst,
                gateway.map_or("no gateway".to_string(), |g| g.to_string()),
                link.name
            )));
        }
    }
    Ok(())
}

fn routed_through(route: &Route, prev: &CniResult, index: usize, own_ips: &[&IpConfig]) -> bool {
    let family_v4 = route.dst.addr().is_ipv4();
    match route.gw {
        Some(gw) => own_ips.iter().any(|ip| ip.address.contains(&gw)),
        None => {
            let same_family = |ip: &IpConfig| ip.address.addr().is_ipv4() == family_v4;
            own_ips.iter().any(|ip| same_family(ip))
                && !prev
                    .ips
                    .iter()
                    .any(|ip| ip.interface != Some(index) && same_family(ip))
        }
    }
}
