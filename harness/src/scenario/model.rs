//! The scenario file format (YAML, one behaviour per file). Documented for users in
//! docs/scenario-format.md; every type here rejects unknown keys so a typo is an error with a
//! line number, not a silently ignored expectation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cni_types::CniVersion;
use serde::{Deserialize, Serialize};

use crate::topology::Topology;

/// One behaviour, run in a fresh sandbox for every applicable CNI version.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// The file's stem: `scenarios/chained-seed.yaml` is `chained-seed`.
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub path: PathBuf,
    /// The pack the file is in (`core`, `vlan`, ...; empty for a file at the folder's top).
    #[serde(skip)]
    pub pack: String,
    pub description: String,
    /// Spec and contract clauses this scenario proves; the first is the default for expectations
    /// that name none.
    pub clauses: Vec<Clause>,
    #[serde(default)]
    pub features: Vec<Feature>,
    #[serde(default)]
    pub versions: VersionRange,
    #[serde(default)]
    pub topology: Topology,
    /// A conflist: a path relative to the fixtures folder, or an inline object.
    pub network: NetworkSource,
    #[serde(default = "default_ifname")]
    pub ifname: String,
    #[serde(default = "default_container_id")]
    pub container_id: String,
    /// The pod netns passed as `CNI_NETNS`.
    #[serde(default = "default_pod")]
    pub pod: String,
    /// Capability arguments the runtime turns into `runtimeConfig`.
    #[serde(default)]
    pub capability_args: BTreeMap<String, serde_json::Value>,
    /// `CNI_ARGS` as the runtime passes it.
    #[serde(default)]
    pub cni_args: Option<String>,
    /// Links (`netns/name`) the plugin keeps after DEL by design, with their addresses: e.g. the
    /// node's bridge a `bridge` plugin made and the gateway address it put on it, shared by every
    /// pod on that bridge. Never leftovers; the description says why.
    #[serde(default)]
    pub kept_by_design: Vec<String>,
    /// Each step is a one-key map (`- add: {...}`), not a YAML tag.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub steps: Vec<Step>,
}

fn default_ifname() -> String {
    "eth0".into()
}
fn default_container_id() -> String {
    "conform-ctr".into()
}
fn default_pod() -> String {
    "pod".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// e.g. `spec.del.idempotent`, `contract.chained.derived-name`; the prefix is the clause's
    /// source (`spec.`, `suite.`, `contract.` = reference, see [`super::verdict::Source`]).
    pub id: String,
    pub level: Level,
    /// For `spec.` clauses: the CNI SPEC section the rule is in, e.g. `Section 2: Execution
    /// Protocol (DEL)` (required there, so every spec failure points at its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// What the clause says, quoted or paraphrased, for reports.
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Level {
    /// A failure makes `cni-conform run` exit non-zero.
    #[serde(rename = "MUST")]
    Must,
    /// A failure is a warning.
    #[serde(rename = "SHOULD")]
    Should,
}

/// Optional capabilities a plugin may lack; `--skip-feature` leaves scenarios needing one out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    Chaining,
    LinkInContainer,
    Check,
    Gc,
    Status,
    VlanProtocol,
    IpamOptional,
    /// Needs upstream's plugins from /usr/lib/cni (interop chains).
    UpstreamPlugins,
    Concurrency,
}

impl Feature {
    pub const ALL: [Feature; 9] = [
        Feature::Chaining,
        Feature::LinkInContainer,
        Feature::Check,
        Feature::Gc,
        Feature::Status,
        Feature::VlanProtocol,
        Feature::IpamOptional,
        Feature::UpstreamPlugins,
        Feature::Concurrency,
    ];

    /// Optional capabilities the CNI spec does not require of a VLAN plugin: a plugin may
    /// decline them (a clean CNI error, nothing left behind) and be `unsupported`, not failed,
    /// under the spec profile. The others are spec behaviour (CHECK) or about the environment.
    pub fn is_capability(self) -> bool {
        matches!(
            self,
            Feature::Chaining
                | Feature::LinkInContainer
                | Feature::Gc
                | Feature::Status
                | Feature::VlanProtocol
                | Feature::IpamOptional
        )
    }

    pub fn by_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Feature::Chaining => "chaining",
            Feature::LinkInContainer => "link-in-container",
            Feature::Check => "check",
            Feature::Gc => "gc",
            Feature::Status => "status",
            Feature::VlanProtocol => "vlan-protocol",
            Feature::IpamOptional => "ipam-optional",
            Feature::UpstreamPlugins => "upstream-plugins",
            Feature::Concurrency => "concurrency",
        }
    }
}

/// Which CNI versions a scenario applies to (inclusive bounds).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    #[serde(default)]
    pub min: Option<CniVersion>,
    #[serde(default)]
    pub max: Option<CniVersion>,
    /// Run at only these versions (e.g. the latest for a version-independent stress scenario).
    #[serde(default)]
    pub only: Vec<CniVersion>,
}

impl VersionRange {
    pub fn contains(&self, v: CniVersion) -> bool {
        self.min.is_none_or(|m| v >= m)
            && self.max.is_none_or(|m| v <= m)
            && (self.only.is_empty() || self.only.contains(&v))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum NetworkSource {
    File(String),
    Inline(serde_json::Value),
}

/// A step: a CNI operation through the chain runtime, a raw plugin execution, or a change to
/// the sandbox made behind the plugin's back (tampering).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// libcni `AddNetworkList`.
    Add(Invoke),
    /// libcni `CheckNetworkList` (skipped below 0.4.0, as libcni refuses it).
    Check(Invoke),
    /// libcni `DelNetworkList` (reverse order, cached result as prevResult from 0.4.0).
    Del(Invoke),
    /// libcni `GCNetworkList` (1.1.0+).
    Gc(GcStep),
    /// libcni `GetStatusNetworkList` (1.1.0+).
    Status(Invoke),
    /// One plugin of the conflist run directly, with whatever stdin and env the step says.
    Exec(Exec),
    /// N plugin processes at once.
    Concurrent(Concurrent),
    DeleteLink(LinkRef),
    SetMtu(SetMtu),
    SetDown(LinkRef),
    RemoveAddress(AddressRef),
    /// Creates a VLAN (e.g. re-create the plugin's VLAN with another id, or pre-create a link
    /// with the target name).
    AddVlan(AddVlan),
    /// Unmounts the netns: it dies with its links.
    DeleteNetns(NetnsRef),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Invoke {
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GcStep {
    /// Attachments the runtime still considers valid; default: the scenario's own one.
    #[serde(default)]
    pub valid_attachments: Option<Vec<Attachment>>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Exec {
    /// `CNI_COMMAND`.
    pub command: String,
    /// Index of the plugin in the conflist (default: the first plugin of type `vlan`).
    #[serde(default)]
    pub plugin: Option<usize>,
    /// Replaces the generated stdin entirely (bad-input scenarios), verbatim.
    #[serde(default)]
    pub raw_stdin: Option<String>,
    /// JSON merged into the plugin's generated config (`null` removes a key).
    #[serde(default)]
    pub config_patch: Option<serde_json::Value>,
    /// `prevResult` to send: `cached` (the final ADD result), `none`, `empty` (`{}`) or an
    /// object.
    #[serde(default)]
    pub prev_result: PrevResult,
    /// Environment overrides; a `null` value removes the variable.
    #[serde(default)]
    pub env: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrevResult {
    #[default]
    Cached,
    None,
    Empty,
    #[serde(untagged)]
    Value(serde_json::Value),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Concurrent {
    /// `ADD` or `DEL`.
    pub command: String,
    pub processes: usize,
    /// Process i gets `CNI_IFNAME = ifname-prefix + i` and, when this is given (a VLAN
    /// plugin), `vlanId = first-vlan-id + i` (or the same id for all when `same-id`).
    #[serde(default)]
    pub first_vlan_id: Option<u16>,
    #[serde(default)]
    pub same_id: bool,
    pub ifname_prefix: String,
    #[serde(default)]
    pub plugin: Option<usize>,
    /// How many processes must succeed (default: all).
    #[serde(default)]
    pub expect_successes: Option<usize>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRef {
    pub netns: String,
    pub link: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetMtu {
    pub netns: String,
    pub link: String,
    pub mtu: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRef {
    pub netns: String,
    pub link: String,
    pub address: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddVlan {
    pub netns: String,
    pub link: String,
    pub parent: String,
    pub id: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsRef {
    pub netns: String,
}

/// What must hold after a step. Everything is optional; a CNI operation step with no `exit`
/// and no `code` must succeed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// The clause a failure here breaks (default: the scenario's first clause).
    #[serde(default)]
    pub clause: Option<String>,
    /// The clause each kind of expectation breaks when it is another rule than `clause`: e.g.
    /// the SPEC requires that ADD fails (`outcome`), the reference contract that it fails before
    /// calling the IPAM (`ipam-calls`).
    #[serde(default)]
    pub clauses: ExpectationClauses,
    /// `success` (default when `code` is absent) or `failure`.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// The CNI error code (implies `failure`).
    #[serde(default)]
    pub code: Option<u32>,
    /// Any of these codes (for codes the contract leaves to the plugin, e.g. any 100+).
    #[serde(default)]
    pub code_at_least: Option<u32>,
    /// Substrings the error message must contain (message wording is judged as SHOULD).
    #[serde(default)]
    pub msg_contains: Vec<String>,
    /// Name of the stored expected state (fixtures/states/<name>.snap) after the step.
    #[serde(default)]
    pub state: Option<String>,
    /// Facts about the returned result.
    #[serde(default)]
    pub result: Option<ResultExpect>,
    /// Delegate (conform-ipam) calls made during this step, in order: e.g. `[ADD, DEL]`;
    /// `ADD@eth0.3` also requires the `CNI_IFNAME` the delegate got.
    #[serde(default)]
    pub ipam_calls: Option<Vec<String>>,
    /// Every delegate call made during this step got exactly the stdin (as JSON) of one of the
    /// step's executions of the plugin under test: `prevResult`, `runtimeConfig`, `args`, GC's
    /// `cni.dev/valid-attachments` and unknown keys all handed on unchanged.
    #[serde(default)]
    pub ipam_stdin_unchanged: bool,
    /// Links that must exist (`netns/name`) or be absent after the step.
    #[serde(default)]
    pub links_present: Vec<String>,
    #[serde(default)]
    pub links_absent: Vec<String>,
    /// Facts about links after the step, by `netns/name` (the name may be a glob, e.g.
    /// `node/veth*` for a link the plugin names itself: then exactly one link must match).
    /// Judged as the `links` expectation.
    #[serde(default)]
    pub link_facts: BTreeMap<String, LinkFactsExpect>,
}

/// What must hold for one link; absent facts are not judged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkFactsExpect {
    /// The rtnetlink kind: `macvlan`, `ipvlan`, `veth`, `bridge`, `tun`, `dummy`, `vlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A macvlan's or ipvlan's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// The lower link (`netns/name`): a macvlan's, ipvlan's or VLAN's master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// A veth's other end (`netns/name`, the name may be a glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The bridge the link is a port of (`netns/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Addresses (CIDR) that must be on the link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// The kinds of expectation a step can have, each of which may name its own clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Success or failure, and the error code.
    Outcome,
    State,
    Result,
    IpamCalls,
    IpamStdinUnchanged,
    Links,
}

/// Per-expectation clauses (`clauses: {outcome: spec.add.ifname-unusable}`); an absent one is
/// the step's `clause`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectationClauses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_calls: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_stdin_unchanged: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
}

impl ExpectationClauses {
    pub fn of(&self, expectation: Expectation) -> Option<&str> {
        match expectation {
            Expectation::Outcome => self.outcome.as_deref(),
            Expectation::State => self.state.as_deref(),
            Expectation::Result => self.result.as_deref(),
            Expectation::IpamCalls => self.ipam_calls.as_deref(),
            Expectation::IpamStdinUnchanged => self.ipam_stdin_unchanged.as_deref(),
            Expectation::Links => self.links.as_deref(),
        }
    }

    /// Every clause named, for checks that each is declared.
    pub fn named(&self) -> impl Iterator<Item = &str> {
        [
            &self.outcome,
            &self.state,
            &self.result,
            &self.ipam_calls,
            &self.ipam_stdin_unchanged,
            &self.links,
        ]
        .into_iter()
        .filter_map(|c| c.as_deref())
    }
}

impl Expect {
    /// Whether the step must fail (an `outcome: failure` or an error code is expected).
    pub fn wants_failure(&self) -> bool {
        self.outcome == Some(Outcome::Failure)
            || self.code.is_some()
            || self.code_at_least.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    Failure,
}

/// Version-independent facts about an ADD result (checked in whatever shape the version has).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResultExpect {
    /// Interface names in order (versions with interfaces, 0.3.0+).
    #[serde(default)]
    pub interfaces: Option<Vec<String>>,
    /// Addresses (CIDR) that must be in `ips`, each with the interface name it points at when
    /// given as `address@ifname`.
    #[serde(default)]
    pub ips: Option<Vec<String>>,
    /// Route destinations (CIDR, or `dst via gw`).
    #[serde(default)]
    pub routes: Option<Vec<String>>,
    #[serde(default)]
    pub dns_nameservers: Option<Vec<String>>,
    /// Interface `mtu` values by name (checked on 1.1.0 only).
    #[serde(default)]
    pub interface_mtu: BTreeMap<String, u32>,
    /// Every interface whose name is listed here has `sandbox` = CNI_NETNS.
    #[serde(default)]
    pub sandboxed: Vec<String>,
}
