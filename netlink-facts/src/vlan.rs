//! The 802.1Q tag of a VLAN link (`IFLA_VLAN_ID`, `IFLA_VLAN_PROTOCOL`).

use std::fmt;

use netlink_packet_route::link::{InfoVlan, VlanProtocol as WireVlanProtocol};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VlanTag {
    pub id: u16,
    pub protocol: VlanProtocol,
}

/// The tag protocol, spelled as CNI configurations and scenario files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum VlanProtocol {
    #[default]
    #[serde(rename = "802.1Q")]
    Ieee8021Q,
    /// QinQ outer tag.
    #[serde(rename = "802.1ad")]
    Ieee8021Ad,
}

impl VlanTag {
    pub fn new(id: u16, protocol: VlanProtocol) -> Self {
        VlanTag { id, protocol }
    }

    /// From `IFLA_INFO_DATA` of a "vlan" link; an absent protocol is the kernel's default,
    /// 802.1Q.
    pub fn from_info(attributes: &[InfoVlan]) -> Self {
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
}

impl VlanProtocol {
    pub fn to_wire(self) -> WireVlanProtocol {
        match self {
            VlanProtocol::Ieee8021Q => WireVlanProtocol::Ieee8021Q,
            VlanProtocol::Ieee8021Ad => WireVlanProtocol::Ieee8021Ad,
        }
    }
}

impl fmt::Display for VlanProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VlanProtocol::Ieee8021Q => "802.1Q",
            VlanProtocol::Ieee8021Ad => "802.1ad",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_comes_from_the_info_data_and_defaults_to_802_1q() {
        let ad = VlanTag::from_info(&[
            InfoVlan::Id(42),
            InfoVlan::Protocol(WireVlanProtocol::Ieee8021Ad),
        ]);
        assert_eq!(ad, VlanTag::new(42, VlanProtocol::Ieee8021Ad));
        assert_eq!(
            VlanTag::from_info(&[InfoVlan::Id(7)]),
            VlanTag::new(7, VlanProtocol::Ieee8021Q)
        );
        assert_eq!(ad.protocol.to_string(), "802.1ad");
        assert_eq!(ad.protocol.to_wire(), WireVlanProtocol::Ieee8021Ad);
    }
}
