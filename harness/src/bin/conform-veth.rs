//! `conform-veth`: the main plugin of a fixture chain, like a minimal `ptp`. ADD creates a veth
//! pair: the container end named `CNI_IFNAME` in `CNI_NETNS`, the node end in the netns the
//! plugin runs in, named `hostInterface` or [`veth_host_name`] of the container id and
//! interface name. Both ends come up with the optional `mtu`; with an `ipam` section, the IPAM
//! plugin is run from `CNI_PATH` and its addresses and routes go on the container end.
//!
//! The result appends the node end (no `sandbox`) and the container end (`sandbox` =
//! `CNI_NETNS`) to `prevResult`'s interfaces, and the IPAM addresses pointing at the container
//! end to its ips. CHECK verifies the container end is a veth carrying its addresses from
//! `prevResult`, then CHECKs the IPAM; DEL removes the pair (a missing netns or link is
//! success) and always DELs the IPAM; GC and STATUS go to the IPAM. When anything fails after
//! the IPAM's ADD, the pair is removed and the IPAM is DELed before the error is returned.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::ExitCode;

use cni_conform::fixtures::delegate::delegate;
use cni_conform::fixtures::skel::{self, Call, Plugin, Reply};
use cni_conform::fixtures::{CHECK_FAILED, veth_host_name};
use cni_conform::netns::Netns;
use cni_conform::runtime::CniCommand;
use cni_types::error::codes;
use cni_types::names::validate_new_ifname;
use cni_types::{CniError, CniResult, Interface, IpConfig, Route};
use futures_util::TryStreamExt;
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VethConfig {
    #[serde(default)]
    host_interface: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    ipam: Option<IpamSection>,
    #[serde(default)]
    prev_result: Option<Value>,
}

/// Only the type: the rest of the section is the IPAM plugin's business.
#[derive(Debug, Deserialize)]
struct IpamSection {
    #[serde(rename = "type")]
    plugin_type: String,
}

/// A link as the fixture needs to see it.
#[derive(Debug)]
struct Link {
    index: u32,
    mac: Option<String>,
    mtu: Option<u32>,
    kind: Option<String>,
}

impl VethConfig {
    fn parse(call: &Call) -> Result<VethConfig, CniError> {
        serde_json::from_value(Value::Object(call.config.clone())).map_err(|e| {
            CniError::new(
                codes::INVALID_NETWORK_CONFIG,
                format!("invalid configuration: {e}"),
            )
        })
    }

    fn host_name(&self, call: &Call) -> Result<String, CniError> {
        let name = self
            .host_interface
            .clone()
            .unwrap_or_else(|| veth_host_name(&call.container_id, &call.ifname));
        validate_new_ifname(&name).map_err(|e| {
            CniError::new(codes::INVALID_NETWORK_CONFIG, format!("hostInterface: {e}"))
        })?;
        Ok(name)
    }

    fn prev_result(&self, call: &Call) -> Result<Option<CniResult>, CniError> {
        self.prev_result
            .as_ref()
            .map(|prev| {
                CniResult::parse(prev, call.version)
                    .map(|(_, result)| result)
                    .map_err(|e| {
                        CniError::new(codes::DECODING_FAILURE, format!("invalid prevResult: {e}"))
                    })
            })
            .transpose()
    }

    fn delegate(&self, command: CniCommand, call: &Call) -> Result<Option<CniResult>, CniError> {
        match &self.ipam {
            Some(ipam) => delegate(command, &ipam.plugin_type, &call.stdin, call.version),
            None => Ok(None),
        }
    }
}

struct ConformVeth;

impl Plugin for ConformVeth {
    fn handle(&self, call: &Call) -> Result<Reply, CniError> {
        let config = VethConfig::parse(call)?;
        match call.command {
            CniCommand::Add => add(call, &config).map(Reply::Result),
            CniCommand::Check => check(call, &config).map(|()| Reply::Nothing),
            CniCommand::Del => del(call, &config).map(|()| Reply::Nothing),
            _ => config.delegate(call.command, call).map(|_| Reply::Nothing),
        }
    }
}

fn add(call: &Call, config: &VethConfig) -> Result<CniResult, CniError> {
    let host_name = config.host_name(call)?;
    let mut result = config.prev_result(call)?.unwrap_or_default();
    let addressing = match &config.ipam {
        Some(_) => Some(ipam_add(call, config)?),
        None => None,
    };
    let created = netlink(create_pair(
        call,
        &host_name,
        config.mtu,
        addressing.as_ref(),
    ));
    let (host, container) = created.inspect_err(|_| {
        // Spec §4: a plugin failing after its delegate's ADD DELs the delegate.
        let _ = config.delegate(CniCommand::Del, call);
    })?;
    let host_position = result.interfaces.len();
    result.interfaces.push(Interface {
        name: host_name,
        mac: host.mac,
        mtu: host.mtu,
        ..Interface::default()
    });
    result.interfaces.push(Interface {
        name: call.ifname.clone(),
        mac: container.mac,
        mtu: container.mtu,
        sandbox: Some(call.netns.clone()),
        ..Interface::default()
    });
    if let Some(addressing) = addressing {
        result
            .ips
            .extend(addressing.ips.into_iter().map(|ip| IpConfig {
                interface: Some(host_position + 1),
                ..ip
            }));
        result.routes.extend(addressing.routes);
        if !addressing.dns.is_empty() {
            result.dns = addressing.dns;
        }
    }
    Ok(result)
}

/// The IPAM's ADD, which must hand out at least one address; on failure the IPAM is DELed
/// (spec §4: "If, on ADD, a delegated plugin fails, the upper plugin should execute again with
/// DEL before returning failure").
fn ipam_add(call: &Call, config: &VethConfig) -> Result<CniResult, CniError> {
    let failure = match config.delegate(CniCommand::Add, call) {
        Ok(Some(result)) if !result.ips.is_empty() => return Ok(result),
        Ok(_) => CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            "IPAM plugin returned missing IP config",
        ),
        Err(e) => e,
    };
    let _ = config.delegate(CniCommand::Del, call);
    Err(failure)
}

fn check(call: &Call, config: &VethConfig) -> Result<(), CniError> {
    let prev = config.prev_result(call)?.ok_or_else(|| {
        CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            "conform-veth: CHECK needs prevResult",
        )
    })?;
    let position = prev
        .interfaces
        .iter()
        .position(|i| i.name == call.ifname && i.sandbox.as_deref() == Some(call.netns.as_str()))
        .ok_or_else(|| {
            check_failed(format!(
                "prevResult lists no interface {} in {}",
                call.ifname, call.netns
            ))
        })?;
    let wanted: Vec<IpNet> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(position))
        .map(|ip| ip.address)
        .collect();
    netlink(check_container_end(call, wanted))?;
    config.delegate(CniCommand::Check, call).map(|_| ())
}

/// Best effort (spec: DEL completes as far as possible): the link, then the IPAM regardless;
/// the first error is reported.
fn del(call: &Call, config: &VethConfig) -> Result<(), CniError> {
    let link_removed = if call.netns.is_empty() {
        Ok(())
    } else {
        netlink(delete_container_end(call))
    };
    let ipam_released = config.delegate(CniCommand::Del, call).map(|_| ());
    link_removed.and(ipam_released)
}

async fn create_pair(
    call: &Call,
    host_name: &str,
    mtu: Option<u32>,
    addressing: Option<&CniResult>,
) -> Result<(Link, Link), CniError> {
    // The skeleton checked libcni's rules; a name the kernel would rewrite (`%d`) would make
    // the result lie about the link's name.
    validate_new_ifname(&call.ifname)
        .map_err(|e| CniError::new(codes::INVALID_ENVIRONMENT, format!("CNI_IFNAME: {e}")))?;
    let node = node_netns()?;
    let pod = Netns::open("pod", Path::new(&call.netns))
        .map_err(|e| io_failure(format!("opening netns {}", call.netns), e))?;
    let node_link = handle(&node)?;
    let pod_link = handle(&pod)?;
    if find_link(&pod_link, &call.ifname).await?.is_some() {
        return Err(CniError::new(
            codes::INVALID_ENVIRONMENT,
            format!("container already has an interface named {}", call.ifname),
        ));
    }
    let mut peer = LinkUnspec::new_with_name(&call.ifname).setns_by_fd(pod.fd().as_raw_fd());
    let mut pair = LinkVeth::new(host_name, &call.ifname);
    if let Some(mtu) = mtu {
        peer = peer.mtu(mtu);
        pair = pair.mtu(mtu);
    }
    let pair = pair.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    node_link
        .link()
        .add(pair.build())
        .execute()
        .await
        .map_err(netlink_failure(format!(
            "creating veth {host_name} with peer {} in {}",
            call.ifname, call.netns
        )))?;
    let configured =
        configure_pair(&node_link, &pod_link, host_name, &call.ifname, addressing).await;
    if configured.is_err()
        && let Ok(Some(host)) = find_link(&node_link, host_name).await
    {
        // Deleting one end of a veth deletes both.
        let _ = node_link.link().del(host.index).execute().await;
    }
    configured
}

async fn configure_pair(
    node_link: &Handle,
    pod_link: &Handle,
    host_name: &str,
    ifname: &str,
    addressing: Option<&CniResult>,
) -> Result<(Link, Link), CniError> {
    let host = require_link(node_link, host_name).await?;
    set_up(node_link, &host, host_name).await?;
    let container = require_link(pod_link, ifname).await?;
    set_up(pod_link, &container, ifname).await?;
    let Some(addressing) = addressing else {
        return Ok((host, container));
    };
    for ip in &addressing.ips {
        pod_link
            .address()
            .add(container.index, ip.address.addr(), ip.address.prefix_len())
            .execute()
            .await
            .map_err(netlink_failure(format!(
                "adding {} to {ifname}",
                ip.address
            )))?;
    }
    for route in &addressing.routes {
        let message = route_message(route, &addressing.ips, container.index)?;
        pod_link
            .route()
            .add(message)
            .execute()
            .await
            .map_err(netlink_failure(format!(
                "adding route to {} via {ifname}",
                route.dst
            )))?;
    }
    Ok((host, container))
}

async fn set_up(handle: &Handle, link: &Link, name: &str) -> Result<(), CniError> {
    handle
        .link()
        .change(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .map_err(netlink_failure(format!("setting {name} up")))
}

/// A route through the container end; without its own gateway it uses the gateway of the first
/// address of its family, as ptp does, and is on-link when there is none.
fn route_message(route: &Route, ips: &[IpConfig], index: u32) -> Result<RouteMessage, CniError> {
    // rtnetlink does not export its route builder's error type.
    let invalid = |e: &dyn std::fmt::Display| {
        CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            format!("route to {}: {e}", route.dst),
        )
    };
    let gateway = route.gw.or_else(|| {
        ips.iter()
            .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
            .find_map(|ip| ip.gateway)
    });
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.dst.network(), route.dst.prefix_len())
        .map_err(|e| invalid(&e))?
        .output_interface(index);
    if let Some(gateway) = gateway {
        builder = builder.gateway(gateway).map_err(|e| invalid(&e))?;
    }
    Ok(builder.build())
}

async fn check_container_end(call: &Call, wanted: Vec<IpNet>) -> Result<(), CniError> {
    let pod = Netns::open("pod", Path::new(&call.netns))
        .map_err(|e| io_failure(format!("opening netns {}", call.netns), e))?;
    let pod_link = handle(&pod)?;
    let link = find_link(&pod_link, &call.ifname).await?.ok_or_else(|| {
        check_failed(format!(
            "interface {} not found in {}",
            call.ifname, call.netns
        ))
    })?;
    if link.kind.as_deref() != Some("veth") {
        return Err(check_failed(format!(
            "{} is a {}, not a veth",
            call.ifname,
            link.kind.as_deref().unwrap_or("link of unknown kind")
        )));
    }
    let present = addresses(&pod_link, link.index).await?;
    match wanted.iter().find(|w| !present.contains(w)) {
        Some(missing) => Err(check_failed(format!(
            "address {missing} missing on {}",
            call.ifname
        ))),
        None => Ok(()),
    }
}

async fn delete_container_end(call: &Call) -> Result<(), CniError> {
    let pod = match Netns::open("pod", Path::new(&call.netns)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| io_failure(format!("opening netns {}", call.netns), e))?,
    };
    let pod_link = match pod.handle() {
        // The path no longer holds a netns (unmounted): the pair went with the namespace.
        Err(e) if e.raw_os_error() == Some(Errno::EINVAL as i32) => return Ok(()),
        other => other.map_err(|e| io_failure(format!("entering netns {}", call.netns), e))?,
    };
    let Some(link) = find_link(&pod_link, &call.ifname).await? else {
        return Ok(());
    };
    match pod_link.link().del(link.index).execute().await {
        Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(()),
        other => other.map_err(netlink_failure(format!("deleting {}", call.ifname))),
    }
}

async fn find_link(handle: &Handle, name: &str) -> Result<Option<Link>, CniError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(message) => Ok(message.as_ref().map(link_view)),
        Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(netlink_failure(format!("looking up {name}"))(e)),
    }
}

async fn require_link(handle: &Handle, name: &str) -> Result<Link, CniError> {
    find_link(handle, name)
        .await?
        .ok_or_else(|| CniError::new(codes::IO_FAILURE, format!("{name} vanished after creation")))
}

async fn addresses(handle: &Handle, index: u32) -> Result<Vec<IpNet>, CniError> {
    let messages: Vec<_> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(netlink_failure(format!(
            "listing addresses of link {index}"
        )))?;
    Ok(messages
        .iter()
        .flat_map(|m| {
            m.attributes.iter().filter_map(|a| match a {
                AddressAttribute::Address(ip) => IpNet::new(*ip, m.header.prefix_len).ok(),
                _ => None,
            })
        })
        .collect())
}

fn link_view(message: &LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        mac: None,
        mtu: None,
        kind: None,
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::Address(bytes) => {
                let octets: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                link.mac = Some(octets.join(":"));
            }
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// The netns this process runs in: the node.
fn node_netns() -> Result<Netns, CniError> {
    Netns::open("node", Path::new("/proc/self/ns/net"))
        .map_err(|e| io_failure("opening our own netns".into(), e))
}

fn handle(netns: &Netns) -> Result<Handle, CniError> {
    netns
        .handle()
        .map_err(|e| io_failure(format!("netlink socket in {}", netns.path().display()), e))
}

/// Netlink work runs on a current-thread runtime: the plugin is a short-lived process.
fn netlink<T>(work: impl Future<Output = Result<T, CniError>>) -> Result<T, CniError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| io_failure("starting the netlink runtime".into(), e))?
        .block_on(work)
}

fn errno(e: &rtnetlink::Error) -> Option<Errno> {
    match e {
        rtnetlink::Error::NetlinkError(message) => {
            message.code.map(|code| Errno::from_raw(-code.get()))
        }
        _ => None,
    }
}

fn netlink_failure(context: String) -> impl FnOnce(rtnetlink::Error) -> CniError {
    move |e| {
        let errno = errno(&e).map(|e| format!(" ({e})")).unwrap_or_default();
        CniError::new(codes::IO_FAILURE, format!("{context}: {e}{errno}"))
    }
}

fn io_failure(context: String, e: std::io::Error) -> CniError {
    CniError::new(codes::IO_FAILURE, format!("{context}: {e}"))
}

fn check_failed(msg: String) -> CniError {
    CniError::new(CHECK_FAILED, msg)
}

fn main() -> ExitCode {
    skel::run(&ConformVeth)
}
