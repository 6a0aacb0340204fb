//! A link as `RTM_NEWLINK` describes it.

use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoMacVlan, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode,
};
use serde::Serialize;

use crate::VlanTag;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkFacts {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` ("vlan", "veth", ...); `None` for devices without one (physical, lo).
    pub kind: Option<String>,
    pub vlan: Option<VlanTag>,
    /// `IFLA_LINK` (+ `IFLA_LINK_NETNSID`): a VLAN's parent, a veth's peer.
    pub lower: Option<LowerLink>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    pub loopback: bool,
    /// Lower-case, colon-separated hex.
    pub mac: Option<String>,
    /// `IFLA_MASTER`: the bridge (or bond, VRF) a port belongs to, in the link's namespace.
    pub master: Option<u32>,
    /// A macvlan's (`bridge`, `private`, `vepa`, `passthru`, `source`) or ipvlan's (`l2`,
    /// `l3`, `l3s`) mode.
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LowerLink {
    pub index: u32,
    /// The namespace holding `index`, as an nsid of the link's own namespace; `None` = same.
    pub nsid: Option<i32>,
}

impl LinkFacts {
    pub fn from_message(message: &LinkMessage) -> LinkFacts {
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
            master: None,
            mode: None,
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
                LinkAttribute::Controller(index) => link.master = Some(*index),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(kind) => link.kind = Some(kind.to_string()),
                            LinkInfo::Data(InfoData::Vlan(vlan)) => {
                                link.vlan = Some(VlanTag::from_info(vlan))
                            }
                            LinkInfo::Data(InfoData::MacVlan(data)) => {
                                link.mode = data.iter().find_map(|d| match d {
                                    InfoMacVlan::Mode(mode) => Some(macvlan_mode(*mode)),
                                    _ => None,
                                })
                            }
                            LinkInfo::Data(InfoData::IpVlan(data)) => {
                                link.mode = data.iter().find_map(|d| match d {
                                    InfoIpVlan::Mode(mode) => Some(ipvlan_mode(*mode)),
                                    _ => None,
                                })
                            }
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

    /// The kind, or "device" for links without one.
    pub fn kind_name(&self) -> &str {
        self.kind.as_deref().unwrap_or("device")
    }
}

/// As `ip -d link` and the plugins' configurations name the modes.
fn macvlan_mode(mode: MacVlanMode) -> String {
    match mode {
        MacVlanMode::Private => "private".into(),
        MacVlanMode::Vepa => "vepa".into(),
        MacVlanMode::Bridge => "bridge".into(),
        MacVlanMode::Passthrough => "passthru".into(),
        MacVlanMode::Source => "source".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn ipvlan_mode(mode: IpVlanMode) -> String {
    match mode {
        IpVlanMode::L2 => "l2".into(),
        IpVlanMode::L3 => "l3".into(),
        IpVlanMode::L3S => "l3s".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::link::{InfoKind, InfoVlan};

    use super::*;
    use crate::VlanProtocol;

    #[test]
    fn a_vlan_in_another_namespace_than_its_parent() {
        let mut message = LinkMessage::default();
        message.header.index = 9;
        message.header.flags = LinkFlags::Up;
        message.attributes = vec![
            LinkAttribute::IfName("eth0.3".into()),
            LinkAttribute::Mtu(1400),
            LinkAttribute::Address(vec![0x02, 0, 0, 0, 0, 0xab]),
            LinkAttribute::Link(4),
            LinkAttribute::LinkNetNsId(1),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vlan),
                LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(3)])),
            ]),
        ];
        let link = LinkFacts::from_message(&message);
        assert_eq!(
            link,
            LinkFacts {
                index: 9,
                name: "eth0.3".into(),
                kind: Some("vlan".into()),
                vlan: Some(VlanTag::new(3, VlanProtocol::Ieee8021Q)),
                lower: Some(LowerLink {
                    index: 4,
                    nsid: Some(1)
                }),
                mtu: 1400,
                up: true,
                loopback: false,
                mac: Some("02:00:00:00:00:ab".into()),
                master: None,
                mode: None,
            }
        );
        assert_eq!(link.kind_name(), "vlan");
    }

    #[test]
    fn a_device_without_kind_or_lower_link() {
        let mut message = LinkMessage::default();
        message.header.flags = LinkFlags::Loopback;
        message.attributes = vec![LinkAttribute::IfName("lo".into())];
        let link = LinkFacts::from_message(&message);
        assert!(link.loopback && !link.up);
        assert_eq!((link.lower, link.kind_name()), (None, "device"));
    }
}
