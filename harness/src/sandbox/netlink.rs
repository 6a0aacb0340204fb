//! Every rtnetlink request the sandbox and the snapshot send, in one place, so an rtnetlink bump
//! touches one file. Errors stay `rtnetlink::Error` (errno intact); callers add the context.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use futures_util::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::AddressMessage;
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::route::{RouteMessage, RouteScope};
use rtnetlink::{Error, Handle, LinkBridge, LinkUnspec, LinkVeth, LinkVlan, RouteMessageBuilder};

use crate::topology::{Endpoint, VlanTag};

/// The errno inside a kernel answer (`ErrorMessage.code` holds `-errno`).
pub(crate) fn errno(error: &Error) -> Option<Errno> {
    match error {
        Error::NetlinkError(message) => message.code.map(|code| Errno::from_raw(-code.get())),
        _ => None,
    }
}

/// The link named `name`, or `None` when the kernel says ENODEV.
pub(crate) async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, Error> {
    let mut answers = handle.link().get().match_name(name).execute();
    match answers.try_next().await {
        Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
        other => other,
    }
}

pub(crate) async fn links(handle: &Handle) -> Result<Vec<LinkMessage>, Error> {
    handle.link().get().execute().try_collect().await
}

pub(crate) async fn addresses(handle: &Handle) -> Result<Vec<AddressMessage>, Error> {
    handle.address().get().execute().try_collect().await
}

/// Every route of every table and family (filtering is the caller's business).
pub(crate) async fn routes(handle: &Handle) -> Result<Vec<RouteMessage>, Error> {
    let dump_all = RouteMessageBuilder::<IpAddr>::new().build();
    handle.route().get(dump_all).execute().try_collect().await
}

/// The id under which the namespace behind `netns` is known in the handle's namespace
/// (RTM_GETNSID by fd, like `ip netns list-id`); `None` when none is assigned. rtnetlink's own
/// `get_netns_id` only takes `/run/netns` names, which the sandbox never creates.
pub(crate) async fn nsid_of(handle: &Handle, netns: BorrowedFd<'_>) -> Result<Option<i32>, Error> {
    let mut query = NsidMessage::default();
    query.attributes = vec![NsidAttribute::Fd(netns.as_raw_fd() as u32)];
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(query));
    request.header.flags = NLM_F_REQUEST;
    let mut answers = handle.clone().request(request)?;
    while let Some(answer) = answers.next().await {
        match answer.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => return Err(Error::NetlinkError(e)),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(reply)) => {
                return Ok(reply.attributes.iter().find_map(|a| match a {
                    NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                    _ => None,
                }));
            }
            _ => {}
        }
    }
    Ok(None)
}

pub(crate) async fn add_link(handle: &Handle, link: LinkMessage) -> Result<(), Error> {
    handle.link().add(link).execute().await
}

pub(crate) async fn change_link(handle: &Handle, change: LinkMessage) -> Result<(), Error> {
    handle.link().change(change).execute().await
}

pub(crate) async fn delete_link(handle: &Handle, index: u32) -> Result<(), Error> {
    handle.link().del(index).execute().await
}

pub(crate) fn veth(name: &str, peer: &str) -> LinkMessage {
    LinkVeth::new(name, peer).build()
}

pub(crate) fn bridge(name: &str) -> LinkMessage {
    LinkBridge::new(name).build()
}

pub(crate) fn vlan(name: &str, parent_index: u32, tag: VlanTag) -> LinkMessage {
    LinkVlan::new(name, parent_index, tag.id)
        .protocol(tag.protocol.to_wire())
        .build()
}

/// One RTM_NEWLINK that gives a freshly made (hence down) link its final place: moved into
/// `target` if given (under its current, temporary name; the kernel would only take the new
/// name on arrival if that one were taken there), renamed, MTU set, brought up or left down.
pub(crate) fn settle(index: u32, end: &Endpoint, target: Option<BorrowedFd<'_>>) -> LinkMessage {
    let mut change = LinkUnspec::new_with_index(index).name(end.name.clone());
    if let Some(netns) = target {
        change = change.setns_by_fd(netns.as_raw_fd());
    }
    if let Some(mtu) = end.mtu {
        change = change.mtu(mtu);
    }
    if end.up { change.up() } else { change.down() }.build()
}

pub(crate) fn set_mtu(index: u32, mtu: u32) -> LinkMessage {
    LinkUnspec::new_with_index(index).mtu(mtu).build()
}

pub(crate) fn set_up(index: u32, up: bool) -> LinkMessage {
    let change = LinkUnspec::new_with_index(index);
    if up { change.up() } else { change.down() }.build()
}

pub(crate) async fn add_address(handle: &Handle, index: u32, cidr: IpNet) -> Result<(), Error> {
    handle
        .address()
        .add(index, cidr.addr(), cidr.prefix_len())
        .execute()
        .await
}

pub(crate) async fn find_address(
    handle: &Handle,
    index: u32,
    cidr: IpNet,
) -> Result<Option<AddressMessage>, Error> {
    let mut answers = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(cidr.addr())
        .set_prefix_length_filter(cidr.prefix_len())
        .execute();
    answers.try_next().await
}

pub(crate) async fn delete_address(handle: &Handle, address: AddressMessage) -> Result<(), Error> {
    handle.address().del(address).execute().await
}

/// A main-table route; without a gateway an IPv4 route is on-link (scope link), as
/// `ip route add <dst> dev <dev>` makes it. Families are checked by the caller.
pub(crate) fn route(
    dst: IpNet,
    gateway: Option<IpAddr>,
    device_index: Option<u32>,
) -> RouteMessage {
    let mut route = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .expect("prefix length comes from a valid IpNet");
    if let Some(gateway) = gateway {
        route = route
            .gateway(gateway)
            .expect("gateway family matches the destination's");
    } else if dst.addr().is_ipv4() {
        route = route.scope(RouteScope::Link);
    }
    if let Some(index) = device_index {
        route = route.output_interface(index);
    }
    route.build()
}

pub(crate) async fn add_route(handle: &Handle, route: RouteMessage) -> Result<(), Error> {
    handle.route().add(route).execute().await
}
