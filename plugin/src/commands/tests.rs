//! ADD, CHECK and DEL against the recording fake: the exact requests of each mode
//! (snapshots), and every failure path's rollback.

use std::path::PathBuf;

use cni_types::CniVersion;
use cni_types::error::codes;
use nix::errno::Errno;
use rstest::rstest;
use serde_json::{Value, json};

use super::del::Sandbox;
use super::{Invocation, add, check, del};
use crate::config::{self, NetConf};
use crate::error::{Error, plugin_codes};
use crate::ipam::{Delegate, script_delegate};
use crate::netlink::fake::{FakeKernel, Op, Request};
use crate::netlink::{Namespace, NetlinkError};

const SANDBOX: &str = "/run/netns/pod";

fn parse(config: &Value) -> NetConf {
    let object = config::decode(&serde_json::to_vec(config).unwrap()).unwrap();
    let version = config::version(&object).unwrap();
    NetConf::from_object(&object, version).unwrap()
}

/// An IPAM plugin that logs "<command> <ifname>" to `calls` in its directory and answers ADD
/// with a dual-stack result, or fails every command when `fail` is set.
struct Ipam {
    dir: tempfile::TempDir,
    cni_path: String,
}

impl Ipam {
    fn answering() -> Ipam {
        Ipam::with_body(
            r#"echo "$CNI_COMMAND $CNI_IFNAME" >> "$(dirname "$0")/calls"
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.1.0",
  "ips":[{"address":"10.1.3.10/24","gateway":"10.1.3.1"},{"address":"fd00:3::10/64","gateway":"fd00:3::1"}],
  "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.1.3.254","priority":100}],
  "dns":{"nameservers":["10.1.3.53"]}}'
exit 0"#,
        )
    }

    fn failing() -> Ipam {
        Ipam::with_body(
            r#"echo "$CNI_COMMAND $CNI_IFNAME" >> "$(dirname "$0")/calls"
echo '{"code": 11, "msg": "pool exhausted"}'; exit 1"#,
        )
    }

    fn with_body(body: &str) -> Ipam {
        let (dir, cni_path) = script_delegate(body);
        Ipam { dir, cni_path }
    }

    fn delegate(&self, ifname: Option<String>) -> Delegate {
        Delegate::new("fake-ipam", Some(self.cni_path.clone()), ifname)
    }

    fn calls(&self) -> Vec<String> {
        let path: PathBuf = self.dir.path().join("calls");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn invocation<'a>(
    conf: &'a NetConf,
    ifname: &str,
    ipam: Option<&Ipam>,
    stdin: &'a [u8],
) -> Invocation<'a> {
    let placement = conf.placement(ifname);
    let ipam = ipam.map(|i| i.delegate(Some(placement.ipam_ifname.clone())));
    let temp_name = super::temp_name("ctr", SANDBOX, &placement.link_name);
    Invocation {
        conf,
        placement,
        sandbox: SANDBOX,
        ipam,
        stdin,
        temp_name,
    }
}

fn host_master() -> Value {
    json!({"cniVersion": "1.1.0", "name": "net", "type": "vlan", "master": "eth0", "vlanId": 100,
           "mtu": 1400, "ipam": {"type": "fake-ipam"}})
}

fn container_master() -> Value {
    json!({"cniVersion": "1.1.0", "name": "net", "type": "vlan", "master": "eth1", "vlanId": 200,
           "vlanProtocol": "802.1ad", "linkInContainer": true, "ipam": {"type": "fake-ipam"}})
}

fn chained() -> Value {
    json!({"cniVersion": "1.1.0", "name": "net", "type": "vlan", "vlanId": 3,
           "linkInContainer": true, "ipam": {"type": "fake-ipam"},
           "prevResult": {"cniVersion": "1.1.0",
               "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": SANDBOX}],
               "ips": [{"address": "10.0.0.2/24", "interface": 0}]}})
}

/// The world each mode expects: the master where the mode looks for it, and `ifname`.
fn world(mode: &str) -> (FakeKernel, Value, &'static str) {
    match mode {
        "host-master" => (
            FakeKernel::new().with_link(Namespace::Runtime, "eth0"),
            host_master(),
            "net1",
        ),
        "container-master" => (
            FakeKernel::new().with_link(Namespace::Container, "eth1"),
            container_master(),
            "net1",
        ),
        _ => (
            FakeKernel::new().with_link(Namespace::Container, "eth0"),
            chained(),
            "eth0",
        ),
    }
}

#[rstest]
fn add_sends_these_requests(#[values("host-master", "container-master", "chained")] mode: &str) {
    let (kernel, config, ifname) = world(mode);
    let conf = parse(&config);
    let ipam = Ipam::answering();
    let inv = invocation(&conf, ifname, Some(&ipam), b"{}");
    let result = add::add(&kernel, &inv).unwrap();
    insta::with_settings!({ snapshot_suffix => mode }, {
        insta::assert_yaml_snapshot!("requests", kernel.requests());
        insta::assert_json_snapshot!("result", result.to_json(CniVersion::V1_1_0));
    });
    assert_eq!(ipam.calls(), [format!("ADD {}", inv.placement.ipam_ifname)]);
}

#[test]
fn an_l2_only_vlan_has_no_address_and_is_up() {
    let kernel = FakeKernel::new().with_link(Namespace::Runtime, "eth0");
    let mut config = host_master();
    config["ipam"] = json!({});
    let conf = parse(&config);
    let inv = invocation(&conf, "net1", None, b"{}");
    let result = add::add(&kernel, &inv).unwrap();
    assert!(result.ips.is_empty());
    let link = kernel.link(Namespace::Container, "net1").unwrap();
    assert!(link.up);
    assert!(kernel.addresses_of(link.index).is_empty());
    assert!(
        !kernel
            .requests()
            .iter()
            .any(|r| matches!(r, Request::EnableIpv6 { .. }))
    );
}

fn add_error(kernel: &FakeKernel, config: Value, ifname: &str, ipam: Option<&Ipam>) -> Error {
    let conf = parse(&config);
    let inv = invocation(&conf, ifname, ipam, b"{}");
    add::add(kernel, &inv).unwrap_err()
}

fn created_anything(kernel: &FakeKernel) -> bool {
    kernel
        .requests()
        .iter()
        .any(|r| matches!(r, Request::CreateVlan { .. }))
}

#[test]
fn add_refuses_an_existing_target_and_leaves_it_untouched() {
    let kernel = FakeKernel::new()
        .with_link(Namespace::Runtime, "eth0")
        .with_link_of_kind(Namespace::Container, "net1", "veth");
    let before = kernel.link(Namespace::Container, "net1");
    let error = add_error(&kernel, host_master(), "net1", None);
    assert_eq!(error.code(), plugin_codes::TARGET_EXISTS);
    assert_eq!(
        error.to_string(),
        "a link named \"net1\" already exists in CNI_NETNS \"/run/netns/pod\"; it was left untouched"
    );
    assert!(!created_anything(&kernel));
    assert_eq!(kernel.link(Namespace::Container, "net1"), before);
}

#[test]
fn add_without_the_master_names_it_and_the_namespace() {
    let kernel = FakeKernel::new();
    let error = add_error(&kernel, host_master(), "net1", None);
    assert_eq!(error.code(), plugin_codes::MASTER_NOT_FOUND);
    assert_eq!(
        error.to_string(),
        "master \"eth0\" not found in the runtime's network namespace"
    );
    let error = add_error(&kernel, chained(), "eth0", None);
    assert_eq!(error.to_string(), "master \"eth0\" not found in CNI_NETNS");
}

#[test]
fn add_on_a_master_that_is_down_creates_nothing() {
    let kernel = FakeKernel::new().with_link_down(Namespace::Runtime, "eth0");
    let error = add_error(&kernel, host_master(), "net1", None);
    assert_eq!(error.code(), plugin_codes::MASTER_DOWN);
    assert!(!created_anything(&kernel));
}

#[test]
fn add_with_an_mtu_above_the_masters_is_code_7_before_touching_the_kernel() {
    let kernel = FakeKernel::new().with_link(Namespace::Runtime, "eth0");
    let mut config = host_master();
    config["mtu"] = json!(1600);
    let error = add_error(&kernel, config, "net1", None);
    assert_eq!(error.code(), codes::INVALID_NETWORK_CONFIG);
    assert_eq!(
        error.to_string(),
        "invalid MTU 1600, must be [0, master MTU(1500)]"
    );
    assert!(!created_anything(&kernel));
}

#[test]
fn the_same_id_on_the_same_master_twice_is_a_duplicate() {
    let kernel = FakeKernel::new().with_link(Namespace::Runtime, "eth0");
    let conf = parse(&host_master());
    let mut config = host_master();
    config["ipam"] = json!({});
    let l2 = parse(&config);
    add::add(&kernel, &invocation(&l2, "net1", None, b"{}")).unwrap();
    let error = add::add(&kernel, &invocation(&conf, "net2", None, b"{}")).unwrap_err();
    assert_eq!(error.code(), plugin_codes::DUPLICATE_VLAN);
    assert_eq!(
        error.to_string(),
        "master \"eth0\" already has a 802.1Q VLAN with id 100 (maybe in another network namespace)"
    );
    assert!(kernel.link(Namespace::Container, "net2").is_none());
}

#[rstest]
#[case::no_8021q(
    Errno::EOPNOTSUPP,
    plugin_codes::KERNEL_REFUSED_LINK,
    "the kernel lacks 802.1Q support"
)]
#[case::mtu(
    Errno::EINVAL,
    plugin_codes::KERNEL_REFUSED_LINK,
    "is the MTU above the master's?"
)]
fn a_refused_create_explains_itself(#[case] errno: Errno, #[case] code: u32, #[case] hint: &str) {
    let kernel = FakeKernel::new()
        .with_link(Namespace::Runtime, "eth0")
        .failing(Op::CreateVlan, errno);
    let error = add_error(&kernel, host_master(), "net1", None);
    assert_eq!(error.code(), code);
    assert!(error.to_string().contains(hint), "{error}");
}

/// After the link exists every failure must delete it; after IPAM started, release too.
#[rstest]
#[case::rename(Op::Rename, Errno::EINVAL, false)]
#[case::rename_race(Op::Rename, Errno::EEXIST, false)]
#[case::address(Op::AddAddress, Errno::EACCES, true)]
#[case::up(Op::SetUp, Errno::ENETDOWN, true)]
#[case::route(Op::AddRoute, Errno::ENETUNREACH, true)]
fn failures_after_create_roll_everything_back(
    #[case] op: Op,
    #[case] errno: Errno,
    #[case] ipam_started: bool,
) {
    let kernel = FakeKernel::new()
        .with_link(Namespace::Runtime, "eth0")
        .failing(op, errno);
    let ipam = Ipam::answering();
    let error = add_error(&kernel, host_master(), "net1", Some(&ipam));
    assert!(
        kernel.links(Namespace::Container).is_empty(),
        "left behind: {:?}",
        kernel.links(Namespace::Container)
    );
    let deletes = kernel
        .requests()
        .into_iter()
        .filter(|r| matches!(r, Request::Delete { .. }))
        .count();
    assert_eq!(deletes, 1);
    let expected_calls: &[&str] = if ipam_started {
        &["ADD net1", "DEL net1"]
    } else {
        &[]
    };
    assert_eq!(ipam.calls(), expected_calls);
    let expected_code = match (op, errno) {
        (Op::Rename, Errno::EEXIST) => plugin_codes::TARGET_EXISTS,
        (Op::SetUp, Errno::ENETDOWN) => plugin_codes::MASTER_DOWN,
        _ => plugin_codes::NETLINK_FAILED,
    };
    assert_eq!(error.code(), expected_code, "{error}");
}

#[test]
fn a_failed_ipam_add_deletes_the_link_releases_and_passes_the_code_through() {
    let kernel = FakeKernel::new().with_link(Namespace::Container, "eth0");
    let ipam = Ipam::failing();
    let error = add_error(&kernel, chained(), "eth0", Some(&ipam));
    let cni = error.to_cni();
    assert_eq!(cni.code, 11);
    assert!(
        cni.msg.starts_with("fake-ipam: pool exhausted"),
        "{}",
        cni.msg
    );
    assert_eq!(ipam.calls(), ["ADD eth0.3", "DEL eth0.3"]);
    assert!(kernel.link(Namespace::Container, "eth0.3").is_none());
    assert!(kernel.link(Namespace::Container, "eth0").is_some());
}

#[test]
fn rollback_failures_are_reported_in_details() {
    let kernel = FakeKernel::new()
        .with_link(Namespace::Runtime, "eth0")
        .failing(Op::AddRoute, Errno::ENETUNREACH)
        .failing(Op::Delete, Errno::EPERM);
    let ipam = Ipam::answering();
    let error = add_error(&kernel, host_master(), "net1", Some(&ipam));
    let cni = error.to_cni();
    assert_eq!(cni.code, plugin_codes::NETLINK_FAILED);
    assert!(cni.msg.starts_with("adding route"), "{}", cni.msg);
    let details = cni.details.unwrap();
    assert!(
        details.contains("rolling back: deleting the new VLAN \"net1\": EPERM"),
        "{details}"
    );
}

#[test]
fn contention_that_outlasts_the_retries_is_code_11() {
    let error = Error::KernelRefusedLink {
        master: "eth0".into(),
        id: 1,
        source: NetlinkError::Contended {
            errno: Errno::EBUSY,
            attempts: 5,
        },
    };
    assert_eq!(error.code(), codes::TRY_AGAIN_LATER);
    assert!(
        error.to_string().contains("still after 5 attempts"),
        "{error}"
    );
}

// --- DEL ---

fn run_del(
    kernel: Option<&FakeKernel>,
    config: Value,
    ifname: &str,
    ipam: Option<&Ipam>,
) -> Result<(), Error> {
    let conf = parse(&config);
    let inv = invocation(&conf, ifname, ipam, b"{}");
    let sandbox = match kernel {
        Some(k) => Sandbox::Reachable(k),
        None => Sandbox::Gone("gone".into()),
    };
    del::del(sandbox, &inv)
}

#[test]
fn del_removes_the_vlan_and_releases_and_is_repeatable() {
    let (kernel, config, ifname) = world("chained");
    let ipam = Ipam::answering();
    let conf = parse(&config);
    add::add(&kernel, &invocation(&conf, ifname, Some(&ipam), b"{}")).unwrap();
    run_del(Some(&kernel), config.clone(), ifname, Some(&ipam)).unwrap();
    assert!(kernel.link(Namespace::Container, "eth0.3").is_none());
    assert!(
        kernel.link(Namespace::Container, "eth0").is_some(),
        "chained DEL must never delete CNI_IFNAME itself"
    );
    run_del(Some(&kernel), config, ifname, Some(&ipam)).unwrap();
    assert_eq!(ipam.calls(), ["ADD eth0.3", "DEL eth0.3", "DEL eth0.3"]);
}

#[test]
fn a_vlan_left_under_the_temporary_name_by_a_killed_add_is_removed_by_del_and_by_the_next_add() {
    let temp = super::temp_name("ctr", SANDBOX, "net1");
    let killed_add = || {
        FakeKernel::new()
            .with_link(Namespace::Runtime, "eth0")
            .with_link_of_kind(Namespace::Container, &temp, "vlan")
    };
    let kernel = killed_add();
    run_del(Some(&kernel), host_master(), "net1", None).unwrap();
    assert!(kernel.link(Namespace::Container, &temp).is_none());

    let kernel = killed_add();
    let conf = parse(&host_master());
    add::add(&kernel, &invocation(&conf, "net1", None, b"{}")).unwrap();
    let names: Vec<String> = kernel
        .links(Namespace::Container)
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["net1"]);
}

#[test]
fn temporary_names_are_stable_per_attachment_and_distinct_between_them() {
    let name = super::temp_name("ctr", "/run/netns/a", "eth0");
    assert_eq!(name, super::temp_name("ctr", "/run/netns/a", "eth0"));
    assert_eq!(name.len(), 15);
    assert_ne!(name, super::temp_name("ctr", "/run/netns/a", "eth1"));
    assert_ne!(name, super::temp_name("ctr2", "/run/netns/a", "eth0"));
    assert_ne!(name, super::temp_name("ctr", "/run/netns/b", "eth0"));
}

#[test]
fn del_never_deletes_a_link_that_is_not_a_vlan() {
    let kernel = FakeKernel::new()
        .with_link(Namespace::Runtime, "eth0")
        .with_link_of_kind(Namespace::Container, "net1", "veth");
    run_del(Some(&kernel), host_master(), "net1", None).unwrap();
    assert!(kernel.link(Namespace::Container, "net1").is_some());
    assert!(
        !kernel
            .requests()
            .iter()
            .any(|r| matches!(r, Request::Delete { .. }))
    );
}

#[test]
fn del_without_a_namespace_still_releases() {
    let ipam = Ipam::answering();
    run_del(None, host_master(), "net1", Some(&ipam)).unwrap();
    assert_eq!(ipam.calls(), ["DEL net1"]);
}

#[test]
fn del_reports_what_it_left_behind_but_still_releases() {
    let (kernel, config, ifname) = world("host-master");
    let kernel = kernel.failing(Op::Delete, Errno::EPERM);
    let ipam = Ipam::answering();
    let conf = parse(&config);
    add::add(&kernel, &invocation(&conf, ifname, Some(&ipam), b"{}")).unwrap();
    let error = run_del(Some(&kernel), config, ifname, Some(&ipam)).unwrap_err();
    assert_eq!(error.code(), plugin_codes::NETLINK_FAILED);
    assert_eq!(ipam.calls(), ["ADD net1", "DEL net1"]);

    let failing = Ipam::failing();
    let error = run_del(None, host_master(), "net1", Some(&failing)).unwrap_err();
    assert_eq!(error.code(), 11);
}

#[test]
fn del_with_an_unreachable_namespace_is_an_error_after_releasing() {
    let ipam = Ipam::answering();
    let conf = parse(&host_master());
    let inv = invocation(&conf, "net1", Some(&ipam), b"{}");
    let unreachable = Error::Io {
        what: "opening CNI_NETNS".into(),
        source: std::io::Error::from_raw_os_error(libc::EACCES),
    };
    let error = del::del::<FakeKernel>(Sandbox::Unreachable(unreachable), &inv).unwrap_err();
    assert_eq!(error.code(), plugin_codes::IO_FAILED);
    assert_eq!(ipam.calls(), ["DEL net1"]);
}

// --- CHECK ---

/// ADD in `mode`, then the configuration CHECK gets: the same, with the ADD result as
/// `prevResult`.
fn added(mode: &str) -> (FakeKernel, Value, &'static str, Ipam) {
    let (kernel, config, ifname) = world(mode);
    let ipam = Ipam::answering();
    let conf = parse(&config);
    let result = add::add(&kernel, &invocation(&conf, ifname, Some(&ipam), b"{}")).unwrap();
    let mut config = config;
    config["prevResult"] = result.to_json(conf.version);
    (kernel, config, ifname, ipam)
}

fn run_check(kernel: &FakeKernel, config: &Value, ifname: &str, ipam: &Ipam) -> Result<(), Error> {
    let conf = parse(config);
    check::check(kernel, &invocation(&conf, ifname, Some(ipam), b"{}"))
}

#[rstest]
fn check_passes_right_after_add_and_runs_ipam_check(
    #[values("host-master", "container-master", "chained")] mode: &str,
) {
    let (kernel, config, ifname, ipam) = added(mode);
    run_check(&kernel, &config, ifname, &ipam).unwrap();
    assert_eq!(
        ipam.calls().last().unwrap().split(' ').next(),
        Some("CHECK")
    );
}

#[rstest]
#[case::link_deleted("link \"net1\" does not exist in CNI_NETNS")]
#[case::not_a_vlan("\"net1\" is a veth link, not a VLAN")]
#[case::other_id("\"net1\" has VLAN id 101, the configuration says 100")]
#[case::other_protocol("\"net1\" uses 802.1ad, the configuration says 802.1Q")]
#[case::other_parent(
    "\"net1\" has parent index 77 in the namespace CNI_NETNS calls 0, expected master \"eth0\" (index 1) in the runtime's network namespace"
)]
#[case::parent_in_container("\"net1\" has parent index 1 in CNI_NETNS, expected master")]
#[case::mtu("\"net1\" has MTU 1300, the configuration says 1400")]
#[case::mac("\"net1\" has MAC 02:00:00:00:00:99, prevResult says 02:00:00:00:00:01")]
#[case::down("\"net1\" is down")]
#[case::address("address 10.1.3.10/24 is not on \"net1\"")]
#[case::route("route to 0.0.0.0/0 via 10.1.3.1 in table 254 through \"net1\" is missing")]
fn check_names_each_drift(#[case] drift: &str) {
    let (kernel, config, ifname, ipam) = added("host-master");
    let index = kernel.link(Namespace::Container, "net1").unwrap().index;
    let case = drift;
    let tamper = |change: &dyn Fn(&mut crate::netlink::Link)| {
        kernel.link_mut(Namespace::Container, "net1", |l| change(l))
    };
    match case {
        c if c.starts_with("link") => tamper(&|l| l.name = "gone".into()),
        c if c.contains("veth") => tamper(&|l| l.kind = Some("veth".into())),
        c if c.contains("VLAN id") => tamper(&|l| l.vlan.as_mut().unwrap().id = 101),
        c if c.contains("802.1ad") => tamper(&|l| {
            l.vlan.as_mut().unwrap().protocol = crate::netlink::VlanProtocol::Ieee8021Ad
        }),
        c if c.contains("index 77") => tamper(&|l| l.lower.as_mut().unwrap().index = 77),
        c if c.contains("index 1 in CNI_NETNS") => {
            tamper(&|l| l.lower.as_mut().unwrap().nsid = None)
        }
        c if c.contains("MTU") => tamper(&|l| l.mtu = 1300),
        c if c.contains("MAC") => tamper(&|l| l.mac = Some("02:00:00:00:00:99".into())),
        c if c.contains("down") => tamper(&|l| l.up = false),
        c if c.starts_with("address") => {
            kernel.remove_address(index, "10.1.3.10/24".parse().unwrap())
        }
        _ => kernel.remove_routes(index),
    }
    let error = run_check(&kernel, &config, ifname, &ipam).unwrap_err();
    assert_eq!(error.code(), plugin_codes::CHECK_FAILED, "{error}");
    assert!(
        error.to_string().starts_with(&format!("CHECK: {drift}")),
        "{error}"
    );
    assert!(
        !ipam.calls().iter().any(|c| c.starts_with("CHECK")),
        "IPAM CHECK runs only once the link checks pass"
    );
}

#[test]
fn check_needs_prev_result_and_the_interface_in_it() {
    let (kernel, mut config, ifname, ipam) = added("container-master");
    let prev = config
        .as_object_mut()
        .unwrap()
        .remove("prevResult")
        .unwrap();
    let error = run_check(&kernel, &config, ifname, &ipam).unwrap_err();
    assert_eq!(error.code(), codes::INVALID_NETWORK_CONFIG);
    assert_eq!(error.to_string(), "\"prevResult\" is required for CHECK");

    let mut other_sandbox = prev.clone();
    other_sandbox["interfaces"][0]["sandbox"] = json!("/run/netns/other");
    config["prevResult"] = other_sandbox;
    let error = run_check(&kernel, &config, ifname, &ipam).unwrap_err();
    assert_eq!(
        error.to_string(),
        "CHECK: prevResult has no interface \"net1\" with sandbox \"/run/netns/pod\""
    );
}

#[test]
fn check_only_verifies_the_vlans_own_addresses_and_routes() {
    // The chained prevResult has eth0's 10.0.0.2/24 (interface 0): not the VLAN's to check.
    let (kernel, config, ifname, ipam) = added("chained");
    let eth0 = kernel.link(Namespace::Container, "eth0").unwrap();
    assert!(kernel.addresses_of(eth0.index).is_empty());
    run_check(&kernel, &config, ifname, &ipam).unwrap();
}
