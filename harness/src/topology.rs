//! The network a scenario asks for before any plugin runs: which namespaces exist and which veth
//! pairs join them. Plain data, so scenario files can embed it; validated as a whole before a
//! sandbox touches the kernel.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use cni_types::names::{IfNameError, is_valid_identifier, validate_new_ifname};
use serde::{Deserialize, Serialize};

/// The namespace that stands in for the host. Always present.
pub const NODE: &str = "node";

/// The pod a topology has when it names none.
pub const DEFAULT_POD: &str = "pod";

/// MTUs the kernel accepts for an Ethernet-like link (ETH_MIN_MTU..=ETH_MAX_MTU).
pub const MTU_RANGE: RangeInclusive<u32> = 68..=65535;

/// The loopback every namespace has from birth.
const LOOPBACK: &str = "lo";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Pod namespaces: what a runtime passes as `CNI_NETNS`.
    #[serde(default = "default_pods")]
    pub pods: Vec<String>,
    /// Node-side namespaces besides [`NODE`] (a second host, a router), for node<->node pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_netns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub veths: Vec<VethPair>,
    /// Linux bridges, made before any plugin runs: a node's existing bridge, which a `bridge`
    /// plugin reuses and whose DEL must leave it (it is shared by every pod on it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<Endpoint>,
}

/// A veth pair; each end can live in any namespace of the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VethPair {
    pub ends: [Endpoint; 2],
}

/// One link as the sandbox leaves it: where, named what, with which MTU, up or down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub netns: String,
    pub name: String,
    /// The kernel's default (1500 for veth and VLAN-on-1500) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default = "up_by_default")]
    pub up: bool,
}

/// The 802.1Q tag of a VLAN link, shared with the plugin's view of links.
pub use netlink_facts::{VlanProtocol, VlanTag};

/// A topology mistake, naming the field (as a path into the topology) and the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error(
        "{field}: netns name {value:?} is not a valid identifier (letters, digits, '_', '.', '-', \
         starting with a letter or digit)"
    )]
    BadNetnsName { field: String, value: String },
    #[error("{field}: netns {value:?} is declared twice (\"node\" always exists)")]
    DuplicateNetns { field: String, value: String },
    #[error("{field}: unknown netns {value:?} (declared: {declared})")]
    UnknownNetns {
        field: String,
        value: String,
        declared: String,
    },
    #[error("{field}: link name {value:?} is invalid: {reason}")]
    BadLinkName {
        field: String,
        value: String,
        reason: IfNameError,
    },
    #[error("{field}: link {value:?} already exists in netns {netns:?} ({first})")]
    DuplicateLink {
        field: String,
        value: String,
        netns: String,
        first: String,
    },
    #[error("{field}: mtu {value} is outside {}..={}", MTU_RANGE.start(), MTU_RANGE.end())]
    BadMtu { field: String, value: u32 },
}

impl TopologyError {
    /// Path of the offending field, e.g. `veths[0].ends[1].mtu`.
    pub fn field(&self) -> &str {
        match self {
            TopologyError::BadNetnsName { field, .. }
            | TopologyError::DuplicateNetns { field, .. }
            | TopologyError::UnknownNetns { field, .. }
            | TopologyError::BadLinkName { field, .. }
            | TopologyError::DuplicateLink { field, .. }
            | TopologyError::BadMtu { field, .. } => field,
        }
    }
}

impl Default for Topology {
    /// One pod named "pod" and no links: what most scenarios start from.
    fn default() -> Self {
        Topology {
            pods: default_pods(),
            extra_netns: Vec::new(),
            veths: Vec::new(),
            bridges: Vec::new(),
        }
    }
}

impl Topology {
    pub fn with_pods<S: Into<String>>(mut self, pods: impl IntoIterator<Item = S>) -> Self {
        self.pods = pods.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_extra_netns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.extra_netns = names.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_veth(mut self, a: Endpoint, b: Endpoint) -> Self {
        self.veths.push(VethPair { ends: [a, b] });
        self
    }

    /// Every namespace the sandbox creates: node, then pods, then the extra ones.
    pub fn netns_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(NODE)
            .chain(self.pods.iter().map(String::as_str))
            .chain(self.extra_netns.iter().map(String::as_str))
    }

    /// Checks everything the kernel would otherwise reject half-way through building the sandbox.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let mut declared = BTreeMap::from([(NODE, "built in".to_string())]);
        let named = self
            .pods
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("pods[{i}]"), n));
        let extra = self.extra_netns.iter().enumerate();
        for (field, name) in named.chain(extra.map(|(i, n)| (format!("extra_netns[{i}]"), n))) {
            if !is_valid_identifier(name) {
                return Err(TopologyError::BadNetnsName {
                    field,
                    value: name.clone(),
                });
            }
            if declared.insert(name, field.clone()).is_some() {
                return Err(TopologyError::DuplicateNetns {
                    field,
                    value: name.clone(),
                });
            }
        }
        let netns_list = declared.keys().copied().collect::<Vec<_>>().join(", ");
        let mut links = BTreeMap::new();
        let veth_ends = self
            .veths
            .iter()
            .enumerate()
            .flat_map(|(pair_index, pair)| {
                pair.ends.iter().enumerate().map(move |(end_index, end)| {
                    (format!("veths[{pair_index}].ends[{end_index}]"), end)
                })
            });
        let bridges = (self.bridges.iter().enumerate()).map(|(i, b)| (format!("bridges[{i}]"), b));
        {
            for (field, end) in veth_ends.chain(bridges) {
                if !declared.contains_key(end.netns.as_str()) {
                    return Err(TopologyError::UnknownNetns {
                        field: format!("{field}.netns"),
                        value: end.netns.clone(),
                        declared: netns_list,
                    });
                }
                end.validate(&field)?;
                let key = (end.netns.as_str(), end.name.as_str());
                if let Some(first) = links.insert(key, field.clone()) {
                    return Err(TopologyError::DuplicateLink {
                        field: format!("{field}.name"),
                        value: end.name.clone(),
                        netns: end.netns.clone(),
                        first: format!("also {first}"),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Endpoint {
    pub fn new(netns: impl Into<String>, name: impl Into<String>) -> Self {
        Endpoint {
            netns: netns.into(),
            name: name.into(),
            mtu: None,
            up: true,
        }
    }

    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn down(mut self) -> Self {
        self.up = false;
        self
    }

    /// The checks that need no other endpoint; `field` is this endpoint's path for the error.
    pub fn validate(&self, field: &str) -> Result<(), TopologyError> {
        validate_new_ifname(&self.name).map_err(|reason| TopologyError::BadLinkName {
            field: format!("{field}.name"),
            value: self.name.clone(),
            reason,
        })?;
        if self.name == LOOPBACK {
            return Err(TopologyError::DuplicateLink {
                field: format!("{field}.name"),
                value: self.name.clone(),
                netns: self.netns.clone(),
                first: "the loopback every netns has".into(),
            });
        }
        match self.mtu {
            Some(mtu) if !MTU_RANGE.contains(&mtu) => Err(TopologyError::BadMtu {
                field: format!("{field}.mtu"),
                value: mtu,
            }),
            _ => Ok(()),
        }
    }
}

fn default_pods() -> Vec<String> {
    vec![DEFAULT_POD.to_string()]
}

fn up_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_form_with_defaults() {
        let topology: Topology = serde_yaml_ng::from_str(
            "veths:\n  - ends:\n      - {netns: node, name: veth0}\n      - {netns: pod, name: eth0, mtu: 1400, up: false}\n",
        )
        .unwrap();
        assert_eq!(
            topology,
            Topology::default().with_veth(
                Endpoint::new("node", "veth0"),
                Endpoint::new("pod", "eth0").mtu(1400).down()
            )
        );
        assert_eq!(topology.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_yaml_ng::from_str::<Topology>("pods: [a]\nlinks: []\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `links`"), "{err}");
    }

    #[test]
    fn loopback_counts_as_taken() {
        let topology =
            Topology::default().with_veth(Endpoint::new("node", "v0"), Endpoint::new("pod", "lo"));
        let err = topology.validate().unwrap_err();
        assert_eq!(err.field(), "veths[0].ends[1].name");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
