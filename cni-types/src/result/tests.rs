use proptest::prelude::*;
use rstest::rstest;
use serde_json::json;

use super::*;

fn sample() -> CniResult {
    CniResult {
        interfaces: vec![
            Interface {
                name: "eth0".into(),
                mac: Some("aa:bb:cc:dd:ee:ff".into()),
                mtu: Some(1500),
                sandbox: Some("/run/netns/pod".into()),
                ..Interface::default()
            },
            Interface {
                name: "eth0.3".into(),
                mac: Some("aa:bb:cc:dd:ee:ff".into()),
                mtu: Some(1500),
                sandbox: Some("/run/netns/pod".into()),
                ..Interface::default()
            },
        ],
        ips: vec![
            IpConfig {
                address: "10.0.0.2/24".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                interface: Some(0),
            },
            IpConfig {
                address: "192.168.3.10/24".parse().unwrap(),
                gateway: Some("192.168.3.1".parse().unwrap()),
                interface: Some(1),
            },
            IpConfig {
                address: "fd00:3::10/64".parse().unwrap(),
                gateway: None,
                interface: Some(1),
            },
        ],
        routes: vec![Route {
            priority: Some(10),
            ..Route::new(
                "0.0.0.0/0".parse().unwrap(),
                Some("10.0.0.1".parse().unwrap()),
            )
        }],
        dns: Dns {
            nameservers: vec!["10.0.0.53".into()],
            ..Dns::default()
        },
    }
}

#[rstest]
#[case::v0_1_0(CniVersion::V0_1_0)]
#[case::v0_2_0(CniVersion::V0_2_0)]
#[case::v0_3_0(CniVersion::V0_3_0)]
#[case::v0_3_1(CniVersion::V0_3_1)]
#[case::v0_4_0(CniVersion::V0_4_0)]
#[case::v1_0_0(CniVersion::V1_0_0)]
#[case::v1_1_0(CniVersion::V1_1_0)]
fn renders_each_version_shape(#[case] version: CniVersion) {
    insta::with_settings!({ snapshot_suffix => version.as_str() }, {
        insta::assert_json_snapshot!(sample().to_json(version));
    });
}

#[test]
fn ip_version_field_only_in_0_3_to_0_4() {
    let r = sample();
    assert_eq!(r.to_json(CniVersion::V0_4_0)["ips"][2]["version"], "6");
    assert!(
        r.to_json(CniVersion::V1_0_0)["ips"][0]
            .get("version")
            .is_none()
    );
}

#[test]
fn interface_mtu_only_in_1_1_0() {
    let r = sample();
    assert_eq!(r.to_json(CniVersion::V1_1_0)["interfaces"][0]["mtu"], 1500);
    assert!(
        r.to_json(CniVersion::V1_0_0)["interfaces"][0]
            .get("mtu")
            .is_none()
    );
}

#[test]
fn empty_dns_is_omitted_from_1_0_0_and_kept_before() {
    let r = CniResult::default();
    assert!(r.to_json(CniVersion::V1_0_0).get("dns").is_none());
    assert_eq!(r.to_json(CniVersion::V0_4_0)["dns"], json!({}));
}

#[test]
fn legacy_results_parse_into_the_model() {
    let legacy = json!({
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.1.2.3/24", "gateway": "10.1.2.1",
                "routes": [{"dst": "0.0.0.0/0"}]},
        "ip6": {"ip": "fd00::3/64"},
        "dns": {"nameservers": ["1.1.1.1"]}
    });
    let (v, r) = CniResult::parse(&legacy, CniVersion::V1_1_0).unwrap();
    assert_eq!(v, CniVersion::V0_2_0);
    assert_eq!(r.ips.len(), 2);
    assert_eq!(r.ips[1].address.to_string(), "fd00::3/64");
    assert_eq!(r.routes[0].dst.to_string(), "0.0.0.0/0");
    assert_eq!(r.dns.nameservers, vec!["1.1.1.1".to_string()]);
}

#[test]
fn missing_cni_version_uses_the_default() {
    let (v, _) = CniResult::parse(&json!({}), CniVersion::V0_4_0).unwrap();
    assert_eq!(v, CniVersion::V0_4_0);
}

#[test]
fn malformed_results_are_rejected_with_a_reason() {
    let cases = [
        (json!([]), "not a JSON object"),
        (json!({"cniVersion": "9.9.9"}), "unsupported cniVersion"),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}),
            "malformed",
        ),
        (
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1/24", "interface": 0}]}),
            "only 0 interfaces",
        ),
    ];
    for (input, want) in cases {
        let err = CniResult::parse(&input, CniVersion::V1_1_0).unwrap_err();
        assert!(err.to_string().contains(want), "{input}: {err}");
    }
}

#[test]
fn downgrading_to_1_0_drops_1_1_fields_on_parse_too() {
    let v = sample().to_json(CniVersion::V1_1_0);
    let mut as_1_0 = v.clone();
    as_1_0["cniVersion"] = "1.0.0".into();
    let (_, r) = CniResult::parse(&as_1_0, CniVersion::V1_1_0).unwrap();
    assert_eq!(r.interfaces[0].mtu, None);
    assert_eq!(r.routes[0].priority, None);
}

fn arb_result() -> impl Strategy<Value = CniResult> {
    let iface =
        ("[a-z]{1,8}[0-9]{0,3}", proptest::option::of(1280u32..9000)).prop_map(|(name, mtu)| {
            Interface {
                name,
                mac: Some("02:00:00:00:00:01".into()),
                mtu,
                sandbox: Some("/tmp/ns".into()),
                ..Interface::default()
            }
        });
    let v4 =
        (any::<[u8; 4]>(), 1u8..=32).prop_map(|(a, p)| IpNet::new(IpAddr::from(a), p).unwrap());
    let v6 =
        (any::<[u8; 16]>(), 1u8..=128).prop_map(|(a, p)| IpNet::new(IpAddr::from(a), p).unwrap());
    let addr = prop_oneof![v4, v6];
    (
        proptest::collection::vec(iface, 1..4),
        proptest::collection::vec(addr, 0..4),
    )
        .prop_map(|(interfaces, addrs)| {
            let n = interfaces.len();
            CniResult {
                ips: addrs
                    .into_iter()
                    .enumerate()
                    .map(|(i, address)| IpConfig {
                        address,
                        gateway: None,
                        interface: Some(i % n),
                    })
                    .collect(),
                interfaces,
                routes: vec![],
                dns: Dns::default(),
            }
        })
}

proptest! {
    /// Rendering in a version and parsing back loses nothing that version can carry.
    #[test]
    fn render_then_parse_round_trips_from_0_3_0(r in arb_result(), vi in 2usize..7) {
        let version = CniVersion::ALL[vi];
        let (back_version, back) = CniResult::parse(&r.to_json(version), CniVersion::V1_1_0).unwrap();
        prop_assert_eq!(back_version, version);
        let mut expected = r.clone();
        if !version.has_interface_mtu() {
            expected.strip_1_1_fields();
        }
        prop_assert_eq!(back, expected);
    }
}
