//! The network configuration on stdin: decoded (code 6), version-checked (code 1), validated
//! (code 7, naming the field and the value), and resolved into the mode and the names one
//! attachment uses. The raw bytes are kept by the caller for the IPAM delegate.

use cni_types::names::{is_valid_identifier, validate_ifname, validate_new_ifname};
use cni_types::{CniResult, CniVersion, Dns};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::netlink::{Namespace, VlanProtocol, VlanTag};

pub const MAX_VLAN_ID: u16 = 4094;

/// Where the master is, from `master` and `linkInContainer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `master` in the runtime's namespace; the VLAN is created straight into `CNI_NETNS`.
    HostMaster { master: String },
    /// `master` in `CNI_NETNS` (`linkInContainer`).
    ContainerMaster { master: String },
    /// No `master`, `linkInContainer`: the master is `CNI_IFNAME` in `CNI_NETNS` (made by an
    /// earlier plugin in the chain) and the VLAN is `<CNI_IFNAME>.<vlanId>`.
    Chained,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    pub version: CniVersion,
    pub name: String,
    pub mode: Mode,
    pub vlan: VlanTag,
    /// `None` inherits the master's MTU (`mtu` absent or 0).
    pub mtu: Option<u32>,
    /// `ipam.type`; `None` for an L2-only VLAN (`ipam` absent or `{}`).
    pub ipam: Option<String>,
    pub dns: Dns,
    pub prev_result: Option<CniResult>,
}

/// The names one attachment uses, from the mode and `CNI_IFNAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub master: String,
    pub master_namespace: Namespace,
    /// The VLAN's name in `CNI_NETNS`.
    pub link_name: String,
    /// The `CNI_IFNAME` the IPAM delegate sees: the runtime's, except in chained mode, where it
    /// is the VLAN's name, so an IPAM keyed by (container, ifname) keeps the VLAN's addresses
    /// apart from the master's.
    pub ipam_ifname: String,
}

impl Placement {
    /// Only a chained name can be invalid: `CNI_IFNAME` itself was validated with the
    /// environment. The rule is the kernel's for a new link ([`validate_new_ifname`]).
    pub fn validate(&self) -> Result<(), Error> {
        validate_new_ifname(&self.link_name).map_err(|e| {
            Error::Config(format!(
                "the chained VLAN name <CNI_IFNAME>.<vlanId> = {:?} is invalid: {e}",
                self.link_name
            ))
        })
    }
}

/// Stdin as a JSON object.
pub fn decode(stdin: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice(stdin) {
        Ok(Value::Object(config)) => Ok(config),
        Ok(other) => Err(Error::Decode(format!(
            "expected a JSON object, got {}",
            kind_of(&other)
        ))),
        Err(e) => Err(Error::Decode(e.to_string())),
    }
}

/// `cniVersion`; absent or "" means 0.1.0 (the spec's rule for configurations that predate it).
pub fn version(config: &Map<String, Value>) -> Result<CniVersion, Error> {
    match field(config, "cniVersion") {
        None => Ok(CniVersion::V0_1_0),
        Some(Value::String(v)) => v
            .parse()
            .map_err(|_| Error::IncompatibleVersion { version: v.clone() }),
        Some(other) => Err(Error::Config(format!(
            "\"cniVersion\" must be a string, got {other}"
        ))),
    }
}

impl NetConf {
    pub fn from_object(config: &Map<String, Value>, version: CniVersion) -> Result<NetConf, Error> {
        Ok(NetConf {
            version,
            name: network_name(config)?,
            mode: {
                plugin_type(config)?;
                mode(config)?
            },
            vlan: VlanTag {
                id: vlan_id(config)?,
                protocol: vlan_protocol(config)?,
            },
            mtu: mtu(config)?,
            ipam: ipam(config)?,
            dns: dns(config)?,
            prev_result: prev_result(config, version)?,
        })
    }

    /// The names for `CNI_IFNAME`. A chained name the kernel cannot carry is an error for ADD
    /// and CHECK ([`Placement::validate`]); DEL takes it as "no such link can exist".
    pub fn placement(&self, ifname: &str) -> Placement {
        match &self.mode {
            Mode::HostMaster { master } => Placement {
                master: master.clone(),
                master_namespace: Namespace::Runtime,
                link_name: ifname.to_string(),
                ipam_ifname: ifname.to_string(),
            },
            Mode::ContainerMaster { master } => Placement {
                master: master.clone(),
                master_namespace: Namespace::Container,
                link_name: ifname.to_string(),
                ipam_ifname: ifname.to_string(),
            },
            Mode::Chained => {
                let link_name = format!("{ifname}.{}", self.vlan.id);
                Placement {
                    master: ifname.to_string(),
                    master_namespace: Namespace::Container,
                    link_name: link_name.clone(),
                    ipam_ifname: link_name,
                }
            }
        }
    }

    /// `mtu` checked against the master's.
    pub fn check_mtu(&self, master_mtu: u32) -> Result<(), Error> {
        match self.mtu {
            Some(mtu) if mtu > master_mtu => Err(mtu_error(mtu, Some(master_mtu))),
            _ => Ok(()),
        }
    }
}

/// A present, non-null field (JSON `null` counts as absent, as Go's decoder treats it).
fn field<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    config.get(key).filter(|v| !v.is_null())
}

fn string_field<'a>(config: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Error> {
    match field(config, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::Config(format!(
            "{key:?} must be a string, got {other}"
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn network_name(config: &Map<String, Value>) -> Result<String, Error> {
    let name = string_field(config, "name")?.unwrap_or("");
    if name.is_empty() {
        return Err(Error::Config(
            "\"name\" (the network name) is required".into(),
        ));
    }
    if !is_valid_identifier(name) {
        return Err(Error::Config(format!(
            "invalid \"name\" {name:?}: it must start with a letter or digit, followed by letters, \
             digits, '_', '.' or '-'"
        )));
    }
    Ok(name.to_string())
}

fn plugin_type(config: &Map<String, Value>) -> Result<(), Error> {
    match string_field(config, "type")? {
        Some(t) if !t.is_empty() => Ok(()),
        _ => Err(Error::Config("\"type\" is required".into())),
    }
}

fn mode(config: &Map<String, Value>) -> Result<Mode, Error> {
    let link_in_container = match field(config, "linkInContainer") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Error::Config(format!(
                "\"linkInContainer\" must be true or false, got {other}"
            )));
        }
    };
    let master = string_field(config, "master")?.filter(|m| !m.is_empty());
    if let Some(m) = master {
        validate_ifname(m).map_err(|e| Error::Config(format!("invalid \"master\" {m:?}: {e}")))?;
    }
    match (master, link_in_container) {
        (Some(m), false) => Ok(Mode::HostMaster {
            master: m.to_string(),
        }),
        (Some(m), true) => Ok(Mode::ContainerMaster {
            master: m.to_string(),
        }),
        (None, true) => Ok(Mode::Chained),
        (None, false) => Err(Error::Config(
            "\"master\" is required unless \"linkInContainer\" is true (then the master is \
             CNI_IFNAME inside CNI_NETNS: chained mode)"
                .into(),
        )),
    }
}

fn vlan_id(config: &Map<String, Value>) -> Result<u16, Error> {
    let Some(value) = field(config, "vlanId") else {
        return Ok(0);
    };
    value
        .as_u64()
        .and_then(|id| u16::try_from(id).ok())
        .filter(|id| *id <= MAX_VLAN_ID)
        .ok_or_else(|| {
            Error::Config(format!(
                "invalid \"vlanId\" {value}: must be an integer in the range 0..{MAX_VLAN_ID}"
            ))
        })
}

fn vlan_protocol(config: &Map<String, Value>) -> Result<VlanProtocol, Error> {
    match string_field(config, "vlanProtocol")? {
        None => Ok(VlanProtocol::Ieee8021Q),
        Some(p) if p.eq_ignore_ascii_case("802.1Q") => Ok(VlanProtocol::Ieee8021Q),
        Some(p) if p.eq_ignore_ascii_case("802.1ad") => Ok(VlanProtocol::Ieee8021Ad),
        Some(p) => Err(Error::Config(format!(
            "invalid \"vlanProtocol\" {p:?}: must be \"802.1Q\" or \"802.1ad\""
        ))),
    }
}

fn mtu_error(value: impl std::fmt::Display, master_mtu: Option<u32>) -> Error {
    // Upstream's wording (its tests assert it), which names the field and the value.
    match master_mtu {
        Some(m) => Error::Config(format!("invalid MTU {value}, must be [0, master MTU({m})]")),
        None => Error::Config(format!("invalid MTU {value}, must be [0, master MTU]")),
    }
}

fn mtu(config: &Map<String, Value>) -> Result<Option<u32>, Error> {
    let Some(value) = field(config, "mtu") else {
        return Ok(None);
    };
    match value.as_i64().map(u32::try_from) {
        Some(Ok(0)) => Ok(None),
        Some(Ok(mtu)) => Ok(Some(mtu)),
        _ => Err(mtu_error(value, None)),
    }
}

pub(crate) fn ipam(config: &Map<String, Value>) -> Result<Option<String>, Error> {
    let settings = match field(config, "ipam") {
        None => return Ok(None),
        Some(Value::Object(settings)) if settings.is_empty() => return Ok(None),
        Some(Value::Object(settings)) => settings,
        Some(other) => {
            return Err(Error::Config(format!(
                "\"ipam\" must be an object, got {other}"
            )));
        }
    };
    match settings.get("type") {
        Some(Value::String(t)) if t.contains('/') || t.contains('\0') => Err(Error::Config(
            format!("invalid \"ipam.type\" {t:?}: must be a plugin name found in CNI_PATH, not a path"),
        )),
        Some(Value::String(t)) if !t.is_empty() => Ok(Some(t.clone())),
        _ => Err(Error::Config(
            "\"ipam\" has settings but no \"ipam.type\" (leave \"ipam\" out, or make it {}, for an \
             L2-only VLAN)"
                .into(),
        )),
    }
}

fn dns(config: &Map<String, Value>) -> Result<Dns, Error> {
    match field(config, "dns") {
        None => Ok(Dns::default()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| Error::Config(format!("invalid \"dns\" {value}: {e}"))),
    }
}

fn prev_result(
    config: &Map<String, Value>,
    version: CniVersion,
) -> Result<Option<CniResult>, Error> {
    match field(config, "prevResult") {
        None => Ok(None),
        Some(value) => CniResult::parse(value, version)
            .map(|(_, result)| Some(result))
            .map_err(|e| Error::Config(format!("invalid \"prevResult\": {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use cni_types::error::codes::{DECODING_FAILURE, INCOMPATIBLE_VERSION, INVALID_NETWORK_CONFIG};
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn parse(config: Value) -> Result<NetConf, Error> {
        let bytes = serde_json::to_vec(&config).unwrap();
        let object = decode(&bytes)?;
        let version = version(&object)?;
        NetConf::from_object(&object, version)
    }

    fn base() -> Value {
        json!({"cniVersion": "1.1.0", "name": "net1", "type": "vlan", "master": "eth0", "vlanId": 7})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut config = base();
        config[key] = value;
        config
    }

    fn without(key: &str) -> Value {
        let mut config = base();
        config.as_object_mut().unwrap().remove(key);
        config
    }

    #[test]
    fn a_minimal_host_master_config() {
        let conf = parse(base()).unwrap();
        assert_eq!(
            conf,
            NetConf {
                version: CniVersion::V1_1_0,
                name: "net1".into(),
                mode: Mode::HostMaster {
                    master: "eth0".into()
                },
                vlan: VlanTag {
                    id: 7,
                    protocol: VlanProtocol::Ieee8021Q
                },
                mtu: None,
                ipam: None,
                dns: Dns::default(),
                prev_result: None,
            }
        );
    }

    #[rstest]
    #[case::absent_vlan_id(without("vlanId"), 0)]
    #[case::zero(with("vlanId", json!(0)), 0)]
    #[case::max(with("vlanId", json!(4094)), 4094)]
    #[case::null(with("vlanId", Value::Null), 0)]
    fn accepted_vlan_ids(#[case] config: Value, #[case] expected: u16) {
        assert_eq!(parse(config).unwrap().vlan.id, expected);
    }

    #[rstest]
    #[case::negative(with("vlanId", json!(-1)), "invalid \"vlanId\" -1: must be an integer in the range 0..4094")]
    #[case::reserved(with("vlanId", json!(4095)), "invalid \"vlanId\" 4095: must be an integer in the range 0..4094")]
    #[case::too_big(with("vlanId", json!(5000)), "invalid \"vlanId\" 5000")]
    #[case::beyond_u16(with("vlanId", json!(65536 + 7)), "invalid \"vlanId\" 65543")]
    #[case::string(with("vlanId", json!("3")), "invalid \"vlanId\" \"3\": must be an integer")]
    #[case::float(with("vlanId", json!(3.5)), "invalid \"vlanId\" 3.5")]
    #[case::bad_protocol(with("vlanProtocol", json!("802.1x")), "invalid \"vlanProtocol\" \"802.1x\": must be \"802.1Q\" or \"802.1ad\"")]
    #[case::protocol_not_string(with("vlanProtocol", json!(1)), "\"vlanProtocol\" must be a string, got 1")]
    #[case::negative_mtu(with("mtu", json!(-100)), "invalid MTU -100, must be [0, master MTU]")]
    #[case::string_mtu(with("mtu", json!("1500")), "invalid MTU \"1500\"")]
    #[case::huge_mtu(with("mtu", json!(5_000_000_000u64)), "invalid MTU 5000000000")]
    #[case::no_master(
        without("master"),
        "\"master\" is required unless \"linkInContainer\" is true"
    )]
    #[case::empty_master(with("master", json!("")), "\"master\" is required unless")]
    #[case::bad_master(with("master", json!("a/b")), "invalid \"master\" \"a/b\"")]
    #[case::link_in_container_string(with("linkInContainer", json!("true")), "\"linkInContainer\" must be true or false, got \"true\"")]
    #[case::ipam_type_path(with("ipam", json!({"type": "/usr/lib/cni/static"})), "invalid \"ipam.type\" \"/usr/lib/cni/static\": must be a plugin name found in CNI_PATH")]
    #[case::ipam_type_relative(with("ipam", json!({"type": "../static"})), "invalid \"ipam.type\" \"../static\"")]
    #[case::ipam_without_type(with("ipam", json!({"subnet": "10.0.0.0/24"})), "\"ipam\" has settings but no \"ipam.type\"")]
    #[case::ipam_not_object(with("ipam", json!("static")), "\"ipam\" must be an object, got \"static\"")]
    #[case::no_name(without("name"), "\"name\" (the network name) is required")]
    #[case::bad_name(with("name", json!("-net")), "invalid \"name\" \"-net\"")]
    #[case::no_type(without("type"), "\"type\" is required")]
    #[case::bad_dns(with("dns", json!({"nameservers": "1.1.1.1"})), "invalid \"dns\"")]
    #[case::bad_prev_result(with("prevResult", json!({"cniVersion": "1.0.0", "ips": [{"address": "nonsense"}]})), "invalid \"prevResult\"")]
    #[case::version_not_string(with("cniVersion", json!(1)), "\"cniVersion\" must be a string, got 1")]
    fn invalid_configs_are_code_7_naming_field_and_value(
        #[case] config: Value,
        #[case] message: &str,
    ) {
        let error = parse(config).unwrap_err();
        assert_eq!(error.code(), INVALID_NETWORK_CONFIG, "{error}");
        assert!(error.to_string().starts_with(message), "{error}");
    }

    #[rstest]
    #[case::unknown("1.2.0")]
    #[case::prefix("v1.0.0")]
    #[case::short("1.0")]
    fn unsupported_versions_are_code_1(#[case] v: &str) {
        let error = parse(with("cniVersion", json!(v))).unwrap_err();
        assert_eq!(error.code(), INCOMPATIBLE_VERSION);
        assert!(error.to_string().contains(v), "{error}");
        let details = error.to_cni().details.unwrap();
        assert!(
            details.contains("0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"),
            "{details}"
        );
    }

    #[test]
    fn a_missing_version_is_0_1_0() {
        assert_eq!(
            parse(without("cniVersion")).unwrap().version,
            CniVersion::V0_1_0
        );
    }

    #[rstest]
    #[case::garbage(b"not json".as_slice())]
    #[case::array(b"[1,2]".as_slice())]
    #[case::empty(b"".as_slice())]
    fn undecodable_stdin_is_code_6(#[case] stdin: &[u8]) {
        assert_eq!(decode(stdin).unwrap_err().code(), DECODING_FAILURE);
    }

    #[rstest]
    #[case::default(without("vlanProtocol"), VlanProtocol::Ieee8021Q)]
    #[case::q(with("vlanProtocol", json!("802.1Q")), VlanProtocol::Ieee8021Q)]
    #[case::q_lowercase(with("vlanProtocol", json!("802.1q")), VlanProtocol::Ieee8021Q)]
    #[case::ad(with("vlanProtocol", json!("802.1ad")), VlanProtocol::Ieee8021Ad)]
    fn vlan_protocols(#[case] config: Value, #[case] expected: VlanProtocol) {
        assert_eq!(parse(config).unwrap().vlan.protocol, expected);
    }

    #[rstest]
    #[case::absent(without("ipam"), None)]
    #[case::empty(with("ipam", json!({})), None)]
    #[case::null(with("ipam", Value::Null), None)]
    #[case::static_ipam(with("ipam", json!({"type": "static", "addresses": []})), Some("static"))]
    fn ipam_is_optional(#[case] config: Value, #[case] expected: Option<&str>) {
        assert_eq!(parse(config).unwrap().ipam.as_deref(), expected);
    }

    #[test]
    fn mtu_zero_inherits_and_above_master_is_rejected() {
        assert_eq!(parse(with("mtu", json!(0))).unwrap().mtu, None);
        let conf = parse(with("mtu", json!(1600))).unwrap();
        assert_eq!(conf.mtu, Some(1600));
        let error = conf.check_mtu(1500).unwrap_err();
        assert_eq!(error.code(), INVALID_NETWORK_CONFIG);
        assert_eq!(
            error.to_string(),
            "invalid MTU 1600, must be [0, master MTU(1500)]"
        );
        assert!(conf.check_mtu(1600).is_ok());
    }

    #[test]
    fn modes_and_placements() {
        let host = parse(base()).unwrap().placement("net0");
        assert_eq!(
            host,
            Placement {
                master: "eth0".into(),
                master_namespace: Namespace::Runtime,
                link_name: "net0".into(),
                ipam_ifname: "net0".into()
            }
        );

        let container = parse(with("linkInContainer", json!(true)))
            .unwrap()
            .placement("net0");
        assert_eq!(container.master_namespace, Namespace::Container);
        assert_eq!(container.master, "eth0");

        let mut chained = without("master");
        chained["linkInContainer"] = json!(true);
        let chained = parse(chained).unwrap();
        assert_eq!(chained.mode, Mode::Chained);
        assert_eq!(
            chained.placement("eth0"),
            Placement {
                master: "eth0".into(),
                master_namespace: Namespace::Container,
                link_name: "eth0.7".into(),
                ipam_ifname: "eth0.7".into()
            }
        );
    }

    #[test]
    fn a_chained_name_longer_than_15_bytes_is_code_7_naming_it_and_the_limit() {
        let mut config = with("master", json!(""));
        config["linkInContainer"] = json!(true);
        config["vlanId"] = json!(4000);
        let conf = parse(config).unwrap();
        let error = conf.placement("abcdefghijk").validate().unwrap_err();
        assert_eq!(error.code(), INVALID_NETWORK_CONFIG);
        assert_eq!(
            error.to_string(),
            "the chained VLAN name <CNI_IFNAME>.<vlanId> = \"abcdefghijk.4000\" is invalid: \
             interface name \"abcdefghijk.4000\" is 16 bytes, longer than the kernel's limit of 15"
        );
        assert_eq!(conf.placement("abcdefghij").link_name, "abcdefghij.4000");
    }

    #[test]
    fn a_chained_name_the_kernel_would_rewrite_is_code_7_naming_it() {
        let mut config = with("master", json!(""));
        config["linkInContainer"] = json!(true);
        let conf = parse(config).unwrap();
        let error = conf.placement("%d").validate().unwrap_err();
        assert_eq!(error.code(), INVALID_NETWORK_CONFIG);
        assert!(
            error.to_string().starts_with(
                "the chained VLAN name <CNI_IFNAME>.<vlanId> = \"%d.7\" is invalid: interface \
                 name \"%d.7\" contains %"
            ),
            "{error}"
        );
    }

    #[test]
    fn unknown_and_reserved_keys_are_accepted() {
        let mut config = base();
        config["runtimeConfig"] = json!({"ips": ["10.0.0.2/24"]});
        config["args"] = json!({"cni": {"ips": []}});
        config["cni.dev/valid-attachments"] = json!([]);
        config["somethingElse"] = json!({"x": 1});
        assert!(parse(config).is_ok());
    }

    #[test]
    fn prev_result_of_any_version_is_read() {
        let conf = parse(with(
            "prevResult",
            json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"}}),
        ))
        .unwrap();
        let prev = conf.prev_result.unwrap();
        assert_eq!(prev.ips.len(), 1);
        assert_eq!(prev.ips[0].address.to_string(), "10.0.0.2/24");
    }
}
