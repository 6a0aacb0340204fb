//! One fuzz case as data: which command, what each `CNI_*` variable holds, and how the network
//! configuration on stdin departs from a valid one. Plain values (no paths) so proptest can
//! generate and shrink them; [`FuzzCase::render`] turns one into an environment and stdin bytes
//! for a given set of [`Places`].

use std::collections::BTreeMap;
use std::path::Path;

use cni_types::CniVersion;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::runtime::CniCommand;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FuzzCase {
    pub command: CommandValue,
    pub env: EnvCase,
    pub config: ConfigCase,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CommandValue {
    Known(CniCommand),
    /// No `CNI_COMMAND` at all.
    Missing,
    Odd(String),
}

/// A `CNI_*` variable: what a runtime sends, nothing, empty, or something odd.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Var {
    Standard,
    Missing,
    Empty,
    Odd(String),
}

/// `CNI_NETNS`: the pod, or something that is not a usable network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NetnsValue {
    Pod,
    /// The namespace the plugin itself runs in (as `/proc/self/ns/net` names it, too).
    Node,
    ProcSelf,
    Missing,
    Empty,
    /// A path where nothing exists.
    Nowhere,
    /// A regular file.
    File,
    Folder,
    /// `netns/pod` without the leading folder.
    Relative,
    DevNull,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvCase {
    pub container_id: Var,
    pub netns: NetnsValue,
    pub ifname: Var,
    pub args: Var,
    pub cni_path: Var,
}

/// Which valid configuration a case starts from: one of a VLAN plugin's modes, or, for any
/// other type, its pack's minimal configuration ([`ConfigCase::plugin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// `master` in the runtime's (node) namespace.
    HostMaster,
    /// `master` inside the pod (`linkInContainer`).
    ContainerMaster,
    /// No master: the pod's `CNI_IFNAME` link is the master (`linkInContainer`).
    Chained,
    /// The pack's `minimal.plugin` of a type other than `vlan`.
    Minimal,
}

impl std::fmt::Display for Mode {
    /// As the README and the contract name the modes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::HostMaster => "host-master",
            Mode::ContainerMaster => "container-master",
            Mode::Chained => "chained",
            Mode::Minimal => "minimal",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigCase {
    pub version: CniVersion,
    pub mode: Mode,
    pub vlan_id: u16,
    pub ipam: bool,
    /// Applied in order to the valid configuration.
    pub mutations: Vec<Mutation>,
    pub encoding: Encoding,
    /// [`Mode::Minimal`]'s plugin entry (its pack's `minimal.plugin`, `type` included);
    /// `vlan_id` means nothing then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mutation {
    pub field: Field,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Field {
    /// A top-level key (known or not).
    Top(String),
    /// A key of the `ipam` object (made an object first if it is not one).
    Ipam(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    Remove,
    Set(Value),
    /// Arrays nested this deep (written as text: far deeper than a `Value` should be).
    Nest(usize),
    /// A string holding bytes that are not UTF-8.
    InvalidUtf8(Vec<u8>),
}

/// How the (mutated) configuration becomes stdin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Encoding {
    Json,
    /// A byte inserted at a position (a fraction of the length, in thousandths).
    InsertByte {
        at_permille: u16,
        byte: u8,
    },
    /// Cut after a fraction of the length, in thousandths.
    Truncated {
        at_permille: u16,
    },
    Empty,
    /// Not an object at all.
    Replaced(Value),
}

/// Where the paths a case may name are, in one setting (a sandbox, or a reproducer script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub pod_netns: String,
    pub node_netns: String,
    pub nowhere: String,
    pub file: String,
    pub folder: String,
    /// `netns/pod` relative to where the plugin starts.
    pub relative: String,
    pub ipam_log: String,
    pub cni_path: String,
    pub path: String,
}

impl Places {
    /// The layout of a fuzz sandbox whose folder is `dir` (netns files in `dir/netns`, as
    /// [`crate::sandbox::Sandbox`] keeps them), with `cni_path` as `CNI_PATH`.
    pub fn under(dir: &Path, cni_path: String) -> Places {
        let at = |relative: &str| dir.join(relative).display().to_string();
        Places {
            pod_netns: at("netns/pod"),
            node_netns: at("netns/node"),
            nowhere: at("netns/nowhere"),
            file: at("file"),
            folder: at("folder"),
            relative: "netns/pod".into(),
            ipam_log: at("ipam.log"),
            cni_path,
            path: std::env::var("PATH").unwrap_or_else(|_| FALLBACK_PATH.into()),
        }
    }
}

/// `PATH` for plugins when the harness has none.
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The node's master link, with a veth peer elsewhere (host-master mode).
pub const NODE_MASTER: &str = "master0";
/// The pod's link made by "an earlier plugin": container-master mode's master and chained
/// mode's `CNI_IFNAME`.
pub const POD_LINK: &str = "eth0";
/// The interface host- and container-master mode create, and any other type's plugin.
pub const NEW_IFNAME: &str = "net1";
pub const CONTAINER_ID: &str = "fuzz-container";
const NETWORK_NAME: &str = "fuzznet";

/// Replaced in the serialized text by raw bytes (see [`Action::Nest`],
/// [`Action::InvalidUtf8`]); NUL cannot otherwise come from a generated key or value.
const MARK: char = '\u{0}';

impl FuzzCase {
    /// The command the executor is told to expect (an odd or missing one counts as ADD: what
    /// success would have to look like).
    pub fn expected_command(&self) -> CniCommand {
        match &self.command {
            CommandValue::Known(command) => *command,
            _ => CniCommand::Add,
        }
    }

    /// What the case's first execution is called in findings: its `CNI_COMMAND`.
    pub fn step_name(&self) -> String {
        match &self.command {
            CommandValue::Known(command) => command.as_str().to_string(),
            CommandValue::Missing => "no CNI_COMMAND".to_string(),
            CommandValue::Odd(odd) => format!("CNI_COMMAND={odd:?}"),
        }
    }

    /// The environment (complete: nothing is inherited) for `command`, or for the case's own
    /// `CNI_COMMAND` value when `command` is `None`.
    pub fn env(&self, places: &Places, command: Option<CniCommand>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let command = match (command, &self.command) {
            (Some(c), _) | (None, &CommandValue::Known(c)) => Some(c.as_str().to_string()),
            (None, CommandValue::Missing) => None,
            (None, CommandValue::Odd(odd)) => Some(odd.clone()),
        };
        if let Some(command) = command {
            env.insert("CNI_COMMAND".into(), command);
        }
        let ifname = match self.config.mode {
            Mode::Chained => POD_LINK,
            Mode::HostMaster | Mode::ContainerMaster | Mode::Minimal => NEW_IFNAME,
        };
        let env_vars = [
            ("CNI_CONTAINERID", &self.env.container_id, CONTAINER_ID),
            ("CNI_IFNAME", &self.env.ifname, ifname),
            ("CNI_ARGS", &self.env.args, ""),
            ("CNI_PATH", &self.env.cni_path, places.cni_path.as_str()),
        ];
        for (name, var, standard) in env_vars {
            let value = match var {
                Var::Standard => Some(standard.to_string()),
                Var::Missing => None,
                Var::Empty => Some(String::new()),
                Var::Odd(odd) => Some(odd.clone()),
            };
            if let Some(value) = value {
                env.insert(name.into(), value);
            }
        }
        let netns = match self.env.netns {
            NetnsValue::Pod => Some(places.pod_netns.clone()),
            NetnsValue::Node => Some(places.node_netns.clone()),
            NetnsValue::ProcSelf => Some("/proc/self/ns/net".into()),
            NetnsValue::Missing => None,
            NetnsValue::Empty => Some(String::new()),
            NetnsValue::Nowhere => Some(places.nowhere.clone()),
            NetnsValue::File => Some(places.file.clone()),
            NetnsValue::Folder => Some(places.folder.clone()),
            NetnsValue::Relative => Some(places.relative.clone()),
            NetnsValue::DevNull => Some("/dev/null".into()),
        };
        if let Some(netns) = netns {
            env.insert("CNI_NETNS".into(), netns);
        }
        env.insert("PATH".into(), places.path.clone());
        env
    }

    /// The stdin bytes; `prev_result` is added as `prevResult` (what a runtime sends to CHECK
    /// and DEL after an ADD) before the mutations are applied.
    pub fn stdin(&self, places: &Places, prev_result: Option<&Value>) -> Vec<u8> {
        let mut config = self.config.valid(places);
        if let Some(prev) = prev_result {
            config.insert("prevResult".into(), prev.clone());
        }
        let mut config = Value::Object(config);
        let mut splices: Vec<(String, Vec<u8>)> = Vec::new();
        for mutation in &self.config.mutations {
            mutation.apply(&mut config, &mut splices);
        }
        let text = match &self.config.encoding {
            Encoding::Replaced(value) => value.to_string(),
            Encoding::Empty => String::new(),
            Encoding::Json | Encoding::InsertByte { .. } | Encoding::Truncated { .. } => {
                config.to_string()
            }
        };
        let mut bytes = splice(text, &splices);
        match self.config.encoding {
            Encoding::InsertByte { at_permille, byte } => {
                let at = position(bytes.len(), at_permille);
                bytes.insert(at, byte);
            }
            Encoding::Truncated { at_permille } => {
                bytes.truncate(position(bytes.len(), at_permille));
            }
            _ => {}
        }
        bytes
    }

    /// The version the configuration asks for, when stdin still says so.
    pub fn version(&self) -> CniVersion {
        self.config.version
    }
}

impl ConfigCase {
    /// The valid configuration of the case's mode, before any mutation.
    fn valid(&self, places: &Places) -> Map<String, Value> {
        let mut config = json!({
            "cniVersion": self.version.as_str(),
            "name": NETWORK_NAME,
        });
        if self.mode == Mode::Minimal {
            for (key, value) in self.plugin.iter().flatten() {
                config[key] = value.clone();
            }
        } else {
            config["type"] = "vlan".into();
            config["vlanId"] = self.vlan_id.into();
        }
        match self.mode {
            Mode::Minimal => {}
            Mode::HostMaster => config["master"] = NODE_MASTER.into(),
            Mode::ContainerMaster => {
                config["master"] = POD_LINK.into();
                config["linkInContainer"] = true.into();
            }
            Mode::Chained => config["linkInContainer"] = true.into(),
        }
        if self.ipam {
            config["ipam"] = json!({
                "type": "conform-ipam",
                "addresses": [{"address": "10.55.0.2/24", "gateway": "10.55.0.1"}],
                "routes": [{"dst": "10.56.0.0/16", "gw": "10.55.0.1"}],
                "callLog": places.ipam_log,
            });
        }
        match config {
            Value::Object(map) => map,
            _ => unreachable!("built as an object"),
        }
    }
}

impl Mutation {
    fn apply(&self, config: &mut Value, splices: &mut Vec<(String, Vec<u8>)>) {
        let Value::Object(top) = config else { return };
        let (object, key) = match &self.field {
            Field::Top(key) => (top, key),
            Field::Ipam(key) => {
                let ipam = top
                    .entry("ipam")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !ipam.is_object() {
                    *ipam = Value::Object(Map::new());
                }
                let Value::Object(ipam) = ipam else {
                    unreachable!("made an object")
                };
                (ipam, key)
            }
        };
        let value = match &self.action {
            Action::Remove => {
                object.remove(key);
                return;
            }
            Action::Set(value) => value.clone(),
            Action::Nest(depth) => {
                let mark = format!("{MARK}{}{MARK}", splices.len());
                splices.push((mark.clone(), nested_arrays(*depth)));
                Value::String(mark)
            }
            Action::InvalidUtf8(bytes) => {
                let mark = format!("{MARK}{}{MARK}", splices.len());
                let mut quoted = vec![b'"'];
                quoted.extend_from_slice(bytes);
                quoted.push(b'"');
                splices.push((mark.clone(), quoted));
                Value::String(mark)
            }
        };
        object.insert(key.clone(), value);
    }
}

/// Replaces each mark's JSON string (`"\u0000<n>\u0000"`) with its bytes.
fn splice(text: String, splices: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    for (mark, replacement) in splices {
        let quoted = serde_json::to_string(mark).expect("a string serializes");
        if let Some(at) = find(&bytes, quoted.as_bytes()) {
            bytes.splice(at..at + quoted.len(), replacement.iter().copied());
        }
    }
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut bytes = vec![b'['; depth];
    bytes.extend(std::iter::repeat_n(b']', depth));
    bytes
}

fn position(len: usize, permille: u16) -> usize {
    len * usize::from(permille.min(1000)) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places {
            pod_netns: "/s/netns/pod".into(),
            node_netns: "/s/netns/node".into(),
            nowhere: "/s/netns/none".into(),
            file: "/s/file".into(),
            folder: "/s/folder".into(),
            relative: "s/netns/pod".into(),
            ipam_log: "/s/ipam.log".into(),
            cni_path: "/s/bin".into(),
            path: "/usr/bin".into(),
        }
    }

    fn case(mutations: Vec<Mutation>, encoding: Encoding) -> FuzzCase {
        FuzzCase {
            command: CommandValue::Known(CniCommand::Add),
            env: EnvCase {
                container_id: Var::Standard,
                netns: NetnsValue::Pod,
                ifname: Var::Standard,
                args: Var::Missing,
                cni_path: Var::Odd("x".into()),
            },
            config: ConfigCase {
                version: CniVersion::V1_0_0,
                mode: Mode::HostMaster,
                vlan_id: 7,
                ipam: false,
                mutations,
                encoding,
                plugin: None,
            },
        }
    }

    #[test]
    fn renders_env_and_valid_config() {
        let c = case(vec![], Encoding::Json);
        let env = c.env(&places(), None);
        assert_eq!(env["CNI_COMMAND"], "ADD");
        assert_eq!(env["CNI_NETNS"], "/s/netns/pod");
        assert_eq!(env["CNI_IFNAME"], NEW_IFNAME);
        assert_eq!(env["CNI_PATH"], "x");
        assert!(!env.contains_key("CNI_ARGS"));
        assert_eq!(
            c.env(&places(), Some(CniCommand::Del))["CNI_COMMAND"],
            "DEL"
        );
        let stdin: Value = serde_json::from_slice(&c.stdin(&places(), None)).unwrap();
        assert_eq!(
            stdin,
            json!({"cniVersion": "1.0.0", "name": "fuzznet", "type": "vlan", "vlanId": 7, "master": "master0"})
        );
    }

    #[test]
    fn minimal_mode_starts_from_the_pack_configuration() {
        let mut c = case(vec![], Encoding::Json);
        c.config.mode = Mode::Minimal;
        c.config.ipam = true;
        let plugin = json!({"type": "macvlan", "master": "master0", "mode": "bridge"});
        c.config.plugin = plugin.as_object().cloned();
        assert_eq!(c.env(&places(), None)["CNI_IFNAME"], NEW_IFNAME);
        let stdin: Value = serde_json::from_slice(&c.stdin(&places(), None)).unwrap();
        assert_eq!(stdin["type"], "macvlan");
        assert_eq!(stdin["mode"], "bridge");
        assert_eq!(stdin["master"], "master0");
        assert_eq!(stdin["name"], "fuzznet");
        assert_eq!(stdin["ipam"]["type"], "conform-ipam");
        assert!(stdin.get("vlanId").is_none(), "{stdin}");
    }

    #[test]
    fn mutations_splice_raw_bytes() {
        let c = case(
            vec![
                Mutation {
                    field: Field::Top("master".into()),
                    action: Action::InvalidUtf8(vec![0xff, b'a']),
                },
                Mutation {
                    field: Field::Ipam("type".into()),
                    action: Action::Nest(3),
                },
                Mutation {
                    field: Field::Top("vlanId".into()),
                    action: Action::Remove,
                },
            ],
            Encoding::Json,
        );
        let stdin = c.stdin(&places(), None);
        assert!(find(&stdin, b"\"master\":\"\xffa\"").is_some());
        assert!(find(&stdin, b"\"ipam\":{\"type\":[[[]]]}").is_some());
        assert!(find(&stdin, b"vlanId").is_none());
    }

    #[test]
    fn encodings() {
        let full = case(vec![], Encoding::Json).stdin(&places(), None);
        let cut = case(vec![], Encoding::Truncated { at_permille: 500 }).stdin(&places(), None);
        assert_eq!(cut, full[..full.len() / 2]);
        let inserted = case(
            vec![],
            Encoding::InsertByte {
                at_permille: 1000,
                byte: 0x80,
            },
        )
        .stdin(&places(), None);
        assert_eq!(inserted.last(), Some(&0x80));
        assert!(
            case(vec![], Encoding::Empty)
                .stdin(&places(), None)
                .is_empty()
        );
        let prev = json!({"cniVersion": "1.0.0"});
        let with_prev = case(vec![], Encoding::Json).stdin(&places(), Some(&prev));
        let parsed: Value = serde_json::from_slice(&with_prev).unwrap();
        assert_eq!(parsed["prevResult"], prev);
    }
}
