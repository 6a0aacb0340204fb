//! ADD: validate against the kernel's current state, create the VLAN under a temporary name
//! straight in `CNI_NETNS`, rename it, run IPAM, configure it, and roll everything back on any
//! failure after the link exists.

use cni_types::{CniResult, Interface, IpConfig};
use nix::errno::Errno;

use super::{Invocation, netlink_error};
use crate::env::Command;
use crate::error::Error;
use crate::ipam::Delegate;
use crate::netlink::{Link, Namespace, Netlink, NetlinkError, NewVlan};
use crate::result;

pub fn add<K: Netlink>(kernel: &K, inv: &Invocation<'_>) -> Result<CniResult, Error> {
    if let Some(ipam) = &inv.ipam {
        ipam.locate()?;
    }
    let master = preflight(kernel, inv)?;
    let link = create(kernel, inv, &master)?;
    let mut undo = Undo {
        index: link.index,
        ipam: None,
    };
    match set_up(kernel, inv, link, &mut undo) {
        Ok(result) => Ok(result),
        Err(error) => Err(undo.run(kernel, inv, error)),
    }
}

/// Everything checkable before the kernel is changed: the target name is free, the master
/// exists and is up, and the MTU fits.
fn preflight<K: Netlink>(kernel: &K, inv: &Invocation<'_>) -> Result<Link, Error> {
    let placement = &inv.placement;
    let existing = kernel
        .link_by_name(Namespace::Container, &placement.link_name)
        .map_err(netlink_error(format!(
            "looking up {:?} in CNI_NETNS",
            placement.link_name
        )))?;
    if existing.is_some() {
        return Err(target_exists(inv));
    }
    let master = super::find_master(kernel, inv)?;
    if !master.up {
        return Err(Error::MasterDown {
            master: placement.master.clone(),
        });
    }
    inv.conf.check_mtu(master.mtu)?;
    Ok(master)
}

/// Creates the VLAN under its temporary name in `CNI_NETNS` and returns it as found there. A
/// direct create with the final name could collide with a name in the runtime's namespace,
/// where the kernel first registers a link sent from there.
fn create<K: Netlink>(kernel: &K, inv: &Invocation<'_>, master: &Link) -> Result<Link, Error> {
    let placement = &inv.placement;
    let temp_name = &inv.temp_name;
    // A VLAN under this attachment's temporary name is what an earlier ADD left when it was
    // killed before the rename; the runtime runs one operation per attachment at a time.
    super::del::remove_vlan(kernel, temp_name)?;
    let vlan = NewVlan {
        temp_name,
        parent_index: master.index,
        tag: inv.conf.vlan,
        mtu: inv.conf.mtu,
        into_container: placement.master_namespace == Namespace::Runtime,
    };
    match kernel.create_vlan(placement.master_namespace, &vlan) {
        Ok(()) => {}
        // EEXIST is either the temporary name, taken by something that is not ours to
        // delete, or the (master, id) pair, which the kernel keeps unique across namespaces.
        Err(e) if e.errno() == Some(Errno::EEXIST) => {
            if temp_name_taken(kernel, inv)? {
                return Err(Error::Netlink {
                    operation: format!(
                        "creating the VLAN under its temporary name {temp_name:?}, which is taken"
                    ),
                    source: e,
                });
            }
            return Err(Error::DuplicateVlan {
                master: placement.master.clone(),
                id: inv.conf.vlan.id,
                protocol: inv.conf.vlan.protocol,
            });
        }
        Err(e) if e.errno() == Some(Errno::ENODEV) => return Err(super::master_not_found(inv)),
        Err(source) => {
            return Err(Error::KernelRefusedLink {
                master: placement.master.clone(),
                id: inv.conf.vlan.id,
                source,
            });
        }
    }
    // The link exists from here on; it vanishing before we could even look at it is reported
    // the way the kernel would report it.
    kernel
        .link_by_name(Namespace::Container, temp_name)
        .and_then(|link| link.ok_or(NetlinkError::Kernel(Errno::ENODEV)))
        .map_err(netlink_error(format!(
            "looking up the new VLAN {temp_name:?}"
        )))
}

fn temp_name_taken<K: Netlink>(kernel: &K, inv: &Invocation<'_>) -> Result<bool, Error> {
    for ns in [inv.placement.master_namespace, Namespace::Container] {
        let found = kernel
            .link_by_name(ns, &inv.temp_name)
            .map_err(netlink_error(format!("looking up {:?}", inv.temp_name)))?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a failed ADD must take back.
struct Undo<'a> {
    index: u32,
    /// Set once IPAM ADD has been started: the spec asks for a DEL to the delegate even when its
    /// ADD failed, since it may have allocated before failing.
    ipam: Option<&'a Delegate>,
}

impl Undo<'_> {
    /// Deletes the link, then releases the IPAM allocation (an address must not be handed out
    /// again while a link still holds it). Cleanup failures go into the error's details.
    fn run<K: Netlink>(self, kernel: &K, inv: &Invocation<'_>, error: Error) -> Error {
        let mut failures = Vec::new();
        match kernel.delete_link(self.index) {
            Err(e) if e.errno() != Some(Errno::ENODEV) => failures.push(Error::Netlink {
                operation: format!(
                    "rolling back: deleting the new VLAN {:?}",
                    inv.placement.link_name
                ),
                source: e,
            }),
            _ => {}
        }
        if let Some(ipam) = self.ipam
            && let Err(e) = ipam.run(Command::Del, inv.stdin)
        {
            failures.push(e);
        }
        error.followed_by(failures)
    }
}

fn set_up<'a, K: Netlink>(
    kernel: &K,
    inv: &'a Invocation<'a>,
    mut link: Link,
    undo: &mut Undo<'a>,
) -> Result<CniResult, Error> {
    let placement = &inv.placement;
    kernel
        .rename_link(undo.index, &placement.link_name)
        .map_err(|e| {
            if e.errno() == Some(Errno::EEXIST) {
                target_exists(inv)
            } else {
                Error::Netlink {
                    operation: format!("renaming the new VLAN to {:?}", placement.link_name),
                    source: e,
                }
            }
        })?;
    // A rename changes nothing else about the link.
    link.name = placement.link_name.clone();
    let ipam_result = match &inv.ipam {
        Some(ipam) => {
            undo.ipam = Some(ipam);
            Some(ipam.add(inv.stdin, inv.conf.version)?)
        }
        None => None,
    };
    configure(kernel, inv, &link, ipam_result.as_ref())?;
    let interface = Interface {
        name: link.name.clone(),
        mac: link.mac.clone(),
        mtu: Some(link.mtu),
        sandbox: Some(inv.sandbox.to_string()),
        ..Interface::default()
    };
    Ok(result::assemble(
        inv.conf.prev_result.as_ref(),
        interface,
        ipam_result.as_ref(),
        &inv.conf.dns,
    ))
}

/// Addresses, then up, then routes: the kernel refuses a route via a gateway on a link that
/// is down.
fn configure<K: Netlink>(
    kernel: &K,
    inv: &Invocation<'_>,
    link: &Link,
    ipam_result: Option<&CniResult>,
) -> Result<(), Error> {
    let ips: Vec<&IpConfig> = ipam_result.iter().flat_map(|r| &r.ips).collect();
    if ips.iter().any(|ip| ip.address.addr().is_ipv6()) {
        kernel
            .enable_ipv6(&link.name)
            .map_err(|source| Error::Ipv6Unavailable {
                ifname: link.name.clone(),
                source,
            })?;
    }
    for ip in &ips {
        kernel
            .add_address(link.index, ip.address)
            .map_err(netlink_error(format!(
                "adding address {} to {:?}",
                ip.address, link.name
            )))?;
    }
    kernel.set_link_up(link.index).map_err(|e| {
        if e.errno() == Some(Errno::ENETDOWN) {
            Error::MasterDown {
                master: inv.placement.master.clone(),
            }
        } else {
            Error::Netlink {
                operation: format!("setting {:?} up", link.name),
                source: e,
            }
        }
    })?;
    for route in ipam_result.iter().flat_map(|r| &r.routes) {
        let installed = cni_types::Route {
            gw: result::route_gateway(route, &ips),
            ..route.clone()
        };
        kernel
            .add_route(link.index, &installed)
            .map_err(netlink_error(format!(
                "adding route to {} via {:?} on {:?}",
                route.dst, installed.gw, link.name
            )))?;
    }
    Ok(())
}

fn target_exists(inv: &Invocation<'_>) -> Error {
    Error::TargetExists {
        name: inv.placement.link_name.clone(),
        netns: inv.sandbox.to_string(),
    }
}
