//! [`Netlink`] over two blocking route sockets: one in the runtime's namespace (opened on the
//! main thread, which the plugin never moves for good) and one opened inside `CNI_NETNS`.
//!
//! The plugin sends one request at a time and waits for its answer, so a blocking socket and a
//! sequence number per request are the whole protocol: no async runtime, no background task.
//! That is most of what the plugin costs to start, in memory and in binary size, and it runs
//! once per attachment. Messages are built with rtnetlink's builders and netlink-packet-route's
//! types. Transient errnos are retried a bounded number of times with back-off.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use cni_types::Route;
use ipnet::IpNet;
use netlink_facts::AddressFacts;
use nix::errno::Errno;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteScope, RouteVia,
};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use rtnetlink::{AddressMessageBuilder, LinkUnspec, LinkVlan, RouteMessageBuilder};

use super::{InstalledRoute, Link, Namespace, Netlink, NetlinkError, NewVlan};
use crate::netns::NetnsFile;

/// Attempts per request when the kernel answers with a transient errno.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const TRANSIENT: [Errno; 3] = [Errno::EBUSY, Errno::EAGAIN, Errno::ENOBUFS];

/// The kernel never puts more than this into one datagram of a dump (it caps its buffer at
/// 32 KiB minus the skb overhead), and single answers are far smaller.
const RECEIVE_BUFFER: usize = 32 * 1024;

pub struct Rtnl<'a> {
    runtime: RouteSocket,
    container: RouteSocket,
    netns: &'a NetnsFile,
}

impl<'a> Rtnl<'a> {
    /// Must be called on a thread in the runtime's namespace.
    pub fn open(netns: &'a NetnsFile) -> io::Result<Rtnl<'a>> {
        Ok(Rtnl {
            runtime: RouteSocket::open()?,
            container: netns.run(RouteSocket::open)??,
            netns,
        })
    }

    fn socket(&self, ns: Namespace) -> &RouteSocket {
        match ns {
            Namespace::Runtime => &self.runtime,
            Namespace::Container => &self.container,
        }
    }

    /// An acknowledged request to `CNI_NETNS` that answers nothing else.
    fn change(&self, message: RouteNetlinkMessage, flags: u16) -> Result<(), NetlinkError> {
        retrying(|| self.container.request(message.clone(), flags)).map(drop)
    }

    /// A dump of `CNI_NETNS`.
    fn dump(&self, message: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        retrying(|| self.container.request(message.clone(), NLM_F_DUMP))
    }
}

impl Netlink for Rtnl<'_> {
    fn link_by_name(&self, ns: Namespace, name: &str) -> Result<Option<Link>, NetlinkError> {
        let mut request = LinkMessage::default();
        request
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        let socket = self.socket(ns);
        match retrying(|| socket.request(RouteNetlinkMessage::GetLink(request.clone()), 0)) {
            Ok(replies) => Ok(replies.iter().find_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(message) => Some(Link::from_message(message)),
                _ => None,
            })),
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_vlan(&self, ns: Namespace, vlan: &NewVlan<'_>) -> Result<(), NetlinkError> {
        let mut builder = LinkVlan::new(vlan.temp_name, vlan.parent_index, vlan.tag.id)
            .protocol(vlan.tag.protocol.to_wire());
        if let Some(mtu) = vlan.mtu {
            builder = builder.mtu(mtu);
        }
        if vlan.into_container {
            builder = builder.setns_by_fd(self.netns.fd().as_raw_fd());
        }
        let message = RouteNetlinkMessage::NewLink(builder.build());
        let socket = self.socket(ns);
        retrying(|| socket.request(message.clone(), NLM_F_CREATE | NLM_F_EXCL)).map(drop)
    }

    fn rename_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        let message = LinkUnspec::new_with_index(index).name(name).build();
        self.change(RouteNetlinkMessage::SetLink(message), 0)
    }

    fn set_link_up(&self, index: u32) -> Result<(), NetlinkError> {
        let message = LinkUnspec::new_with_index(index).up().build();
        self.change(RouteNetlinkMessage::SetLink(message), 0)
    }

    fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        let message = LinkUnspec::new_with_index(index).build();
        self.change(RouteNetlinkMessage::DelLink(message), 0)
    }

    fn add_address(&self, index: u32, address: IpNet) -> Result<(), NetlinkError> {
        let message = match address {
            IpNet::V4(v4) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(v4.addr(), v4.prefix_len())
                .build(),
            IpNet::V6(v6) => {
                let mut message = AddressMessageBuilder::<Ipv6Addr>::new()
                    .index(index)
                    .address(v6.addr(), v6.prefix_len())
                    .build();
                message.header.flags |= AddressHeaderFlags::Nodad;
                message
            }
        };
        self.change(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    fn add_route(&self, index: u32, route: &Route) -> Result<(), NetlinkError> {
        let message = route_message(index, route)?;
        self.change(
            RouteNetlinkMessage::NewRoute(message),
            NLM_F_CREATE | NLM_F_APPEND,
        )
    }

    fn addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        // Without strict checking the kernel ignores a dump's filter: filter here.
        let replies = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewAddress(m) => AddressFacts::from_message(m),
                _ => None,
            })
            .filter(|address| address.index == index)
            .map(|address| address.cidr)
            .collect())
    }

    fn routes(&self, index: u32) -> Result<Vec<InstalledRoute>, NetlinkError> {
        let mut routes = Vec::new();
        for family in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let replies = self.dump(RouteNetlinkMessage::GetRoute(family))?;
            routes.extend(replies.iter().flat_map(|reply| match reply {
                RouteNetlinkMessage::NewRoute(m) => routes_through(m, index),
                _ => Vec::new(),
            }));
        }
        Ok(routes)
    }

    fn runtime_netns_id(&self) -> Result<Option<i32>, NetlinkError> {
        let own = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetlinkError::Protocol(format!("opening own namespace: {e}")))?;
        let mut message = NsidMessage::default();
        message.attributes = vec![NsidAttribute::Fd(own.as_raw_fd() as u32)];
        let replies = retrying(|| {
            self.container
                .request(RouteNetlinkMessage::GetNsId(message.clone()), 0)
        })?;
        Ok(replies.iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewNsId(m) => m.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            }),
            _ => None,
        }))
    }

    fn enable_ipv6(&self, ifname: &str) -> Result<(), io::Error> {
        let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
        self.netns.run(|| std::fs::write(path, "0"))?
    }
}

/// A blocking `NETLINK_ROUTE` socket bound to the namespace it was opened in.
struct RouteSocket {
    socket: Socket,
    sequence: Cell<u32>,
    buffer: RefCell<Vec<u8>>,
}

impl RouteSocket {
    fn open() -> io::Result<RouteSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(RouteSocket {
            socket,
            sequence: Cell::new(0),
            buffer: RefCell::new(Vec::with_capacity(RECEIVE_BUFFER)),
        })
    }

    /// Sends `message` (with `NLM_F_REQUEST | NLM_F_ACK` and `flags`) and collects what the
    /// kernel answers until its acknowledgement, its error, or the end of a dump.
    fn request(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let sequence = self.sequence.get().wrapping_add(1);
        self.sequence.set(sequence);
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        request.header.sequence_number = sequence;
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        self.socket
            .send(&bytes, 0)
            .map_err(socket_error("sending"))?;

        let mut replies = Vec::new();
        let mut buffer = self.buffer.borrow_mut();
        loop {
            buffer.clear();
            // MSG_TRUNC: the datagram's real size, so a truncated one is noticed.
            let size = self
                .socket
                .recv(&mut *buffer, libc::MSG_TRUNC)
                .map_err(socket_error("receiving"))?;
            if size > buffer.len() {
                return Err(NetlinkError::Protocol(format!(
                    "a {size}-byte answer does not fit the {RECEIVE_BUFFER}-byte buffer"
                )));
            }
            let mut datagram = &buffer[..size];
            while !datagram.is_empty() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(datagram)
                    .map_err(|e| NetlinkError::Protocol(format!("malformed answer: {e}")))?;
                // Messages are 4-byte aligned within a datagram.
                let length = (reply.header.length as usize).next_multiple_of(4);
                datagram = datagram.get(length..).unwrap_or_default();
                if reply.header.sequence_number != sequence {
                    // The answer to an earlier request we stopped reading (a dump's trailer).
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(code) => Err(NetlinkError::Kernel(Errno::from_raw(-code.get()))),
                            None => Ok(replies),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                    _ => {}
                }
            }
        }
    }
}

fn socket_error(doing: &'static str) -> impl Fn(io::Error) -> NetlinkError {
    move |e| NetlinkError::Protocol(format!("{doing} on the route socket: {e}"))
}

/// Runs `request` until it succeeds, fails for good, or a transient errno outlasts `ATTEMPTS`.
fn retrying<T>(mut request: impl FnMut() -> Result<T, NetlinkError>) -> Result<T, NetlinkError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 1;
    loop {
        match request() {
            Err(NetlinkError::Kernel(errno)) if TRANSIENT.contains(&errno) => {
                if attempts == ATTEMPTS {
                    return Err(NetlinkError::Contended { errno, attempts });
                }
                std::thread::sleep(backoff);
                backoff *= 2;
                attempts += 1;
            }
            outcome => return outcome,
        }
    }
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

    use super::*;

    /// Runs `retrying` on a request that fails with `errors` in turn, then succeeds.
    fn attempt(errors: &[Errno]) -> (Result<(), NetlinkError>, usize) {
        let calls = Cell::new(0);
        let outcome = retrying(|| {
            let call = calls.get();
            calls.set(call + 1);
            errors
                .get(call)
                .map_or(Ok(()), |e| Err(NetlinkError::Kernel(*e)))
        });
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
