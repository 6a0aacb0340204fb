//! [`Netlink`] over rtnetlink: one route socket in the runtime's namespace (opened on the main
//! thread, which never leaves it) and one in `CNI_NETNS` (opened on a short-lived thread that
//! joined it). Transient errnos are retried a bounded number of times with back-off.

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;

use cni_types::Route;
use futures_util::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    VlanProtocol as KernelVlanProtocol,
};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteScope, RouteVia,
};
use rtnetlink::sys::{Socket, TokioSocket, protocols::NETLINK_ROUTE};
use rtnetlink::{Handle, LinkUnspec, LinkVlan, RouteMessageBuilder};

use super::{
    InstalledRoute, Link, Namespace, Netlink, NetlinkError, NewVlan, Parent, VlanProtocol, VlanTag,
};
use crate::netns::NetnsFile;

/// Attempts per request when the kernel answers with a transient errno.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const TRANSIENT: [Errno; 3] = [Errno::EBUSY, Errno::EAGAIN, Errno::ENOBUFS];

pub struct Rtnl<'a> {
    runtime: Handle,
    container: Handle,
    netns: &'a NetnsFile,
}

impl<'a> Rtnl<'a> {
    /// Must be called inside the tokio runtime (the connection tasks are spawned on it), on the
    /// thread that is in the runtime's namespace.
    pub fn open(netns: &'a NetnsFile) -> io::Result<Rtnl<'a>> {
        let (connection, runtime, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let socket = netns.run(|| Socket::new(NETLINK_ROUTE))??;
        socket.set_non_blocking(true)?;
        // SAFETY: the fd comes straight from a Socket we own and give up here.
        let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, container, _) = rtnetlink::from_socket(socket);
        tokio::spawn(connection);
        Ok(Rtnl {
            runtime,
            container,
            netns,
        })
    }

    fn handle(&self, ns: Namespace) -> &Handle {
        match ns {
            Namespace::Runtime => &self.runtime,
            Namespace::Container => &self.container,
        }
    }

    async fn change_link(&self, message: LinkMessage) -> Result<(), NetlinkError> {
        retrying(|| self.container.link().change(message.clone()).execute()).await
    }
}

impl Netlink for Rtnl<'_> {
    async fn link_by_name(&self, ns: Namespace, name: &str) -> Result<Option<Link>, NetlinkError> {
        let handle = self.handle(ns);
        let found = retrying(|| {
            let request = handle.link().get().match_name(name);
            async move { request.execute().try_next().await }
        })
        .await;
        match found {
            Ok(message) => Ok(message.map(|m| parse_link(&m))),
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_vlan(&self, ns: Namespace, vlan: &NewVlan<'_>) -> Result<(), NetlinkError> {
        let protocol = match vlan.tag.protocol {
            VlanProtocol::Ieee8021Q => KernelVlanProtocol::Ieee8021Q,
            VlanProtocol::Ieee8021Ad => KernelVlanProtocol::Ieee8021Ad,
        };
        let mut builder =
            LinkVlan::new(vlan.temp_name, vlan.parent_index, vlan.tag.id).protocol(protocol);
        if let Some(mtu) = vlan.mtu {
            builder = builder.mtu(mtu);
        }
        if vlan.into_container {
            builder = builder.setns_by_fd(self.netns.fd().as_raw_fd());
        }
        let message = builder.build();
        let handle = self.handle(ns);
        retrying(|| handle.link().add(message.clone()).execute()).await
    }

    async fn rename_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.change_link(LinkUnspec::new_with_index(index).name(name).build())
            .await
    }

    async fn set_link_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.change_link(LinkUnspec::new_with_index(index).up().build())
            .await
    }

    async fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        retrying(|| self.container.link().del(index).execute()).await
    }

    async fn add_address(&self, index: u32, address: IpNet) -> Result<(), NetlinkError> {
        retrying(|| {
            let mut request =
                self.container
                    .address()
                    .add(index, address.addr(), address.prefix_len());
            if address.addr().is_ipv6() {
                request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
            }
            request.execute()
        })
        .await
    }

    async fn add_route(&self, index: u32, route: &Route) -> Result<(), NetlinkError> {
        let message = route_message(index, route)?;
        retrying(|| {
            send(
                &self.container,
                RouteNetlinkMessage::NewRoute(message.clone()),
                NLM_F_CREATE | NLM_F_APPEND,
            )
        })
        .await
        .map(drop)
    }

    async fn addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        let messages: Vec<AddressMessage> = retrying(|| {
            self.container
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
        })
        .await?;
        Ok(messages.iter().filter_map(address_of).collect())
    }

    async fn routes(&self, index: u32) -> Result<Vec<InstalledRoute>, NetlinkError> {
        let mut routes = Vec::new();
        for family in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let messages: Vec<RouteMessage> = retrying(|| {
                self.container
                    .route()
                    .get(family.clone())
                    .execute()
                    .try_collect()
            })
            .await?;
            routes.extend(messages.iter().flat_map(|m| routes_through(m, index)));
        }
        Ok(routes)
    }

    async fn runtime_netns_id(&self) -> Result<Option<i32>, NetlinkError> {
        let own = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetlinkError::Protocol(format!("opening own namespace: {e}")))?;
        let mut message = NsidMessage::default();
        message.attributes = vec![NsidAttribute::Fd(own.as_raw_fd() as u32)];
        let replies = retrying(|| {
            send(
                &self.container,
                RouteNetlinkMessage::GetNsId(message.clone()),
                0,
            )
        })
        .await?;
        Ok(replies.iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewNsId(m) => m.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            }),
            _ => None,
        }))
    }

    async fn enable_ipv6(&self, ifname: &str) -> Result<(), io::Error> {
        let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
        self.netns.run(|| std::fs::write(path, "0"))?
    }
}

/// Runs `request` until it succeeds, fails for good, or a transient errno outlasts `ATTEMPTS`.
async fn retrying<T, F, Fut>(mut request: F) -> Result<T, NetlinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 1;
    loop {
        match request().await.map_err(classify) {
            Err(NetlinkError::Kernel(errno)) if TRANSIENT.contains(&errno) => {
                if attempts == ATTEMPTS {
                    return Err(NetlinkError::Contended { errno, attempts });
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempts += 1;
            }
            outcome => return outcome,
        }
    }
}

fn classify(error: rtnetlink::Error) -> NetlinkError {
    match error {
        rtnetlink::Error::NetlinkError(message) => match message.code {
            Some(code) => NetlinkError::Kernel(Errno::from_raw(-code.get())),
            None => NetlinkError::Protocol("unexpected acknowledgement".into()),
        },
        other => NetlinkError::Protocol(other.to_string()),
    }
}

/// Sends a request rtnetlink has no builder for (route append, nsid query) and collects the
/// replies.
async fn send(
    handle: &Handle,
    message: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
    let mut request = NetlinkMessage::from(message);
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut responses = handle.clone().request(request)?;
    let mut replies = Vec::new();
    while let Some(response) = responses.next().await {
        match response.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
            NetlinkPayload::InnerMessage(inner) => replies.push(inner),
            _ => {}
        }
    }
    Ok(replies)
}

fn route_message(index: u32, route: &Route) -> Result<RouteMessage, NetlinkError> {
    let invalid = |e: &dyn std::fmt::Display| {
        NetlinkError::Protocol(format!("route {dst}: {e}", dst = route.dst))
    };
    // The kernel rejects a destination with host bits set; CNI results do not promise none.
    let dst = route.dst.trunc();
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .map_err(|e| invalid(&e))?
        .output_interface(index);
    if let Some(gw) = route.gw {
        builder = builder.gateway(gw).map_err(|e| invalid(&e))?;
    }
    if let Some(priority) = route.priority {
        builder = builder.priority(priority);
    }
    if let Some(table) = route.table {
        builder = builder.table_id(table);
    }
    match (route.scope, route.gw) {
        (Some(scope), _) => builder = builder.scope(RouteScope::from(scope)),
        // As `ip route add <dst> dev <if>` does: a route without a gateway is on-link.
        (None, None) => builder = builder.scope(RouteScope::Link),
        (None, Some(_)) => {}
    }
    let metrics: Vec<RouteMetric> = [
        route.mtu.map(RouteMetric::Mtu),
        route.advmss.map(RouteMetric::Advmss),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut message = builder.build();
    if !metrics.is_empty() {
        message.attributes.push(RouteAttribute::Metrics(metrics));
    }
    Ok(message)
}

fn parse_link(message: &LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        kind: None,
        vlan: None,
        parent: None,
        mtu: 0,
        mac: None,
        up: message.header.flags.contains(LinkFlags::Up),
    };
    let mut parent_netns_id = None;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            LinkAttribute::Address(bytes) => link.mac = Some(format_mac(bytes)),
            LinkAttribute::Link(index) => {
                link.parent = Some(Parent {
                    index: *index,
                    netns_id: None,
                })
            }
            LinkAttribute::LinkNetNsId(id) => parent_netns_id = Some(*id),
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
    if let Some(parent) = &mut link.parent {
        parent.netns_id = parent_netns_id;
    }
    link
}

fn vlan_tag(infos: &[InfoVlan]) -> VlanTag {
    let mut tag = VlanTag {
        id: 0,
        protocol: VlanProtocol::Ieee8021Q,
    };
    for info in infos {
        match info {
            InfoVlan::Id(id) => tag.id = *id,
            InfoVlan::Protocol(KernelVlanProtocol::Ieee8021Ad) => {
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

fn address_of(message: &AddressMessage) -> Option<IpNet> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links.
    let local = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    IpNet::new(local.or(address)?, message.header.prefix_len).ok()
}

/// The route (or each of its multipath next hops) that leaves through `index`.
fn routes_through(message: &RouteMessage, index: u32) -> Vec<InstalledRoute> {
    let header = &message.header;
    let destination = message.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(address) => ip_of(address),
        _ => None,
    });
    let unspecified = match header.address_family {
        rtnetlink::packet_route::AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let Ok(dst) = IpNet::new(
        destination.unwrap_or(unspecified),
        header.destination_prefix_length,
    ) else {
        return Vec::new();
    };
    let table = message
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(header.table));
    let route = |gateway| InstalledRoute {
        dst,
        gateway,
        table,
    };
    let oif = message.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    });
    if oif == Some(index) {
        return vec![route(gateway_of(&message.attributes))];
    }
    message
        .attributes
        .iter()
        .filter_map(|a| match a {
            RouteAttribute::MultiPath(hops) => Some(hops),
            _ => None,
        })
        .flatten()
        .filter(|hop| hop.interface_index == index)
        .map(|hop| route(gateway_of(&hop.attributes)))
        .collect()
}

fn gateway_of(attributes: &[RouteAttribute]) -> Option<IpAddr> {
    attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(address) => ip_of(address),
        RouteAttribute::Via(RouteVia::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::num::NonZeroI32;

    use rtnetlink::packet_core::ErrorMessage;

    use super::*;

    fn kernel_error(errno: Errno) -> rtnetlink::Error {
        let mut message = ErrorMessage::default();
        message.code = NonZeroI32::new(-(errno as i32));
        rtnetlink::Error::NetlinkError(message)
    }

    /// Runs `retrying` on a request that fails with `errors` in turn, then succeeds.
    fn attempt(errors: &[Errno]) -> (Result<(), NetlinkError>, usize) {
        let calls = Cell::new(0);
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(retrying(|| {
                let call = calls.get();
                calls.set(call + 1);
                let outcome = errors.get(call).map_or(Ok(()), |e| Err(kernel_error(*e)));
                async move { outcome }
            }));
        (outcome, calls.get())
    }

    #[test]
    fn transient_errnos_are_retried_until_success() {
        let (outcome, calls) = attempt(&[Errno::EBUSY, Errno::ENOBUFS, Errno::EAGAIN]);
        assert!(outcome.is_ok());
        assert_eq!(calls, 4);
    }

    #[test]
    fn contention_that_outlasts_the_attempts_says_so() {
        let (outcome, calls) = attempt(&[Errno::EBUSY; 10]);
        assert_eq!(calls, ATTEMPTS as usize);
        let error = outcome.unwrap_err();
        assert!(error.is_contention());
        assert_eq!(
            error.to_string(),
            "EBUSY: Device or resource busy, still after 5 attempts"
        );
    }

    #[test]
    fn other_errnos_fail_at_once_and_keep_their_errno() {
        let (outcome, calls) = attempt(&[Errno::EEXIST]);
        assert_eq!(calls, 1);
        assert_eq!(outcome.unwrap_err().errno(), Some(Errno::EEXIST));
    }
}
