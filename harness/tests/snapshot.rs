//! Snapshots are normalized and deterministic: names instead of ifindexes (across namespaces),
//! MAC symbols that keep equal MACs equal, sorted by value, CNI results rewritten the same way.

use std::process::Command;

use cni_conform::sandbox::Sandbox;
use cni_conform::snapshot::Snapshot;
use cni_conform::topology::{Endpoint, Topology, VlanProtocol, VlanTag};
use serde_json::json;

fn topology() -> Topology {
    Topology::default()
        .with_veth(
            Endpoint::new("node", "veth-pod").mtu(1450),
            Endpoint::new("pod", "eth0").mtu(1450),
        )
        .with_veth(
            Endpoint::new("node", "trunk0"),
            Endpoint::new("node", "trunk1"),
        )
}

/// VLANs (one across namespaces, one 802.1ad), v4 and v6 addresses, a route via a gateway.
fn build(sandbox: &Sandbox) {
    sandbox
        .add_vlan(
            &Endpoint::new("pod", "eth0.100"),
            "node",
            "trunk0",
            VlanTag::new(100, VlanProtocol::Ieee8021Q),
        )
        .unwrap();
    sandbox
        .add_vlan(
            &Endpoint::new("node", "qinq200").mtu(1400).down(),
            "node",
            "trunk1",
            VlanTag::new(200, VlanProtocol::Ieee8021Ad),
        )
        .unwrap();
    let add = |netns: &str, link: &str, cidr: &str| {
        sandbox
            .add_address(netns, link, cidr.parse().unwrap())
            .unwrap()
    };
    add("pod", "eth0.100", "192.168.100.10/24");
    add("pod", "eth0.100", "2001:db8:100::10/64");
    add("pod", "eth0", "10.0.0.2/30");
    add("node", "veth-pod", "10.0.0.1/30");
    sandbox
        .add_route(
            "pod",
            "0.0.0.0/0".parse().unwrap(),
            Some("192.168.100.1".parse().unwrap()),
            Some("eth0.100"),
        )
        .unwrap();
    sandbox
        .add_route(
            "pod",
            "2001:db8:ffff::/48".parse().unwrap(),
            Some("2001:db8:100::1".parse().unwrap()),
            None,
        )
        .unwrap();
    sandbox
        .add_route(
            "node",
            "10.9.0.0/16".parse().unwrap(),
            None,
            Some("veth-pod"),
        )
        .unwrap();
}

fn mac_of(sandbox: &Sandbox, netns: &str, link: &str) -> String {
    let mut ip = Command::new("ip");
    ip.args(["-j", "link", "show", "dev", link]);
    sandbox
        .netns(netns)
        .unwrap()
        .enter_on_spawn(&mut ip)
        .unwrap();
    let output = ip.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let links: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    links[0]["address"].as_str().unwrap().to_string()
}

fn link_mac(snapshot: &Snapshot, netns: &str, name: &str) -> String {
    let links = &snapshot.netns[netns].links;
    let link = links.iter().find(|l| l.name == name).unwrap();
    link.mac.clone().unwrap()
}

#[test]
fn veths_vlans_addresses_and_routes() {
    cni_conform::kernel::require_vlan();
    let sandbox = Sandbox::new(&topology()).unwrap();
    build(&sandbox);
    let snapshot = Snapshot::capture(&sandbox).unwrap();
    insta::assert_snapshot!("veths_vlans_addresses_and_routes", snapshot.to_yaml());
}

#[test]
fn same_topology_same_snapshot_despite_other_macs_and_ifindexes() {
    cni_conform::kernel::require_vlan();
    let first = Sandbox::new(&topology()).unwrap();
    build(&first);
    let second = Sandbox::new(&topology()).unwrap();
    // Shift the second sandbox's ifindexes: a pair made and gone before the rest is built.
    second
        .add_veth(
            &Endpoint::new("pod", "gone0"),
            &Endpoint::new("node", "gone1"),
        )
        .unwrap();
    second.delete_link("pod", "gone0").unwrap();
    build(&second);

    assert_ne!(
        mac_of(&first, "pod", "eth0"),
        mac_of(&second, "pod", "eth0"),
        "veth MACs are random"
    );
    let index = |sandbox: &Sandbox| {
        let mut ip = Command::new("ip");
        ip.args(["-j", "link", "show", "dev", "eth0.100"]);
        sandbox
            .netns("pod")
            .unwrap()
            .enter_on_spawn(&mut ip)
            .unwrap();
        let links: serde_json::Value =
            serde_json::from_slice(&ip.output().unwrap().stdout).unwrap();
        links[0]["ifindex"].as_u64().unwrap()
    };
    assert_ne!(index(&first), index(&second));
    assert_eq!(
        Snapshot::capture(&first).unwrap(),
        Snapshot::capture(&second).unwrap()
    );
}

#[test]
fn equal_macs_share_a_symbol_and_different_ones_do_not() {
    cni_conform::kernel::require_vlan();
    let sandbox = Sandbox::new(&topology()).unwrap();
    build(&sandbox);
    let snapshot = Snapshot::capture(&sandbox).unwrap();

    // A VLAN inherits its parent's MAC, across namespaces too.
    assert_eq!(
        mac_of(&sandbox, "pod", "eth0.100"),
        mac_of(&sandbox, "node", "trunk0")
    );
    assert_eq!(
        link_mac(&snapshot, "pod", "eth0.100"),
        link_mac(&snapshot, "node", "trunk0")
    );
    assert_eq!(
        link_mac(&snapshot, "node", "qinq200"),
        link_mac(&snapshot, "node", "trunk1")
    );
    let distinct: std::collections::BTreeSet<String> = [
        ("node", "trunk0"),
        ("node", "trunk1"),
        ("node", "veth-pod"),
        ("pod", "eth0"),
    ]
    .iter()
    .map(|(netns, link)| link_mac(&snapshot, netns, link))
    .collect();
    assert_eq!(distinct.len(), 4, "{}", snapshot.to_yaml());
}

#[test]
fn cni_result_uses_netns_names_and_the_links_mac_symbols() {
    cni_conform::kernel::require_vlan();
    let sandbox = Sandbox::new(&topology()).unwrap();
    build(&sandbox);
    let vlan_mac = mac_of(&sandbox, "pod", "eth0.100").to_uppercase();
    let pod_path = sandbox
        .pod("pod")
        .unwrap()
        .path()
        .to_str()
        .unwrap()
        .to_string();
    let socket = sandbox.dir().join("plugin.sock");
    let result = json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "eth0.100", "mac": vlan_mac, "sandbox": pod_path},
            {"name": "ghost", "mac": "02:00:00:00:00:99", "socketPath": socket}
        ],
        "ips": [{"address": "192.168.100.10/24", "gateway": "192.168.100.1", "interface": 0}],
        "dns": {}
    });

    let snapshot = Snapshot::capture_with_result(&sandbox, Some(&result)).unwrap();

    let normalized = snapshot.result.as_ref().unwrap();
    assert_eq!(
        normalized["interfaces"][0]["mac"],
        link_mac(&snapshot, "pod", "eth0.100"),
        "case differences do not matter"
    );
    let link_symbols: Vec<String> = snapshot
        .netns
        .values()
        .flat_map(|ns| ns.links.iter().filter_map(|l| l.mac.clone()))
        .collect();
    let ghost = normalized["interfaces"][1]["mac"].as_str().unwrap();
    assert!(!link_symbols.iter().any(|s| s == ghost), "{ghost}");
    insta::assert_yaml_snapshot!("cni_result_normalized", normalized);
}
