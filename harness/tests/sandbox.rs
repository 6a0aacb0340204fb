//! The sandbox builds what a topology asks for, refuses bad topologies before touching the
//! kernel, always cleans up (also half-way and on panic), never touches the host, and many
//! sandboxes live at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cni_conform::sandbox::{Sandbox, SandboxError};
use cni_conform::snapshot::{HostNetworkState, Link, Snapshot};
use cni_conform::topology::{Endpoint, Topology, TopologyError, VlanProtocol, VlanTag};
use nix::errno::Errno;

fn link<'a>(snapshot: &'a Snapshot, netns: &str, name: &str) -> &'a Link {
    snapshot.netns[netns]
        .links
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no link {netns}/{name} in {}", snapshot.to_yaml()))
}

fn link_names(snapshot: &Snapshot, netns: &str) -> Vec<String> {
    snapshot.netns[netns]
        .links
        .iter()
        .map(|l| l.name.clone())
        .collect()
}

/// Mount points at or below `dir`, from this process's mount table.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|mount_point| mount_point.starts_with(dir))
        .collect()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn two_pods_and_a_node_pair() -> Topology {
    Topology::default()
        .with_pods(["pod", "pod2"])
        .with_extra_netns(["router"])
        .with_veth(
            Endpoint::new("node", "veth-pod").mtu(1400),
            Endpoint::new("pod", "eth0").mtu(1400),
        )
        .with_veth(
            Endpoint::new("node", "veth-pod2").down(),
            Endpoint::new("pod2", "eth0").mtu(9000),
        )
        .with_veth(
            Endpoint::new("node", "uplink").mtu(1500),
            Endpoint::new("node", "uplink-peer").mtu(1480).down(),
        )
        .with_veth(
            Endpoint::new("router", "to-node"),
            Endpoint::new("node", "to-router"),
        )
}

#[test]
fn builds_the_topology_with_names_mtus_and_states() {
    let sandbox = Sandbox::new(&two_pods_and_a_node_pair()).unwrap();
    let snapshot = Snapshot::capture(&sandbox).unwrap();

    assert_eq!(
        sandbox.netns_names().collect::<Vec<_>>(),
        ["node", "pod", "pod2", "router"]
    );
    assert_eq!(
        link_names(&snapshot, "node"),
        [
            "to-router",
            "uplink",
            "uplink-peer",
            "veth-pod",
            "veth-pod2"
        ]
    );
    assert_eq!(link_names(&snapshot, "pod"), ["eth0"]);
    assert_eq!(link_names(&snapshot, "pod2"), ["eth0"]);
    assert_eq!(link_names(&snapshot, "router"), ["to-node"]);

    let pod_eth0 = link(&snapshot, "pod", "eth0");
    assert_eq!(pod_eth0.kind.as_deref(), Some("veth"));
    assert_eq!(pod_eth0.peer.as_deref(), Some("node/veth-pod"));
    assert_eq!((pod_eth0.mtu, pod_eth0.up), (1400, true));
    let node_end = link(&snapshot, "node", "veth-pod");
    assert_eq!(node_end.peer.as_deref(), Some("pod/eth0"));
    assert_eq!((node_end.mtu, node_end.up), (1400, true));

    let down_end = link(&snapshot, "node", "veth-pod2");
    assert_eq!((down_end.mtu, down_end.up), (1500, false));
    assert_eq!(link(&snapshot, "pod2", "eth0").mtu, 9000);

    let uplink = link(&snapshot, "node", "uplink");
    assert_eq!(uplink.peer.as_deref(), Some("node/uplink-peer"));
    let uplink_peer = link(&snapshot, "node", "uplink-peer");
    assert_eq!((uplink_peer.mtu, uplink_peer.up), (1480, false));
    assert_eq!(
        link(&snapshot, "router", "to-node").peer.as_deref(),
        Some("node/to-router")
    );

    // Accessors: netns files inside the sandbox's own folder, pods told apart from the rest.
    for name in ["node", "pod", "pod2", "router"] {
        let netns = sandbox.netns(name).unwrap();
        assert!(netns.path().starts_with(sandbox.dir()), "{netns:?}");
        assert_eq!(sandbox.netns_path(name).as_deref(), Some(netns.path()));
    }
    assert_eq!(sandbox.node().path(), sandbox.netns("node").unwrap().path());
    assert!(sandbox.pod("pod2").is_some());
    assert!(sandbox.pod("router").is_none() && sandbox.pod("node").is_none());
    assert!(sandbox.dir().starts_with(std::env::temp_dir()));
    assert!(sandbox.link_exists("pod", "eth0").unwrap());
    assert!(!sandbox.link_exists("pod", "veth-pod").unwrap());
}

#[test]
fn invalid_topologies_are_refused_before_anything_is_created() {
    let pair = |a: Endpoint, b: Endpoint| Topology::default().with_veth(a, b);
    let cases: Vec<(Topology, &str, &str)> = vec![
        (
            Topology::default().with_pods(["bad/name"]),
            "pods[0]",
            "\"bad/name\"",
        ),
        (
            Topology::default().with_pods(["a", "a"]),
            "pods[1]",
            "\"a\"",
        ),
        (
            Topology::default().with_extra_netns(["node"]),
            "extra_netns[0]",
            "\"node\"",
        ),
        (
            pair(
                Endpoint::new("node", "v0"),
                Endpoint::new("nowhere", "eth0"),
            ),
            "veths[0].ends[1].netns",
            "\"nowhere\"",
        ),
        (
            pair(
                Endpoint::new("node", "a23456789012345x"),
                Endpoint::new("pod", "eth0"),
            ),
            "veths[0].ends[0].name",
            "\"a23456789012345x\"",
        ),
        (
            pair(
                Endpoint::new("node", "has space"),
                Endpoint::new("pod", "eth0"),
            ),
            "veths[0].ends[0].name",
            "\"has space\"",
        ),
        (
            pair(Endpoint::new("pod", "eth0"), Endpoint::new("pod", "eth0")),
            "veths[0].ends[1].name",
            "\"eth0\"",
        ),
        (
            pair(
                Endpoint::new("node", "v0").mtu(67),
                Endpoint::new("pod", "eth0"),
            ),
            "veths[0].ends[0].mtu",
            "67",
        ),
        (
            pair(
                Endpoint::new("node", "v0"),
                Endpoint::new("pod", "eth0").mtu(65536),
            ),
            "veths[0].ends[1].mtu",
            "65536",
        ),
    ];
    let parent = tempfile::tempdir().unwrap();
    for (topology, field, value) in cases {
        let error = Sandbox::new_in(&topology, parent.path()).unwrap_err();
        let SandboxError::Topology(topology_error) = &error else {
            panic!("expected a topology error for {topology:?}, got {error}");
        };
        assert_eq!(topology_error.field(), field, "{error}");
        let message = error.to_string();
        assert!(
            message.contains(field) && message.contains(value),
            "{message}"
        );
        assert_eq!(entries(parent.path()), Vec::<PathBuf>::new(), "{message}");
    }
    // The duplicate-link case names where the name was first used.
    let duplicate = pair(Endpoint::new("pod", "eth0"), Endpoint::new("pod", "eth0"));
    assert!(matches!(
        duplicate.validate(),
        Err(TopologyError::DuplicateLink { first, .. }) if first.contains("veths[0].ends[0]")
    ));
}

#[test]
fn a_kernel_failure_half_way_removes_everything_made_so_far() {
    // Passes the topology's name rules (which now refuse every name the kernel would refuse,
    // see cni_types::names), but the kernel copies a link name up to its first NUL: this one
    // becomes "eth0", which the first pair already placed in the pod, so the second pair
    // fails inside the kernel (EEXIST). A NUL cannot reach a plugin (environment variables
    // cannot hold one); here it is the one way left to make the kernel fail half way.
    let kernel_refuses = "eth0\0";
    let topology = Topology::default()
        .with_veth(Endpoint::new("node", "v0"), Endpoint::new("pod", "eth0"))
        .with_veth(
            Endpoint::new("node", "v1"),
            Endpoint::new("pod", kernel_refuses),
        );
    topology.validate().unwrap();
    let parent = tempfile::tempdir().unwrap();

    let error = Sandbox::new_in(&topology, parent.path()).unwrap_err();

    assert_eq!(error.errno(), Some(Errno::EEXIST), "{error}");
    assert!(
        error.to_string().contains(&format!("pod/{kernel_refuses}")),
        "{error}"
    );
    assert_eq!(mounts_under(parent.path()), Vec::<PathBuf>::new());
    assert_eq!(entries(parent.path()), Vec::<PathBuf>::new());
}

#[test]
fn drop_unmounts_every_netns_and_removes_the_folder() {
    let parent = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new_in(&two_pods_and_a_node_pair(), parent.path()).unwrap();
    let dir = sandbox.dir().to_path_buf();
    let mut netns_files: Vec<PathBuf> = sandbox
        .netns_names()
        .map(|n| sandbox.netns(n).unwrap().path().to_path_buf())
        .collect();
    let mut mounted = mounts_under(&dir);
    mounted.sort();
    netns_files.sort();
    assert_eq!(mounted, netns_files);

    drop(sandbox);

    assert_eq!(mounts_under(&dir), Vec::<PathBuf>::new());
    assert!(!dir.exists());
    assert_eq!(entries(parent.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_panicking_test_still_cleans_up() {
    let parent = tempfile::tempdir().unwrap();
    let seen: Mutex<Option<PathBuf>> = Mutex::new(None);

    let outcome = std::panic::catch_unwind(|| {
        let sandbox = Sandbox::new_in(&two_pods_and_a_node_pair(), parent.path()).unwrap();
        *seen.lock().unwrap() = Some(sandbox.dir().to_path_buf());
        assert!(!mounts_under(sandbox.dir()).is_empty());
        panic!("a scenario step failed");
    });

    assert!(outcome.is_err());
    let dir = seen.into_inner().unwrap().expect("the sandbox was built");
    assert_eq!(mounts_under(&dir), Vec::<PathBuf>::new());
    assert!(!dir.exists());
    assert_eq!(entries(parent.path()), Vec::<PathBuf>::new());
}

#[test]
fn tampering_helpers_change_exactly_what_they_say() {
    cni_conform::kernel::require_vlan();
    let mut sandbox = Sandbox::new(&two_pods_and_a_node_pair()).unwrap();

    sandbox.set_mtu("pod", "eth0", 1300).unwrap();
    sandbox.set_up("node", "veth-pod2", true).unwrap();
    sandbox.set_up("node", "veth-pod", false).unwrap();
    sandbox
        .add_address("pod", "eth0", "10.1.0.2/24".parse().unwrap())
        .unwrap();
    sandbox
        .add_address("pod", "eth0", "10.1.0.3/24".parse().unwrap())
        .unwrap();
    sandbox
        .remove_address("pod", "eth0", "10.1.0.3/24".parse().unwrap())
        .unwrap();
    sandbox
        .add_vlan(
            &Endpoint::new("pod", "eth0.7").mtu(1200),
            "pod",
            "eth0",
            VlanTag::new(7, VlanProtocol::Ieee8021Q),
        )
        .unwrap();
    sandbox
        .add_veth(
            &Endpoint::new("pod2", "net1"),
            &Endpoint::new("router", "pod2"),
        )
        .unwrap();
    sandbox.delete_link("node", "uplink").unwrap();

    let snapshot = Snapshot::capture(&sandbox).unwrap();
    let pod = &snapshot.netns["pod"];
    assert_eq!(link(&snapshot, "pod", "eth0").mtu, 1300);
    assert!(link(&snapshot, "node", "veth-pod2").up);
    assert!(!link(&snapshot, "node", "veth-pod").up);
    let cidrs: Vec<&str> = pod.addresses.iter().map(|a| a.cidr.as_str()).collect();
    assert_eq!(cidrs, ["10.1.0.2/24"]);
    let vlan = link(&snapshot, "pod", "eth0.7");
    assert_eq!(vlan.vlan, Some(VlanTag::new(7, VlanProtocol::Ieee8021Q)));
    assert_eq!((vlan.parent.as_deref(), vlan.mtu), (Some("pod/eth0"), 1200));
    assert_eq!(
        link(&snapshot, "pod2", "net1").peer.as_deref(),
        Some("router/pod2")
    );
    // Deleting one end of a veth takes the other with it.
    assert!(!sandbox.link_exists("node", "uplink").unwrap());
    assert!(!sandbox.link_exists("node", "uplink-peer").unwrap());

    // Errors name what failed and keep the kernel's errno.
    let error = sandbox.set_mtu("pod", "missing0", 1400).unwrap_err();
    assert!(
        matches!(&error, SandboxError::NoSuchLink { netns, name } if netns == "pod" && name == "missing0")
    );
    let error = sandbox
        .add_veth(&Endpoint::new("node", "x0"), &Endpoint::new("pod", "eth0"))
        .unwrap_err();
    assert_eq!(error.errno(), Some(Errno::EEXIST), "{error}");
    assert!(error.to_string().contains("pod/eth0"), "{error}");
    assert!(
        !sandbox.link_exists("node", "x0").unwrap(),
        "the failed pair was removed"
    );
    // A VLAN's MTU cannot exceed its parent's (1300 here).
    let error = sandbox.set_mtu("pod", "eth0.7", 9000).unwrap_err();
    assert_eq!(error.errno(), Some(Errno::ERANGE), "{error}");
    // Renamed, then refused its MTU: the half-made VLAN is removed, the parent stays.
    let too_big = Endpoint::new("pod", "eth0.8").mtu(9000);
    let tag = VlanTag::new(8, VlanProtocol::Ieee8021Q);
    let error = sandbox.add_vlan(&too_big, "pod", "eth0", tag).unwrap_err();
    assert!(
        error.to_string().contains("pod/eth0.8, mtu 9000"),
        "{error}"
    );
    assert!(!sandbox.link_exists("pod", "eth0.8").unwrap());
    assert!(sandbox.link_exists("pod", "eth0").unwrap());
    assert!(matches!(
        sandbox.set_up("nowhere", "eth0", true),
        Err(SandboxError::UnknownNetns(n)) if n == "nowhere"
    ));
    assert!(matches!(
        sandbox.set_up("pod", "bad name", true),
        Err(SandboxError::InvalidArgument {
            what: "link name",
            ..
        })
    ));
    let with_host_bits = "10.1.0.1/24".parse().unwrap();
    assert!(matches!(
        sandbox.add_route("pod", with_host_bits, None, Some("eth0")),
        Err(SandboxError::InvalidArgument {
            what: "route destination",
            ..
        })
    ));
    let v6_gateway = Some("2001:db8::1".parse().unwrap());
    assert!(matches!(
        sandbox.add_route("pod", "10.8.0.0/16".parse().unwrap(), v6_gateway, None),
        Err(SandboxError::InvalidArgument {
            what: "route gateway",
            ..
        })
    ));

    // A deleted pod takes its links along; its path stays known but points nowhere.
    let pod_path = sandbox.netns_path("pod").unwrap();
    sandbox.delete_netns("pod").unwrap();
    assert!(sandbox.netns("pod").is_none() && sandbox.pod("pod").is_none());
    assert_eq!(sandbox.netns_path("pod"), Some(pod_path.clone()));
    assert!(!pod_path.exists());
    assert!(!sandbox.link_exists("node", "veth-pod").unwrap());
    let after = Snapshot::capture(&sandbox).unwrap();
    assert!(!after.netns.contains_key("pod"));
    assert!(matches!(
        sandbox.delete_netns("node"),
        Err(SandboxError::InvalidArgument { what: "netns", .. })
    ));
}

#[test]
fn a_whole_sandbox_life_leaves_the_host_untouched() {
    cni_conform::kernel::require_vlan();
    let before = HostNetworkState::capture().unwrap();
    assert!(before.links.iter().any(|l| l.name == "lo"), "{before:?}");
    {
        let mut sandbox = Sandbox::new(&two_pods_and_a_node_pair()).unwrap();
        sandbox
            .add_address("pod", "eth0", "10.2.0.2/24".parse().unwrap())
            .unwrap();
        sandbox
            .add_address("node", "veth-pod", "10.2.0.1/24".parse().unwrap())
            .unwrap();
        sandbox
            .add_route(
                "pod",
                "0.0.0.0/0".parse().unwrap(),
                Some("10.2.0.1".parse().unwrap()),
                None,
            )
            .unwrap();
        sandbox
            .add_vlan(
                &Endpoint::new("pod", "eth0.5"),
                "node",
                "veth-pod",
                VlanTag::new(5, VlanProtocol::Ieee8021Ad),
            )
            .unwrap();
        sandbox.set_mtu("node", "uplink", 1400).unwrap();
        sandbox.delete_link("router", "to-node").unwrap();
        Snapshot::capture(&sandbox).unwrap();
        sandbox.delete_netns("pod2").unwrap();
    }
    assert_eq!(HostNetworkState::capture().unwrap(), before);
}

#[test]
fn eight_sandboxes_live_at_once_without_colliding() {
    let topology = two_pods_and_a_node_pair();
    let outcomes: Vec<(PathBuf, Snapshot)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let topology = &topology;
                scope.spawn(move || {
                    let sandbox = Sandbox::new(topology).unwrap();
                    let cidr = format!("10.3.{i}.2/24").parse().unwrap();
                    sandbox.add_address("pod", "eth0", cidr).unwrap();
                    sandbox.remove_address("pod", "eth0", cidr).unwrap();
                    let snapshot = Snapshot::capture(&sandbox).unwrap();
                    (sandbox.dir().to_path_buf(), snapshot)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut dirs: Vec<&PathBuf> = outcomes.iter().map(|(dir, _)| dir).collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 8);
    for (dir, snapshot) in &outcomes {
        assert_eq!(snapshot, &outcomes[0].1);
        assert!(!dir.exists());
    }
}
