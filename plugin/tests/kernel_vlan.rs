//! The built `vlan` binary against a real kernel (natively or in User-Mode Linux): each mode,
//! every CNI version, IPv6, rollback, best-effort DEL and CHECK's drift detection, asserted on
//! the namespaces' actual state.

mod common;

use cni_conform::sandbox::Sandbox;
use cni_conform::snapshot::Snapshot;
use cni_conform::topology::{Endpoint, VlanProtocol, VlanTag};
use cni_types::{CniResult, CniVersion};
use common::*;
use rstest::rstest;
use serde_json::{Value, json};

fn host_config(version: &str) -> Value {
    json!({
        "cniVersion": version, "name": "vlan-net", "type": "vlan", "master": "eth0", "vlanId": 100,
        "ipam": static_ipam(&[("10.1.0.10/24", "10.1.0.1")], &["0.0.0.0/0"]),
    })
}

fn l2_host_config(version: &str) -> Value {
    json!({"cniVersion": version, "name": "vlan-net", "type": "vlan", "master": "eth0", "vlanId": 100})
}

fn vlan_tag(id: u16, protocol: VlanProtocol) -> Option<VlanTag> {
    Some(VlanTag { id, protocol })
}

#[test]
fn host_master_add_check_del_in_every_version() {
    for version in CniVersion::ALL {
        let sandbox = host_master_sandbox();
        // Upstream's static IPAM stops at 1.0.0: 1.1.0 runs L2-only.
        let config = if version == CniVersion::V1_1_0 {
            l2_host_config(version.as_str())
        } else {
            host_config(version.as_str())
        };
        let output = Call::new(&sandbox, "ADD", "net1").run(&config).success();
        let (result_version, result) = CniResult::parse(&output, CniVersion::V0_1_0).unwrap();
        assert_eq!(result_version, version);
        if version != CniVersion::V1_1_0 {
            assert_eq!(
                result.ips[0].address.to_string(),
                "10.1.0.10/24",
                "{version}"
            );
        }
        if !version.has_legacy_result() {
            assert_eq!(result.interfaces[0].name, "net1");
            assert_eq!(
                result.interfaces[0].sandbox.as_deref(),
                Some(pod_path(&sandbox).as_str())
            );
            assert_eq!(
                result.interfaces[0].mtu.is_some(),
                version.has_interface_mtu()
            );
        }

        let vlan = link(&sandbox, "pod", "net1").expect("the VLAN is in the pod");
        assert_eq!(vlan.kind.as_deref(), Some("vlan"));
        assert_eq!(vlan.vlan, vlan_tag(100, VlanProtocol::Ieee8021Q));
        assert_eq!(vlan.parent.as_deref(), Some("node/eth0"));
        assert!(vlan.up);
        assert_eq!(vlan.mtu, 1500);

        let checked = Call::new(&sandbox, "CHECK", "net1").run(&with_prev_result(&config, &output));
        if version.has_check() {
            checked.success();
        } else {
            assert_eq!(checked.error().code, 1, "{version}");
        }
        if version.has_gc_and_status() {
            Call::new(&sandbox, "STATUS", "").run(&config).success();
            Call::new(&sandbox, "GC", "").run(&config).success();
        }

        let del_config = with_prev_result(&config, &output);
        Call::new(&sandbox, "DEL", "net1")
            .run(&del_config)
            .success();
        assert!(link(&sandbox, "pod", "net1").is_none());
        Call::new(&sandbox, "DEL", "net1")
            .run(&del_config)
            .success();
        assert!(link(&sandbox, "node", "eth0").is_some(), "the master stays");
    }
}

fn disable_ipv6_of(sandbox: &Sandbox, key: &str) -> String {
    let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
    sandbox
        .pod("pod")
        .unwrap()
        .run(move || std::fs::read_to_string(path).unwrap())
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn host_master_dual_stack_with_mtu() {
    let sandbox = host_master_sandbox();
    // Links born in this pod start with IPv6 off: the plugin must turn it on for its VLAN.
    let ipv6_off_by_default = sandbox
        .pod("pod")
        .unwrap()
        .run(|| std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"))
        .unwrap();
    if let Err(e) = ipv6_off_by_default {
        panic!(
            "this kernel has no IPv6 ({e}); inside User-Mode Linux the ipv6 module must be \
             loaded (ci/uml-run: UML_MODULES)"
        );
    }
    let config = json!({
        "cniVersion": "1.0.0", "name": "vlan-net", "type": "vlan", "master": "eth0", "vlanId": 100,
        "mtu": 1400,
        "ipam": static_ipam(
            &[("10.1.0.10/24", "10.1.0.1"), ("fd00:1::10/64", "fd00:1::1")],
            &["0.0.0.0/0", "::/0"],
        ),
        "dns": {"nameservers": ["10.1.0.53"]},
    });
    let result = Call::new(&sandbox, "ADD", "net1").run(&config).success();
    assert_eq!(disable_ipv6_of(&sandbox, "net1"), "0");
    let state = Snapshot::capture_with_result(&sandbox, Some(&result)).unwrap();
    insta::assert_yaml_snapshot!(state);

    Call::new(&sandbox, "CHECK", "net1")
        .run(&with_prev_result(&config, &result))
        .success();
    Call::new(&sandbox, "DEL", "net1")
        .run(&with_prev_result(&config, &result))
        .success();
    assert!(link(&sandbox, "pod", "net1").is_none());
}

#[test]
fn container_master_8021ad_l2_only() {
    let sandbox = sandbox(vec![(
        Endpoint::new("node", "veth-pod"),
        Endpoint::new("pod", "eth1"),
    )]);
    let config = json!({
        "cniVersion": "1.1.0", "name": "vlan-net", "type": "vlan", "master": "eth1",
        "linkInContainer": true, "vlanId": 200, "vlanProtocol": "802.1ad", "ipam": {},
    });
    let result = Call::new(&sandbox, "ADD", "net1").run(&config).success();
    let state = Snapshot::capture_with_result(&sandbox, Some(&result)).unwrap();
    insta::assert_yaml_snapshot!(state);
    let vlan = link(&sandbox, "pod", "net1").unwrap();
    assert_eq!(vlan.vlan, vlan_tag(200, VlanProtocol::Ieee8021Ad));
    assert_eq!(vlan.parent.as_deref(), Some("pod/eth1"));
    assert!(
        state.netns["pod"]
            .addresses
            .iter()
            .all(|a| a.link != "net1")
    );

    Call::new(&sandbox, "CHECK", "net1")
        .run(&with_prev_result(&config, &result))
        .success();
    Call::new(&sandbox, "DEL", "net1")
        .run(&with_prev_result(&config, &result))
        .success();
    assert!(link(&sandbox, "pod", "net1").is_none());
    assert!(link(&sandbox, "pod", "eth1").is_some(), "the master stays");
}

/// The seed example (shared/seed/vlan-chaining-request.txt): an earlier plugin made the pod's
/// eth0; two chained vlan plugins add eth0.3 and eth0.4 on it, each with static addresses and a
/// gateway. At 0.3.1, as in the seed (no CHECK, DEL without prevResult), and at 1.0.0.
#[rstest]
fn chained_vlans_3_and_4_on_eth0(#[values("0.3.1", "1.0.0")] version: &str) {
    let version: CniVersion = version.parse().unwrap();
    let sandbox = pod_eth0_sandbox();
    let pod = pod_path(&sandbox);
    let chained = |id: u16| {
        json!({
            "cniVersion": version, "name": "vlan-chaining-example", "type": "vlan",
            "linkInContainer": true, "vlanId": id,
            "ipam": static_ipam(
                &[(&format!("192.168.{id}.10/24"), &format!("192.168.{id}.1"))],
                &[&format!("10.{id}.0.0/16")],
            ),
        })
    };
    let earlier = json!({"cniVersion": version, "interfaces": [{"name": "eth0", "sandbox": pod}]});

    let vlan3 = chained(3);
    let vlan4 = chained(4);
    let result3 = Call::new(&sandbox, "ADD", "eth0")
        .run(&with_prev_result(&vlan3, &earlier))
        .success();
    let result4 = Call::new(&sandbox, "ADD", "eth0")
        .run(&with_prev_result(&vlan4, &result3))
        .success();
    let state = Snapshot::capture_with_result(&sandbox, Some(&result4)).unwrap();
    insta::with_settings!({ snapshot_suffix => version.as_str() }, {
        insta::assert_yaml_snapshot!(state);
    });

    let (_, final_result) = CniResult::parse(&result4, version).unwrap();
    let names: Vec<&str> = final_result
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["eth0", "eth0.3", "eth0.4"]);
    let pointers: Vec<Option<usize>> = final_result.ips.iter().map(|ip| ip.interface).collect();
    assert_eq!(pointers, [Some(1), Some(2)]);
    for (name, id) in [("eth0.3", 3), ("eth0.4", 4)] {
        let vlan = link(&sandbox, "pod", name).unwrap();
        assert_eq!(vlan.vlan, vlan_tag(id, VlanProtocol::Ieee8021Q));
        assert_eq!(vlan.parent.as_deref(), Some("pod/eth0"));
    }

    // A runtime CHECKs every plugin with the final result and DELs in reverse order, with the
    // final result from 0.4.0 on and without any before.
    let final_config = |config: &Value| {
        if version.has_prev_result_on_del() {
            with_prev_result(config, &result4)
        } else {
            config.clone()
        }
    };
    if version.has_check() {
        for config in [&vlan3, &vlan4] {
            Call::new(&sandbox, "CHECK", "eth0")
                .run(&final_config(config))
                .success();
        }
    }
    for config in [&vlan4, &vlan3] {
        Call::new(&sandbox, "DEL", "eth0")
            .run(&final_config(config))
            .success();
    }
    let names: Vec<String> = links(&sandbox, "pod").into_iter().map(|l| l.name).collect();
    assert_eq!(
        names,
        ["eth0"],
        "the VLANs are gone, CNI_IFNAME itself stays"
    );
}

#[test]
fn add_refuses_an_existing_target_and_leaves_it_untouched() {
    let sandbox = sandbox(vec![
        (
            Endpoint::new("node", "eth0"),
            Endpoint::new("node", "eth0-peer"),
        ),
        (
            Endpoint::new("node", "squatter"),
            Endpoint::new("pod", "net1").mtu(1280),
        ),
    ]);
    let before = snapshot(&sandbox);
    let error = Call::new(&sandbox, "ADD", "net1")
        .run(&host_config("1.0.0"))
        .error();
    assert_eq!(error.code, 101, "{error:?}");
    assert!(error.msg.contains("\"net1\" already exists"), "{error:?}");
    assert_eq!(snapshot(&sandbox), before, "nothing changed anywhere");
}

#[test]
fn checks_before_creating_anything() {
    let sandbox = sandbox(vec![
        (
            Endpoint::new("node", "eth0"),
            Endpoint::new("node", "eth0-peer"),
        ),
        (
            Endpoint::new("node", "down0").down(),
            Endpoint::new("node", "down0-peer"),
        ),
    ]);
    let before = snapshot(&sandbox);

    let mut too_big = host_config("1.0.0");
    too_big["mtu"] = json!(1600);
    let error = Call::new(&sandbox, "ADD", "net1").run(&too_big).error();
    assert_eq!(
        (error.code, error.msg.as_str()),
        (7, "invalid MTU 1600, must be [0, master MTU(1500)]")
    );

    let mut missing = host_config("1.0.0");
    missing["master"] = json!("nope0");
    let error = Call::new(&sandbox, "ADD", "net1").run(&missing).error();
    assert_eq!(error.code, 100, "{error:?}");
    assert!(error.msg.contains("\"nope0\""), "{error:?}");

    let mut down = host_config("1.0.0");
    down["master"] = json!("down0");
    let error = Call::new(&sandbox, "ADD", "net1").run(&down).error();
    assert_eq!(error.code, 104, "{error:?}");

    let error = Call::new(&sandbox, "ADD", "net1")
        .env("CNI_NETNS", "/nonexistent/netns")
        .run(&host_config("1.0.0"))
        .error();
    assert_eq!(error.code, 3, "{error:?}");

    assert_eq!(snapshot(&sandbox), before);
}

/// Issue 13: the kernel takes a `%` in a new link's name as a template (`%d` became `0`, and
/// the result named a link that did not exist), refuses other `%`, the byte 0xA0 and the names
/// `all` and `default`. ADD refuses every such `CNI_IFNAME` before it touches the kernel, in
/// every mode: code 4 naming the variable and the value, nothing made. The runtime's DEL after
/// it succeeds and changes nothing either.
#[rstest]
fn a_name_the_kernel_would_not_keep_is_code_4_in_every_mode(
    #[values("host", "container", "chained")] mode: &str,
    #[values("%d", "eth%d", "a%", "ethà", "all", "default")] ifname: &str,
) {
    let sandbox = sandbox(vec![(
        Endpoint::new("node", "eth0"),
        Endpoint::new("pod", "eth1"),
    )]);
    let mut config = l2_host_config("1.1.0");
    match mode {
        "host" => {}
        "container" => {
            config["master"] = json!("eth1");
            config["linkInContainer"] = json!(true);
        }
        _ => {
            config["master"] = json!("");
            config["linkInContainer"] = json!(true);
        }
    }
    let before = snapshot(&sandbox);
    let error = Call::new(&sandbox, "ADD", ifname).run(&config).error();
    assert_eq!(error.code, 4, "{mode} {ifname}: {error:?}");
    assert!(
        error
            .msg
            .starts_with(&format!("CNI_IFNAME is invalid: interface name {ifname:?}")),
        "{error:?}"
    );
    assert_eq!(snapshot(&sandbox), before, "{mode} {ifname}: nothing made");
    Call::new(&sandbox, "DEL", ifname).run(&config).success();
    assert_eq!(snapshot(&sandbox), before, "{mode} {ifname}: DEL");
}

#[test]
fn a_failing_ipam_leaves_nothing_behind() {
    let sandbox = host_master_sandbox();
    let mut config = host_config("1.0.0");
    config["ipam"] = static_ipam(&[("10.1.0.300/24", "10.1.0.1")], &[]);
    let error = Call::new(&sandbox, "ADD", "net1").run(&config).error();
    assert!(error.msg.starts_with("static: "), "{error:?}");
    assert!(link(&sandbox, "pod", "net1").is_none());
    assert_no_temp_links(&sandbox);
    // VLAN 100 is free again on eth0: a valid ADD gets it.
    Call::new(&sandbox, "ADD", "net1")
        .run(&host_config("1.0.0"))
        .success();
}

#[test]
fn a_failure_after_ipam_rolls_back_the_link() {
    let sandbox = host_master_sandbox();
    let mut config = host_config("1.0.0");
    // The gateway is not on the VLAN's subnet: the kernel refuses the route, after the
    // addresses went on.
    config["ipam"] = json!({"type": "static",
        "addresses": [{"address": "10.1.0.10/24"}],
        "routes": [{"dst": "10.9.0.0/16", "gw": "10.200.0.1"}]});
    let error = Call::new(&sandbox, "ADD", "net1").run(&config).error();
    assert_eq!(error.code, 105, "{error:?}");
    assert!(
        error.msg.starts_with("adding route to 10.9.0.0/16"),
        "{error:?}"
    );
    assert!(link(&sandbox, "pod", "net1").is_none());
    assert_no_temp_links(&sandbox);
}

#[test]
fn del_is_best_effort_and_repeatable() {
    // Link already gone, then a second DEL.
    let sandbox = host_master_sandbox();
    let config = host_config("1.0.0");
    let result = Call::new(&sandbox, "ADD", "net1").run(&config).success();
    let del = with_prev_result(&config, &result);
    sandbox.delete_link("pod", "net1").unwrap();
    Call::new(&sandbox, "DEL", "net1").run(&del).success();
    Call::new(&sandbox, "DEL", "net1").run(&del).success();

    // Master gone (the VLAN went with it).
    Call::new(&sandbox, "ADD", "net1").run(&config).success();
    sandbox.delete_link("node", "eth0").unwrap();
    Call::new(&sandbox, "DEL", "net1").run(&del).success();

    // Empty CNI_NETNS, and no prevResult.
    Call::new(&sandbox, "DEL", "net1")
        .env("CNI_NETNS", "")
        .run(&config)
        .success();

    // Netns gone.
    let mut sandbox = host_master_sandbox();
    Call::new(&sandbox, "ADD", "net1").run(&config).success();
    let call = Call::new(&sandbox, "DEL", "net1");
    sandbox.delete_netns("pod").unwrap();
    call.run(&del).success();
}

#[test]
fn del_never_deletes_a_link_that_is_not_a_vlan() {
    let sandbox = sandbox(vec![
        (
            Endpoint::new("node", "eth0"),
            Endpoint::new("node", "eth0-peer"),
        ),
        (
            Endpoint::new("node", "veth-pod"),
            Endpoint::new("pod", "net1"),
        ),
    ]);
    Call::new(&sandbox, "DEL", "net1")
        .run(&host_config("1.0.0"))
        .success();
    assert_eq!(
        link(&sandbox, "pod", "net1").unwrap().kind.as_deref(),
        Some("veth")
    );
}

/// ADD (host master, 1.0.0, MTU 1400), change the kernel behind the plugin's back, CHECK.
fn check_after(tamper: impl FnOnce(&Sandbox)) -> cni_types::CniError {
    let sandbox = sandbox(vec![
        (
            Endpoint::new("node", "eth0"),
            Endpoint::new("node", "eth0-peer"),
        ),
        (
            Endpoint::new("node", "eth9"),
            Endpoint::new("node", "eth9-peer"),
        ),
    ]);
    let mut config = host_config("1.0.0");
    config["mtu"] = json!(1400);
    let result = Call::new(&sandbox, "ADD", "net1").run(&config).success();
    let check = with_prev_result(&config, &result);
    Call::new(&sandbox, "CHECK", "net1").run(&check).success();
    tamper(&sandbox);
    Call::new(&sandbox, "CHECK", "net1").run(&check).error()
}

fn recreate(sandbox: &Sandbox, master: &str, id: u16, protocol: VlanProtocol) {
    sandbox.delete_link("pod", "net1").unwrap();
    sandbox
        .add_vlan(
            &Endpoint::new("pod", "net1").mtu(1400),
            "node",
            master,
            VlanTag { id, protocol },
        )
        .unwrap();
}

/// A change made behind the plugin's back.
type Tamper = Box<dyn FnOnce(&Sandbox)>;

#[test]
fn check_catches_every_drift() {
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "link \"net1\" does not exist in CNI_NETNS",
            Box::new(|s| s.delete_link("pod", "net1").unwrap()),
        ),
        (
            "\"net1\" has MTU 1300, the configuration says 1400",
            Box::new(|s| s.set_mtu("pod", "net1", 1300).unwrap()),
        ),
        (
            "address 10.1.0.10/24 is not on \"net1\"",
            Box::new(|s| {
                s.remove_address("pod", "net1", "10.1.0.10/24".parse().unwrap())
                    .unwrap()
            }),
        ),
        (
            "\"net1\" is down",
            Box::new(|s| s.set_up("pod", "net1", false).unwrap()),
        ),
        (
            "\"net1\" has VLAN id 101, the configuration says 100",
            Box::new(|s| recreate(s, "eth0", 101, VlanProtocol::Ieee8021Q)),
        ),
        (
            "\"net1\" uses 802.1ad, the configuration says 802.1Q",
            Box::new(|s| recreate(s, "eth0", 100, VlanProtocol::Ieee8021Ad)),
        ),
        (
            "expected master \"eth0\"",
            Box::new(|s| recreate(s, "eth9", 100, VlanProtocol::Ieee8021Q)),
        ),
    ];
    for (drift, tamper) in cases {
        let error = check_after(tamper);
        assert_eq!(error.code, 111, "{drift}: {error:?}");
        assert!(error.msg.contains(drift), "expected {drift:?} in {error:?}");
    }
}

#[test]
fn a_route_removed_behind_the_plugins_back_fails_check() {
    let error = check_after(|sandbox| {
        // Re-adding the address brings the prefix route back, but not the default route.
        let address = "10.1.0.10/24".parse().unwrap();
        sandbox.remove_address("pod", "net1", address).unwrap();
        sandbox.add_address("pod", "net1", address).unwrap();
    });
    assert_eq!(error.code, 111);
    assert!(
        error
            .msg
            .contains("route to 0.0.0.0/0 via 10.1.0.1 in table 254 through \"net1\" is missing"),
        "{error:?}"
    );
}
