//! ADD's result: `prevResult` carried forward whole, with the VLAN and its IPAM configuration
//! appended.

use std::net::IpAddr;

use cni_types::{CniResult, Dns, Interface, IpConfig, Route};

/// `prev` (already converted to the 1.1.0 model) + the new interface at the end + the IPAM's IPs
/// pointing at it + the IPAM's routes. DNS: the configuration's when non-empty, else the IPAM's
/// when non-empty, else `prev`'s.
pub fn assemble(
    prev: Option<&CniResult>,
    interface: Interface,
    ipam: Option<&CniResult>,
    configured_dns: &Dns,
) -> CniResult {
    let mut result = prev.cloned().unwrap_or_default();
    let index = result.interfaces.len();
    result.interfaces.push(interface);
    if let Some(ipam) = ipam {
        result.ips.extend(ipam.ips.iter().map(|ip| IpConfig {
            interface: Some(index),
            ..ip.clone()
        }));
        result.routes.extend(ipam.routes.iter().cloned());
        if !ipam.dns.is_empty() {
            result.dns = ipam.dns.clone();
        }
    }
    if !configured_dns.is_empty() {
        result.dns = configured_dns.clone();
    }
    result
}

/// The gateway a route is installed with: its own, or (as upstream's `ConfigureIface` does) the
/// gateway of the first of `ips` in the route's family.
pub fn route_gateway(route: &Route, ips: &[&IpConfig]) -> Option<IpAddr> {
    route.gw.or_else(|| {
        ips.iter()
            .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
            .find_map(|ip| ip.gateway)
    })
}

#[cfg(test)]
mod tests {
    use cni_types::CniVersion;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> CniResult {
        CniResult::parse(&value, CniVersion::V1_1_0).unwrap().1
    }

    fn vlan_interface() -> Interface {
        Interface {
            name: "eth0.3".into(),
            mac: Some("aa:bb:cc:dd:ee:03".into()),
            mtu: Some(1500),
            sandbox: Some("/run/netns/pod".into()),
            ..Interface::default()
        }
    }

    /// A chained ADD: the earlier plugin made eth0 with an address and DNS; the VLAN's IPAM
    /// returns a dual-stack configuration with a route, and the configuration sets no DNS.
    fn chained_result() -> CniResult {
        let prev = parse(json!({
            "cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:00", "sandbox": "/run/netns/pod"}],
            "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
            "dns": {"nameservers": ["10.0.0.53"]}
        }));
        let ipam = parse(json!({
            "cniVersion": "1.1.0",
            "ips": [{"address": "192.168.3.10/24", "gateway": "192.168.3.1"},
                    {"address": "fd00:3::10/64", "gateway": "fd00:3::1"}],
            "routes": [{"dst": "192.168.0.0/16", "gw": "192.168.3.1"}, {"dst": "fd00::/16"}]
        }));
        assemble(Some(&prev), vlan_interface(), Some(&ipam), &Dns::default())
    }

    #[rstest]
    fn renders_in_every_version(
        #[values("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")] version: &str,
    ) {
        let version: CniVersion = version.parse().unwrap();
        insta::with_settings!({ snapshot_suffix => version.as_str() }, {
            insta::assert_json_snapshot!(chained_result().to_json(version));
        });
    }

    #[test]
    fn nothing_from_prev_result_is_dropped_and_new_ips_point_at_the_vlan() {
        let result = chained_result();
        assert_eq!(result.interfaces.len(), 2);
        assert_eq!(result.interfaces[1].name, "eth0.3");
        assert_eq!(result.ips.len(), 3);
        assert_eq!(result.ips[0].interface, Some(0));
        assert_eq!(result.ips[1].interface, Some(1));
        assert_eq!(result.ips[2].interface, Some(1));
        assert_eq!(result.routes.len(), 3);
        assert_eq!(
            result.dns.nameservers,
            ["10.0.0.53"],
            "prevResult's DNS kept"
        );
    }

    #[test]
    fn dns_precedence_config_then_ipam_then_prev() {
        let prev = parse(json!({"dns": {"nameservers": ["1.1.1.1"]}}));
        let ipam = parse(
            json!({"ips": [{"address": "10.0.0.2/24"}], "dns": {"nameservers": ["2.2.2.2"]}}),
        );
        let configured = Dns {
            nameservers: vec!["3.3.3.3".into()],
            ..Dns::default()
        };
        let dns = |ipam: Option<&CniResult>, configured: &Dns| {
            assemble(Some(&prev), vlan_interface(), ipam, configured)
                .dns
                .nameservers
        };
        assert_eq!(dns(Some(&ipam), &configured), ["3.3.3.3"]);
        assert_eq!(dns(Some(&ipam), &Dns::default()), ["2.2.2.2"]);
        assert_eq!(dns(None, &Dns::default()), ["1.1.1.1"]);
    }

    #[test]
    fn an_l2_only_attachment_without_prev_result_is_just_the_interface() {
        let result = assemble(None, vlan_interface(), None, &Dns::default());
        assert_eq!(
            result.to_json(CniVersion::V1_1_0),
            json!({"cniVersion": "1.1.0", "interfaces": [{
                "name": "eth0.3", "mac": "aa:bb:cc:dd:ee:03", "mtu": 1500, "sandbox": "/run/netns/pod"}]})
        );
    }

    #[test]
    fn routes_without_a_gateway_use_the_first_gateway_of_their_family() {
        let result = chained_result();
        let own: Vec<&IpConfig> = result
            .ips
            .iter()
            .filter(|ip| ip.interface == Some(1))
            .collect();
        let v6_route = &result.routes[2];
        assert_eq!(
            route_gateway(v6_route, &own),
            Some("fd00:3::1".parse().unwrap())
        );
        assert_eq!(
            route_gateway(&result.routes[1], &own),
            Some("192.168.3.1".parse().unwrap())
        );
        assert_eq!(route_gateway(v6_route, &[]), None);
    }
}
