//! An address as `RTM_NEWADDR` describes it.

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressFacts {
    /// The link it is on.
    pub index: u32,
    pub cidr: IpNet,
}

impl AddressFacts {
    /// `None` for an address without an IP or with an impossible prefix length.
    pub fn from_message(message: &AddressMessage) -> Option<AddressFacts> {
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
        // point-to-point links (and the only one IPv6 sends).
        let local = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let address = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        Some(AddressFacts {
            index: message.header.index,
            cidr: IpNet::new(local.or(address)?, message.header.prefix_len).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn message(attributes: Vec<AddressAttribute>, prefix_len: u8) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header.index = 5;
        message.header.prefix_len = prefix_len;
        message.attributes = attributes;
        message
    }

    #[test]
    fn the_local_address_wins_over_the_peer() {
        let local: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let facts = AddressFacts::from_message(&message(
            vec![
                AddressAttribute::Address(peer),
                AddressAttribute::Local(local),
            ],
            32,
        ));
        assert_eq!(
            facts,
            Some(AddressFacts {
                index: 5,
                cidr: "10.0.0.1/32".parse().unwrap()
            })
        );
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let only_address =
            AddressFacts::from_message(&message(vec![AddressAttribute::Address(v6)], 64));
        assert_eq!(only_address.unwrap().cidr, "fd00::1/64".parse().unwrap());
    }

    #[test]
    fn no_ip_or_a_bad_prefix_is_no_address() {
        assert_eq!(AddressFacts::from_message(&message(Vec::new(), 24)), None);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            AddressFacts::from_message(&message(vec![AddressAttribute::Local(ip)], 33)),
            None
        );
    }
}
