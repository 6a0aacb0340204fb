//! Packs: one suite, many plugin types. The scenarios folder holds a *core pack* (`core/`: what
//! every interface plugin owes the SPEC and the suite's invariants) and a *type pack* per plugin
//! type (`macvlan/`, `vlan/`, ...: what only that type does). Each pack folder has a `pack.yaml`.
//! A type pack names the minimal configuration of one plugin of its type and the node it needs;
//! a scenario's plugin entry of type [`UNDER_TEST`] becomes that configuration, with the entry's
//! own keys merged over it, so the core is written once and runs for every type.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{NetworkSource, Scenario};
use crate::kernel::LinkKind;
use crate::topology::Topology;

/// The folder of the pack that runs for every type.
pub const CORE: &str = "core";

/// The `type` a scenario gives the plugin under test when its pack is run for any type.
pub const UNDER_TEST: &str = "@under-test";

/// The file that makes a folder of the scenarios folder a pack.
pub const PACK_FILE: &str = "pack.yaml";

/// A pack's `pack.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackFile {
    /// The plugin type (its binary's name); absent for the core pack.
    #[serde(default)]
    pub r#type: Option<String>,
    pub description: String,
    /// One plugin of this type, as the core pack's scenarios use it.
    #[serde(default)]
    pub minimal: Option<Minimal>,
    /// Link kinds the kernel must make for this type (its kernel modules follow from them).
    #[serde(default)]
    pub kernel: Vec<LinkKind>,
    /// Where this type's reference contract is written, when this project has one (`vlan`).
    #[serde(default)]
    pub reference_contract: Option<String>,
}

/// The smallest working configuration of one plugin of a type, and the node it needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Minimal {
    /// A conflist's plugin entry; its `type` is the pack's.
    pub plugin: serde_json::Map<String, Value>,
    #[serde(default)]
    pub topology: Topology,
}

/// A type pack, as loaded and checked.
#[derive(Debug, Clone, Serialize)]
pub struct TypePack {
    pub plugin_type: String,
    pub description: String,
    pub minimal: Minimal,
    pub kernel: Vec<LinkKind>,
    pub reference_contract: Option<String>,
}

impl TypePack {
    /// A checked type pack from its `pack.yaml` in folder `name`.
    pub fn from_file(name: &str, file: PackFile) -> Result<TypePack, String> {
        let plugin_type = file.r#type.ok_or_else(|| {
            format!(
                "`type` is missing: a type pack names its plugin type ({name:?}, the folder's name)"
            )
        })?;
        if plugin_type != name {
            return Err(format!(
                "`type: {plugin_type}` differs from the folder's name {name:?}: a type pack's folder is its type"
            ));
        }
        let minimal = file.minimal.ok_or_else(|| {
            "`minimal` is missing: the core pack runs every type with its minimal configuration"
                .to_string()
        })?;
        if minimal.plugin.get("type").and_then(Value::as_str) != Some(plugin_type.as_str()) {
            return Err(format!(
                "minimal.plugin.type must be {plugin_type:?}, the pack's type"
            ));
        }
        minimal
            .topology
            .validate()
            .map_err(|e| format!("minimal.topology.{}: {e}", e.field()))?;
        Ok(TypePack {
            plugin_type,
            description: file.description,
            minimal,
            kernel: file.kernel,
            reference_contract: file.reference_contract,
        })
    }

    /// `scenario` made concrete for this type: every plugin entry of type [`UNDER_TEST`]
    /// becomes the minimal configuration with the entry's keys merged over it (`null` removes a
    /// key), and the pack's node joins the scenario's own topology.
    pub fn instantiate(
        &self,
        mut scenario: Scenario,
        fixtures_dir: &Path,
    ) -> Result<Scenario, String> {
        let mut network = match &scenario.network {
            NetworkSource::Inline(v) => v.clone(),
            NetworkSource::File(name) => {
                let path = fixtures_dir.join(name);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        let mut replaced = 0;
        if let Some(plugins) = network.get_mut("plugins").and_then(Value::as_array_mut) {
            for entry in plugins.iter_mut() {
                if entry.get("type").and_then(Value::as_str) == Some(UNDER_TEST) {
                    *entry = self.configured(entry);
                    replaced += 1;
                }
            }
        }
        if replaced > 0 {
            scenario.network = NetworkSource::Inline(network);
            scenario.topology = merged(&self.minimal.topology, &scenario.topology);
        }
        Ok(scenario)
    }

    fn configured(&self, entry: &Value) -> Value {
        let mut config = Value::Object(self.minimal.plugin.clone());
        if let Value::Object(keys) = entry {
            let patch: serde_json::Map<String, Value> = keys
                .iter()
                .filter(|(k, _)| *k != "type")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json_patch::merge(&mut config, &Value::Object(patch));
        }
        config
    }
}

/// The pack's node first, then what the scenario adds; pods and namespaces once each.
fn merged(pack: &Topology, scenario: &Topology) -> Topology {
    let mut topology = pack.clone();
    for pod in &scenario.pods {
        if !topology.pods.contains(pod) {
            topology.pods.push(pod.clone());
        }
    }
    for netns in &scenario.extra_netns {
        if !topology.extra_netns.contains(netns) {
            topology.extra_netns.push(netns.clone());
        }
    }
    topology.veths.extend(scenario.veths.iter().cloned());
    topology.bridges.extend(scenario.bridges.iter().cloned());
    topology
}

/// Every pack of a scenarios folder: the core (when present) and the type packs by type.
#[derive(Debug, Clone, Default)]
pub struct Packs {
    pub core: Option<String>,
    pub types: BTreeMap<String, TypePack>,
}

impl Packs {
    /// The known types, for errors and `list`.
    pub fn type_names(&self) -> Vec<&str> {
        self.types.keys().map(String::as_str).collect()
    }
}
