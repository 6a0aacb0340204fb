//! The fixture plugins in real network namespaces: `conform-veth` (with and without
//! `conform-ipam`) checked through rtnetlink, `conform-ipam`'s address sources, fault switches
//! and call log, and the skel behaviour both share.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use cni_conform::fixtures::call_log::{self, CallRecord};
use cni_conform::fixtures::skel::CniVars;
use cni_conform::fixtures::{CHECK_FAILED, IPAM_PLUGIN, VETH_PLUGIN, veth_host_name};
use cni_conform::netns::Netns;
use cni_conform::runtime::{
    Attachment, AttachmentKey, ChainError, CniCommand, CniPath, Execution, NetworkConfigList,
    Outcome, Runtime, SuccessOutput, ViolationKind, link_fixture_plugins,
};
use cni_types::{CniError, CniVersion};
use futures_util::TryStreamExt;
use netlink_facts::{AddressFacts, LinkFacts};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{Handle, LinkVeth, LinkVlan, RouteMessageBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A node and a pod netns, a cache folder and an IPAM call log in one temp dir.
struct Lab {
    dir: TempDir,
    node: Netns,
    pod: Netns,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let node = Netns::create("node", &dir.path().join("node")).unwrap();
        let pod = Netns::create("pod", &dir.path().join("pod")).unwrap();
        Lab { dir, node, pod }
    }

    fn runtime(&self) -> Runtime<'_> {
        let fixtures = self.dir.path().join("fixtures");
        link_fixture_plugins(&fixtures).unwrap();
        let cni_path = CniPath::new(vec![fixtures]);
        Runtime::new(&self.node, cni_path, self.dir.path().join("cache"))
    }

    fn attachment(&self, container_id: &str) -> Attachment {
        Attachment::new(container_id, "eth0", self.pod.path())
    }

    fn call_log(&self) -> PathBuf {
        self.dir.path().join("ipam-calls.jsonl")
    }

    fn calls(&self) -> Vec<CallRecord> {
        call_log::read(&self.call_log()).unwrap()
    }

    fn commands(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c.vars.command.clone().unwrap_or_default())
            .collect()
    }

    /// conform-ipam's section: an address with a gateway, a default route, a nameserver and
    /// the call log, plus `extra` keys. IPv4 only: the UML guest has no IPv6 unless the runner
    /// loads the ipv6 module.
    fn ipam(&self, extra: Value) -> Value {
        let mut ipam = json!({
            "type": IPAM_PLUGIN,
            "addresses": [{"address": "10.1.2.3/24", "gateway": "10.1.2.1"}],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {"nameservers": ["10.1.2.53"]},
            "callLog": self.call_log(),
        });
        ipam.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ipam
    }
}

fn single(version: CniVersion, plugin: Value) -> NetworkConfigList {
    NetworkConfigList::from_value(
        json!({"cniVersion": version.as_str(), "name": "fixnet", "plugins": [plugin]}),
    )
    .unwrap()
}

#[derive(Debug, PartialEq, Eq)]
struct LinkState {
    name: String,
    kind: String,
    up: bool,
    mtu: u32,
}

fn netlink<T>(netns: &Netns, work: impl AsyncFnOnce(Handle) -> T) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { work(netns.handle().unwrap()).await })
}

/// Every link but `lo`.
fn links(netns: &Netns) -> Vec<LinkState> {
    netlink(netns, async |h| {
        let messages: Vec<LinkMessage> = h.link().get().execute().try_collect().await.unwrap();
        messages
            .iter()
            .map(link_state)
            .filter(|l| l.name != "lo")
            .collect()
    })
}

fn link_state(message: &LinkMessage) -> LinkState {
    let facts = LinkFacts::from_message(message);
    LinkState {
        kind: facts.kind_name().to_string(),
        name: facts.name,
        up: facts.up,
        mtu: facts.mtu,
    }
}

fn index_of(h: &Handle, name: &str) -> impl Future<Output = u32> {
    let request = h.link().get().match_name(name.to_string()).execute();
    async move {
        let mut stream = Box::pin(request);
        stream.try_next().await.unwrap().unwrap().header.index
    }
}

/// Addresses on `ifname`, link-local ones left out.
fn addresses(netns: &Netns, ifname: &str) -> Vec<String> {
    netlink(netns, async |h| {
        let index = index_of(&h, ifname).await;
        let messages: Vec<_> = h
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .unwrap();
        let mut found: Vec<String> = messages
            .iter()
            .filter_map(AddressFacts::from_message)
            .map(|a| a.cidr.to_string())
            .filter(|a| !a.starts_with("fe80:"))
            .collect();
        found.sort();
        found.dedup();
        found
    })
}

/// IPv4 routes with a gateway, as "dst/len via gw".
fn gateway_routes(netns: &Netns) -> Vec<String> {
    netlink(netns, async |h| {
        let messages: Vec<RouteMessage> = h
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .unwrap();
        let address = |a: &RouteAddress| match a {
            RouteAddress::Inet(ip) => ip.to_string(),
            other => format!("{other:?}"),
        };
        let mut routes: Vec<String> = messages
            .iter()
            .filter_map(|m| {
                let mut destination = Ipv4Addr::UNSPECIFIED.to_string();
                let mut gateway = None;
                for attribute in &m.attributes {
                    match attribute {
                        RouteAttribute::Destination(d) => destination = address(d),
                        RouteAttribute::Gateway(g) => gateway = Some(address(g)),
                        _ => {}
                    }
                }
                let prefix = m.header.destination_prefix_length;
                Some(format!("{destination}/{prefix} via {}", gateway?))
            })
            .collect();
        routes.sort();
        routes
    })
}

fn error_of(execution: &Execution) -> &CniError {
    match &execution.outcome {
        Outcome::Error(e) => e,
        other => panic!("expected an error object, got {other:?}"),
    }
}

#[test]
fn veth_with_ipam_adds_checks_and_deletes_at_every_version() {
    let host_name = veth_host_name("ctr1", "eth0");
    for version in CniVersion::ALL {
        let lab = Lab::new();
        let runtime = lab.runtime();
        let list = single(
            version,
            json!({"type": VETH_PLUGIN, "mtu": 1400, "ipam": lab.ipam(json!({}))}),
        );
        let attachment = lab.attachment("ctr1");
        let added = runtime.add(&list, &attachment).outcome.unwrap();

        assert_eq!(added.version, version);
        let ips: Vec<String> = added
            .result
            .ips
            .iter()
            .map(|ip| ip.address.to_string())
            .collect();
        assert_eq!(ips, ["10.1.2.3/24"], "{version}");
        assert_eq!(added.result.dns.nameservers, ["10.1.2.53"]);
        if !version.has_legacy_result() {
            let interfaces = &added.result.interfaces;
            assert_eq!(interfaces.len(), 2, "{version}");
            assert_eq!(interfaces[0].name, host_name);
            assert_eq!(interfaces[0].sandbox, None);
            assert_eq!(interfaces[1].name, "eth0");
            assert_eq!(
                interfaces[1].sandbox.as_deref(),
                Some(attachment.netns.as_str())
            );
            assert!(added.result.ips.iter().all(|ip| ip.interface == Some(1)));
            let mtu = version.has_interface_mtu().then_some(1400);
            assert_eq!(
                (interfaces[0].mtu, interfaces[1].mtu),
                (mtu, mtu),
                "{version}"
            );
        }

        let veth = |name: &str| LinkState {
            name: name.into(),
            kind: "veth".into(),
            up: true,
            mtu: 1400,
        };
        assert_eq!(links(&lab.node), [veth(&host_name)]);
        assert_eq!(links(&lab.pod), [veth("eth0")]);
        assert_eq!(addresses(&lab.pod, "eth0"), ["10.1.2.3/24"]);
        assert_eq!(
            gateway_routes(&lab.pod),
            ["0.0.0.0/0 via 10.1.2.1"],
            "a route without gw uses its family's address gateway"
        );

        let mut expected_calls = vec!["ADD"];
        if version.has_check() {
            runtime.check(&list, &attachment).outcome.unwrap();
            expected_calls.push("CHECK");
        }
        runtime.del(&list, &attachment).outcome.unwrap();
        expected_calls.push("DEL");
        assert_eq!(links(&lab.node), []);
        assert_eq!(links(&lab.pod), []);

        assert_eq!(lab.commands(), expected_calls, "{version}");
        for call in lab.calls() {
            assert_eq!(call.vars.container_id.as_deref(), Some("ctr1"));
            assert_eq!(call.vars.ifname.as_deref(), Some("eth0"));
            assert_eq!(call.vars.netns.as_deref(), Some(attachment.netns.as_str()));
            assert_eq!(
                call.stdin["type"], VETH_PLUGIN,
                "the IPAM gets the full config"
            );
            assert_eq!(call.stdin["cniVersion"], version.as_str());
        }
        assert!(call_log::outstanding_reservations(&lab.calls()).is_empty());
    }
}

#[test]
fn veth_del_is_idempotent_and_tolerates_a_vanished_netns_or_an_empty_cni_netns() {
    let lab = Lab::new();
    let runtime = lab.runtime();
    let list = single(
        CniVersion::V1_0_0,
        json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({}))}),
    );
    let attachment = lab.attachment("ctr1");
    runtime.add(&list, &attachment).outcome.unwrap();
    runtime.del(&list, &attachment).outcome.unwrap();
    runtime.del(&list, &attachment).outcome.unwrap();

    let doomed = Netns::create("doomed", &lab.dir.path().join("doomed")).unwrap();
    let gone = Attachment::new("ctr2", "eth0", doomed.path());
    runtime.add(&list, &gone).outcome.unwrap();
    assert_eq!(links(&lab.node).len(), 1);
    doomed.remove().unwrap();
    runtime.del(&list, &gone).outcome.unwrap();
    assert_eq!(links(&lab.node), [], "the pair died with its netns");

    let no_netns = Attachment {
        netns: String::new(),
        ..lab.attachment("ctr3")
    };
    runtime.del(&list, &no_netns).outcome.unwrap();

    assert_eq!(lab.commands(), ["ADD", "DEL", "DEL", "ADD", "DEL", "DEL"]);
    assert!(call_log::outstanding_reservations(&lab.calls()).is_empty());
}

#[test]
fn veth_check_fails_when_an_address_or_the_container_end_is_missing_or_not_a_veth() {
    // The "not a veth" case puts a VLAN where the veth was.
    cni_conform::kernel::require_vlan();
    let lab = Lab::new();
    let runtime = lab.runtime();
    let list = single(
        CniVersion::V1_1_0,
        json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({}))}),
    );
    let attachment = lab.attachment("ctr1");
    runtime.add(&list, &attachment).outcome.unwrap();
    let check_error = || {
        let check = runtime.check(&list, &attachment);
        let error = check.outcome.unwrap_err();
        assert_eq!(
            check.executions.len(),
            1,
            "the IPAM is not asked once the link is wrong"
        );
        error.cni_error().cloned().unwrap()
    };

    netlink(&lab.pod, async |h| {
        let index = index_of(&h, "eth0").await;
        let mut addresses = h.address().get().set_link_index_filter(index).execute();
        while let Some(message) = addresses.try_next().await.unwrap() {
            let cidr = AddressFacts::from_message(&message).map(|a| a.cidr.to_string());
            if cidr.as_deref() == Some("10.1.2.3/24") {
                h.address().del(message).execute().await.unwrap();
            }
        }
    });
    let error = check_error();
    assert_eq!(error.code, CHECK_FAILED);
    assert_eq!(error.msg, "address 10.1.2.3/24 missing on eth0");

    netlink(&lab.pod, async |h| {
        let index = index_of(&h, "eth0").await;
        h.link().del(index).execute().await.unwrap();
    });
    let error = check_error();
    assert_eq!(
        error.msg,
        format!("interface eth0 not found in {}", attachment.netns)
    );

    netlink(&lab.pod, async |h| {
        h.link()
            .add(LinkVeth::new("parent0", "parent1").build())
            .execute()
            .await
            .unwrap();
        let parent = index_of(&h, "parent0").await;
        h.link()
            .add(LinkVlan::new("eth0", parent, 10).build())
            .execute()
            .await
            .unwrap();
    });
    assert_eq!(check_error().msg, "eth0 is a vlan, not a veth");
}

#[test]
fn veth_add_refuses_an_existing_interface_and_releases_its_ipam() {
    let lab = Lab::new();
    netlink(&lab.pod, async |h| {
        h.link()
            .add(LinkVeth::new("eth0", "other0").build())
            .execute()
            .await
            .unwrap();
    });
    let run = lab.runtime().add(
        &single(
            CniVersion::V1_1_0,
            json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({}))}),
        ),
        &lab.attachment("ctr1"),
    );
    let error = run.outcome.unwrap_err();
    assert_eq!(
        error.cni_error(),
        Some(&CniError::new(
            4,
            "container already has an interface named eth0"
        ))
    );
    assert_eq!(links(&lab.node), [], "no host end left behind");
    assert_eq!(lab.commands(), ["ADD", "DEL"]);
    assert!(call_log::outstanding_reservations(&lab.calls()).is_empty());
}

#[test]
fn veth_add_with_a_misbehaving_ipam_fails_and_deletes_it() {
    let faults = [
        (
            json!({"fail": {"ADD": {"code": 11, "msg": "no addresses left", "details": "pool"}}}),
            CniError::new(11, "no addresses left").with_details("pool"),
        ),
        (
            json!({"noIps": true}),
            CniError::new(7, "IPAM plugin returned missing IP config"),
        ),
    ];
    for (fault, expected) in faults {
        let lab = Lab::new();
        let run = lab.runtime().add(
            &single(
                CniVersion::V1_0_0,
                json!({"type": VETH_PLUGIN, "ipam": lab.ipam(fault)}),
            ),
            &lab.attachment("ctr1"),
        );
        assert_eq!(run.outcome.unwrap_err().cni_error(), Some(&expected));
        assert_eq!(lab.commands(), ["ADD", "DEL"], "DEL after the failed ADD");
        assert_eq!(links(&lab.node), []);
        assert_eq!(links(&lab.pod), []);
    }

    let lab = Lab::new();
    let run = lab.runtime().add(
        &single(
            CniVersion::V1_0_0,
            json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({"malformed": ["ADD"]}))}),
        ),
        &lab.attachment("ctr1"),
    );
    let error = run.outcome.unwrap_err();
    let error = error.cni_error().unwrap();
    assert_eq!(error.code, 6);
    assert!(
        error
            .msg
            .starts_with(r#"delegating ADD to "conform-ipam": stdout is not JSON"#),
        "{}",
        error.msg
    );
    assert_eq!(lab.commands(), ["ADD", "DEL"]);
}

#[test]
fn veth_forwards_gc_and_status_to_its_ipam() {
    let lab = Lab::new();
    let runtime = lab.runtime();
    let list = single(
        CniVersion::V1_1_0,
        json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({}))}),
    );
    let valid = [AttachmentKey {
        container_id: "ctr9".into(),
        ifname: "net1".into(),
    }];
    runtime.gc(&list, Some(&valid)).outcome.unwrap();
    runtime.status(&list).outcome.unwrap();
    let calls = lab.calls();
    assert_eq!(lab.commands(), ["GC", "STATUS"]);
    assert_eq!(
        calls[0].stdin["cni.dev/valid-attachments"],
        json!([{"containerID": "ctr9", "ifname": "net1"}])
    );
    assert_eq!(calls[0].vars.container_id.as_deref(), Some(""));

    let failing = single(
        CniVersion::V1_1_0,
        json!({"type": VETH_PLUGIN, "ipam": lab.ipam(json!({"fail": {"STATUS": {"code": 50, "msg": "pool offline"}}}))}),
    );
    let status = runtime.status(&failing);
    assert_eq!(
        status.outcome.unwrap_err().cni_error(),
        Some(&CniError::new(50, "pool offline"))
    );
}

#[test]
fn veth_passes_prev_result_through_and_appends_its_interfaces() {
    let lab = Lab::new();
    let runtime = lab.runtime();
    let list = single(
        CniVersion::V1_1_0,
        json!({
            "type": VETH_PLUGIN,
            "hostInterface": "hostside0",
            "mtu": 1300,
            "ipam": lab.ipam(json!({"addresses": [{"address": "10.1.2.3/24"}], "routes": [], "dns": {}})),
        }),
    );
    let attachment = lab.attachment("ctr1");
    let prev = json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "earlier0", "sandbox": attachment.netns}],
        "ips": [{"address": "192.0.2.9/24", "interface": 0}],
        "dns": {"nameservers": ["192.0.2.53"]},
    });
    let stdin = list.plugin_request(&list.plugins[0], Some(&prev), &Default::default());
    let request = runtime
        .request(
            VETH_PLUGIN,
            CniCommand::Add,
            runtime.env(CniCommand::Add, &attachment),
            stdin.to_string().into_bytes(),
        )
        .unwrap();
    let execution = runtime.exec(&request).unwrap();
    let Outcome::Success(SuccessOutput::Result(result)) = &execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    let names: Vec<&str> = result
        .result
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["earlier0", "hostside0", "eth0"]);
    let ips: Vec<(String, Option<usize>)> = result
        .result
        .ips
        .iter()
        .map(|ip| (ip.address.to_string(), ip.interface))
        .collect();
    assert_eq!(
        ips,
        [
            ("192.0.2.9/24".to_string(), Some(0)),
            ("10.1.2.3/24".to_string(), Some(2))
        ]
    );
    assert_eq!(
        result.result.dns.nameservers,
        ["192.0.2.53"],
        "kept: the IPAM had no DNS"
    );
    assert_eq!(
        links(&lab.node),
        [LinkState {
            name: "hostside0".into(),
            kind: "veth".into(),
            up: true,
            mtu: 1300
        }]
    );
}

#[test]
fn veth_delegates_to_upstream_static_ipam_through_the_standard_cni_path() {
    let lab = Lab::new();
    let cni_path = CniPath::standard(&lab.dir.path().join("links"), &[]).unwrap();
    assert!(
        cni_path.find("static").is_ok(),
        "upstream plugins are expected in /usr/lib/cni (Debian containernetworking-plugins)"
    );
    let runtime = Runtime::new(&lab.node, cni_path, lab.dir.path().join("cache"));
    let list = single(
        CniVersion::V1_0_0,
        json!({
            "type": VETH_PLUGIN,
            "ipam": {"type": "static", "addresses": [{"address": "10.5.0.7/24", "gateway": "10.5.0.1"}]},
        }),
    );
    let attachment = lab.attachment("ctr1");
    let added = runtime.add(&list, &attachment).outcome.unwrap();
    assert_eq!(added.result.ips[0].address.to_string(), "10.5.0.7/24");
    assert_eq!(addresses(&lab.pod, "eth0"), ["10.5.0.7/24"]);
    runtime.check(&list, &attachment).outcome.unwrap();
    runtime.del(&list, &attachment).outcome.unwrap();
    assert_eq!(links(&lab.pod), []);
}

#[test]
fn ipam_takes_addresses_from_runtime_config_then_args_then_its_config() {
    let lab = Lab::new();
    let runtime = lab.runtime();
    let plugin = |with_args: bool| {
        let mut plugin = json!({
            "type": IPAM_PLUGIN,
            "capabilities": {"ips": true},
            "ipam": lab.ipam(json!({"addresses": [{"address": "10.1.2.3/24", "gateway": "10.1.2.1"}]})),
        });
        if with_args {
            plugin["args"] = json!({"cni": {"ips": ["10.7.0.2/24"]}});
        }
        single(CniVersion::V1_0_0, plugin)
    };
    let addresses_from = |list: &NetworkConfigList, attachment: &Attachment| {
        let result = runtime.add(list, attachment).outcome.unwrap().result;
        let ips: Vec<(String, Option<String>)> = result
            .ips
            .iter()
            .map(|ip| (ip.address.to_string(), ip.gateway.map(|g| g.to_string())))
            .collect();
        ips
    };
    let with_runtime_ips = lab
        .attachment("ctr1")
        .with_cni_args(&[("K8S_POD_NAME", "web")])
        .with_capability_args(json!({"ips": ["10.9.0.5/24"]}).as_object().unwrap().clone());
    assert_eq!(
        addresses_from(&plugin(true), &with_runtime_ips),
        [("10.9.0.5/24".to_string(), None)]
    );
    assert_eq!(
        addresses_from(&plugin(true), &lab.attachment("ctr2")),
        [("10.7.0.2/24".to_string(), None)]
    );
    assert_eq!(
        addresses_from(&plugin(false), &lab.attachment("ctr3")),
        [("10.1.2.3/24".to_string(), Some("10.1.2.1".to_string()))]
    );

    let first = &lab.calls()[0];
    assert_eq!(first.vars.args.as_deref(), Some("K8S_POD_NAME=web"));
    assert_eq!(
        first.stdin["runtimeConfig"],
        json!({"ips": ["10.9.0.5/24"]})
    );

    let legacy = single(
        CniVersion::V0_2_0,
        json!({"type": IPAM_PLUGIN, "ipam": lab.ipam(json!({"addresses": [{"address": "10.1.2.3/24"}, {"address": "10.1.2.4/24"}]}))}),
    );
    let error = runtime
        .add(&legacy, &lab.attachment("ctr4"))
        .outcome
        .unwrap_err();
    assert_eq!(
        error.cni_error().map(|e| e.msg.as_str()),
        Some("CNI version 0.2.0 does not support more than 1 address per family")
    );
}

#[test]
fn ipam_fault_switches_fail_break_or_delay_a_command_and_every_call_is_logged() {
    let lab = Lab::new();
    let runtime = lab.runtime().with_timeout(Duration::from_millis(1500));
    let with_faults = |faults: Value| {
        single(
            CniVersion::V1_1_0,
            json!({"type": IPAM_PLUGIN, "ipam": lab.ipam(faults)}),
        )
    };
    let attachment = lab.attachment("ctr1");

    let failing_del =
        with_faults(json!({"fail": {"DEL": {"code": 11, "msg": "busy", "details": "retry"}}}));
    let error = runtime.del(&failing_del, &attachment).outcome.unwrap_err();
    assert_eq!(
        error.cni_error(),
        Some(&CniError::new(11, "busy").with_details("retry"))
    );

    let malformed = runtime.add(&with_faults(json!({"malformed": ["ADD"]})), &attachment);
    let violation = malformed.outcome.unwrap_err();
    let violation = violation.violation().unwrap();
    assert_eq!(violation.kind, ViolationKind::NotJson);
    assert_eq!(
        violation.stdout.as_bytes(),
        br#"{"cniVersion": "1.1.0", "ips": ["#
    );
    assert_eq!(
        malformed.executions[0].exit,
        cni_conform::runtime::ExitStatus::Code(0)
    );

    let slow = runtime.add(&with_faults(json!({"sleepMs": 20000})), &attachment);
    assert!(slow.executions[0].timed_out);
    assert!(matches!(slow.outcome, Err(ChainError::Plugin { .. })));

    runtime
        .add(&with_faults(json!({"noIps": true})), &attachment)
        .outcome
        .unwrap();
    let check = runtime.check(&with_faults(json!({})), &attachment);
    let error = check.outcome.unwrap_err();
    let error = error.cni_error().unwrap();
    assert_eq!(error.code, CHECK_FAILED);
    assert_eq!(
        error.msg,
        "conform-ipam: address 10.1.2.3/24 missing from prevResult"
    );

    assert_eq!(
        lab.commands(),
        ["DEL", "ADD", "ADD", "ADD", "CHECK"],
        "logged before failing, breaking or sleeping"
    );
}

#[test]
fn fixtures_check_their_input_like_skel() {
    let lab = Lab::new();
    let runtime = lab.runtime();
    let attachment = lab.attachment("ctr1");
    let config =
        |version: &str| json!({"cniVersion": version, "name": "fixnet", "type": VETH_PLUGIN});
    let exec = |command: CniCommand,
                tweak: &dyn Fn(&mut std::collections::BTreeMap<String, String>),
                stdin: Value| {
        let mut env = runtime.env(command, &attachment);
        tweak(&mut env);
        let request = runtime
            .request(VETH_PLUGIN, command, env, stdin.to_string().into_bytes())
            .unwrap();
        runtime.exec(&request).unwrap()
    };
    let unchanged = |_: &mut std::collections::BTreeMap<String, String>| {};

    let version = exec(
        CniCommand::Version,
        &unchanged,
        json!({"cniVersion": "0.4.0"}),
    );
    let Outcome::Success(SuccessOutput::Version(info)) = &version.outcome else {
        panic!("{:?}", version.outcome);
    };
    assert_eq!(info.cni_version, "0.4.0");
    assert_eq!(info.supported_versions, CniVersion::ALL.map(|v| v.as_str()));

    let cases: Vec<(Execution, u32, &str)> = vec![
        (
            exec(
                CniCommand::Add,
                &|env| {
                    env.remove("CNI_IFNAME");
                },
                config("1.0.0"),
            ),
            4,
            "required env variables [CNI_IFNAME] missing",
        ),
        (
            exec(
                CniCommand::Add,
                &|env| {
                    env.insert("CNI_IFNAME".into(), "eth0:1".into());
                },
                config("1.0.0"),
            ),
            4,
            r#"interface name "eth0:1" contains / or : or white space"#,
        ),
        (
            exec(
                CniCommand::Add,
                &|env| {
                    env.insert("CNI_COMMAND".into(), "FOO".into());
                },
                config("1.0.0"),
            ),
            4,
            "unknown CNI_COMMAND: FOO",
        ),
        (
            exec(CniCommand::Add, &unchanged, config("0.3.2")),
            1,
            "incompatible CNI versions",
        ),
        (
            exec(CniCommand::Check, &unchanged, config("0.3.1")),
            1,
            "config version does not allow CHECK",
        ),
        (
            exec(CniCommand::Gc, &unchanged, config("1.0.0")),
            1,
            "config version does not allow GC",
        ),
        (
            exec(
                CniCommand::Add,
                &unchanged,
                json!({"cniVersion": "1.0.0", "type": VETH_PLUGIN}),
            ),
            7,
            "missing network name",
        ),
        (
            exec(CniCommand::Add, &unchanged, json!("not an object")),
            6,
            "",
        ),
    ];
    for (execution, code, msg) in &cases {
        let error = error_of(execution);
        assert_eq!(error.code, *code, "{error}");
        assert!(error.msg.starts_with(msg), "{error}");
        assert_eq!(execution.exit, cni_conform::runtime::ExitStatus::Code(1));
    }
    assert_eq!(
        error_of(&cases[3].0).details.as_deref(),
        Some(
            r#"config is "0.3.2", plugin supports ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]"#
        )
    );
    assert_eq!(
        serde_json::from_slice::<Value>(cases[4].0.stdout.as_bytes()).unwrap()["cniVersion"],
        "0.3.1",
        "errors carry the configuration's version"
    );
}

#[test]
fn outstanding_reservations_are_adds_without_a_later_del_for_the_same_attachment() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    assert_eq!(call_log::read(&log).unwrap(), [], "no log: no calls");
    let call = |command: &str, container_id: &str, ifname: &str| CallRecord {
        vars: CniVars {
            command: Some(command.into()),
            container_id: Some(container_id.into()),
            ifname: Some(ifname.into()),
            ..CniVars::default()
        },
        stdin: json!({"seq": format!("{command} {container_id} {ifname}")}),
    };
    let calls = [
        call("ADD", "c1", "eth0"),
        call("ADD", "c2", "eth0"),
        call("DEL", "c1", "eth0"),
        call("ADD", "c3", "eth0"),
        call("CHECK", "c3", "eth0"),
        call("DEL", "c2", "eth1"),
        call("ADD", "c3", "eth0"),
        call("DEL", "c4", "eth0"),
        call("ADD", "c1", "eth0"),
    ];
    for record in &calls {
        call_log::append(&log, record).unwrap();
    }
    let read = call_log::read(&log).unwrap();
    assert_eq!(read, calls);
    let leaked: Vec<&Value> = call_log::outstanding_reservations(&read)
        .iter()
        .map(|c| &c.stdin["seq"])
        .collect();
    assert_eq!(leaked, ["ADD c2 eth0", "ADD c3 eth0", "ADD c1 eth0"]);
}

#[test]
fn derived_host_names_are_stable_and_fit_the_kernel_limit() {
    let name = veth_host_name("ctr1", "eth0");
    assert_eq!(
        name, "cv1dca060345d55",
        "FNV-1a of \"ctr1\\0eth0\", top 52 bits"
    );
    assert_eq!(name.len(), 15);
    assert_ne!(veth_host_name("ctr1", "eth1"), name);
    assert_ne!(
        veth_host_name("ctr1e", "th0"),
        name,
        "the separator keeps the parts apart"
    );
}
