//! Network configuration lists as libcni loads them (libcni/conf.go, research/cni-spec.md §5.2):
//! the version is the highest of `cniVersion` and `cniVersions` this runtime supports, `name` and a
//! non-empty `plugins` list with a `type` each are required, and the `disable*` switches accept a
//! boolean or the strings "true"/"false". Unknown keys are kept: plugins receive them unaltered.

use std::collections::BTreeMap;

use cni_types::CniVersion;
use cni_types::names::is_valid_identifier;
use serde_json::{Map, Value};

/// A loaded network configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    pub name: String,
    /// The selected version: what every plugin receives as `cniVersion`.
    pub cni_version: CniVersion,
    pub disable_check: bool,
    pub disable_gc: bool,
    pub plugins: Vec<PluginConfig>,
    /// The top-level object as loaded (with the selected `cniVersion`): what the cache records.
    raw: Map<String, Value>,
}

/// One plugin object of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    pub plugin_type: String,
    /// The plugin object's own `name`, which libcni quotes in error messages.
    pub name: Option<String>,
    /// `capabilities`: which runtime capability arguments this plugin wants as `runtimeConfig`.
    pub capabilities: BTreeMap<String, bool>,
    /// The object exactly as configured.
    pub raw: Map<String, Value>,
    /// Its 0-based place in the list's `plugins`.
    pub position: usize,
}

/// Why a configuration list was rejected; each names the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("configuration must be a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    Missing(String),
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error(
        "field `name` is {0:?}: it must start with a letter or digit, followed by letters, digits, `_`, `.` or `-`"
    )]
    InvalidName(String),
    #[error("field `{field}` is {value:?}, which is not a CNI version this runtime supports")]
    InvalidVersion { field: String, value: String },
    #[error("field `plugins` must not be empty")]
    NoPlugins,
}

impl NetworkConfigList {
    pub fn from_bytes(bytes: &[u8]) -> Result<NetworkConfigList, ConfigError> {
        NetworkConfigList::from_value(serde_json::from_slice(bytes)?)
    }

    pub fn from_value(value: Value) -> Result<NetworkConfigList, ConfigError> {
        let Value::Object(mut raw) = value else {
            return Err(ConfigError::NotAnObject);
        };
        let name = match raw.get("name") {
            None => return Err(ConfigError::Missing("name".into())),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(wrong_type("name", "a string")),
        };
        if !is_valid_identifier(&name) {
            return Err(ConfigError::InvalidName(name));
        }
        let cni_version = select_version(&raw)?;
        raw.insert("cniVersion".into(), cni_version.as_str().into());
        let disable_check = flag(&raw, "disableCheck")?;
        let disable_gc = flag(&raw, "disableGC")?;
        let plugins = match raw.get("plugins") {
            None => return Err(ConfigError::Missing("plugins".into())),
            Some(Value::Array(plugins)) if plugins.is_empty() => {
                return Err(ConfigError::NoPlugins);
            }
            Some(Value::Array(plugins)) => plugins
                .iter()
                .enumerate()
                .map(|(i, p)| PluginConfig::from_value(i, p))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(wrong_type("plugins", "a list of plugin objects")),
        };
        Ok(NetworkConfigList {
            name,
            cni_version,
            disable_check,
            disable_gc,
            plugins,
            raw,
        })
    }

    /// A single-plugin configuration (a deprecated `.conf`) as a one-element list, the way
    /// libcni's `ConfListFromConf` upgrades it: the list takes the plugin's `name` and
    /// `cniVersion`.
    pub fn from_plugin_conf(conf: Value) -> Result<NetworkConfigList, ConfigError> {
        let Value::Object(plugin) = &conf else {
            return Err(ConfigError::NotAnObject);
        };
        let mut list = Map::new();
        for key in ["cniVersion", "name"] {
            if let Some(v) = plugin.get(key) {
                list.insert(key.into(), v.clone());
            }
        }
        list.insert("plugins".into(), Value::Array(vec![conf]));
        NetworkConfigList::from_value(Value::Object(list))
    }

    /// The same list at another version: the suite runs each scenario at every version.
    /// `cniVersions` is dropped so the stored configuration selects `version` again.
    pub fn with_version(mut self, version: CniVersion) -> NetworkConfigList {
        self.cni_version = version;
        self.raw
            .insert("cniVersion".into(), version.as_str().into());
        self.raw.remove("cniVersions");
        self
    }

    /// The stdin libcni gives `plugin` for ADD, CHECK and DEL (`buildOneConfig`): its object
    /// with `name`, `cniVersion`, `prevResult` when given and `runtimeConfig` when non-empty.
    pub fn plugin_request(
        &self,
        plugin: &PluginConfig,
        prev_result: Option<&Value>,
        capability_args: &Map<String, Value>,
    ) -> Value {
        let mut extra = Vec::new();
        if let Some(prev) = prev_result {
            extra.push(("prevResult", prev.clone()));
        }
        if let Some(runtime_config) = plugin.runtime_config(capability_args) {
            extra.push(("runtimeConfig", runtime_config));
        }
        self.injected(plugin, extra)
    }

    /// `plugin`'s object with the list's `name` and `cniVersion` and the `extra` keys set
    /// (libcni `InjectConf`); every other key passes through unaltered.
    pub fn injected(&self, plugin: &PluginConfig, extra: Vec<(&str, Value)>) -> Value {
        let mut object = plugin.raw.clone();
        object.insert("name".into(), self.name.clone().into());
        object.insert("cniVersion".into(), self.cni_version.as_str().into());
        for (key, value) in extra {
            object.insert(key.into(), value);
        }
        Value::Object(object)
    }

    /// Which plugin of the list a plugin's stdin is for: the first whose every configured key
    /// it carries with the same value (a runtime only adds keys: name, cniVersion, prevResult,
    /// runtimeConfig).
    pub fn position_of(&self, stdin: &[u8]) -> Option<usize> {
        let Ok(Value::Object(sent)) = serde_json::from_slice::<Value>(stdin) else {
            return None;
        };
        self.plugins
            .iter()
            .find(|p| {
                p.raw
                    .iter()
                    .all(|(key, value)| sent.get(key) == Some(value))
            })
            .map(|p| p.position)
    }

    /// The list as JSON, unknown keys included.
    pub fn to_json(&self) -> Value {
        Value::Object(self.raw.clone())
    }
}

impl PluginConfig {
    fn from_value(index: usize, value: &Value) -> Result<PluginConfig, ConfigError> {
        let field = |name: &str| format!("plugins[{index}].{name}");
        let Value::Object(raw) = value else {
            return Err(wrong_type(&format!("plugins[{index}]"), "an object"));
        };
        let plugin_type = match raw.get("type") {
            None => return Err(ConfigError::Missing(field("type"))),
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            Some(_) => return Err(wrong_type(&field("type"), "a non-empty string")),
        };
        let name = match raw.get("name") {
            None => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => return Err(wrong_type(&field("name"), "a string")),
        };
        let capabilities = match raw.get("capabilities") {
            None => BTreeMap::new(),
            Some(Value::Object(caps)) => caps
                .iter()
                .map(|(cap, enabled)| match enabled {
                    Value::Bool(b) => Ok((cap.clone(), *b)),
                    _ => Err(wrong_type(
                        &field(&format!("capabilities.{cap}")),
                        "a boolean",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(wrong_type(&field("capabilities"), "an object")),
        };
        Ok(PluginConfig {
            plugin_type,
            name,
            capabilities,
            raw: raw.clone(),
            position: index,
        })
    }

    /// `runtimeConfig` for this plugin: each enabled capability the runtime has an argument for
    /// (libcni `injectRuntimeConfig`). `None` when empty, since libcni then omits the key.
    pub fn runtime_config(&self, capability_args: &Map<String, Value>) -> Option<Value> {
        let selected: Map<String, Value> = self
            .capabilities
            .iter()
            .filter(|(_, enabled)| **enabled)
            .filter_map(|(cap, _)| Some((cap.clone(), capability_args.get(cap)?.clone())))
            .collect();
        (!selected.is_empty()).then_some(Value::Object(selected))
    }
}

fn wrong_type(field: &str, expected: &'static str) -> ConfigError {
    ConfigError::WrongType {
        field: field.to_string(),
        expected,
    }
}

/// `disableCheck` / `disableGC`: libcni accepts a boolean or "true"/"false" in any case.
fn flag(raw: &Map<String, Value>, field: &str) -> Result<bool, ConfigError> {
    match raw.get(field) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(wrong_type(field, "a boolean or \"true\"/\"false\"")),
    }
}

/// The highest of `cniVersion` and `cniVersions`, ignoring versions newer than the newest this
/// runtime speaks (as libcni ignores versions above its own). Without `cniVersions`,
/// `cniVersion` is taken as it is; an absent one means 0.1.0.
fn select_version(raw: &Map<String, Value>) -> Result<CniVersion, ConfigError> {
    let declared = match raw.get("cniVersion") {
        None => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(_) => return Err(wrong_type("cniVersion", "a string")),
    };
    let Some(listed) = raw.get("cniVersions") else {
        let declared = declared.unwrap_or("");
        return declared
            .parse()
            .map_err(|_| invalid_version("cniVersion", declared));
    };
    let Value::Array(listed) = listed else {
        return Err(wrong_type("cniVersions", "a list of version strings"));
    };
    let mut candidates = Vec::new();
    for (i, entry) in listed.iter().enumerate() {
        let field = format!("cniVersions[{i}]");
        let Value::String(v) = entry else {
            return Err(wrong_type(&field, "a version string"));
        };
        candidates.push((field, v.as_str()));
    }
    if let Some(v) = declared.filter(|v| !v.is_empty()) {
        candidates.push(("cniVersion".into(), v));
    }
    let newest_supported = semver(CniVersion::LATEST.as_str()).expect("LATEST is semver");
    let mut best: Option<(String, &str, [u64; 3])> = None;
    for (field, v) in candidates {
        let parsed = semver(v).ok_or_else(|| invalid_version(&field, v))?;
        if parsed > newest_supported {
            continue;
        }
        if best.as_ref().is_none_or(|(_, _, b)| parsed > *b) {
            best = Some((field, v, parsed));
        }
    }
    match best {
        Some((field, v, _)) => v.parse().map_err(|_| invalid_version(&field, v)),
        // Every listed version is newer than ours; libcni keeps `cniVersion` then.
        None => {
            let declared = declared.unwrap_or("");
            declared
                .parse()
                .map_err(|_| invalid_version("cniVersion", declared))
        }
    }
}

fn semver(v: &str) -> Option<[u64; 3]> {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
    let version = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(version)
}

fn invalid_version(field: &str, value: &str) -> ConfigError {
    ConfigError::InvalidVersion {
        field: field.to_string(),
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plugins_stdin_names_its_place_in_the_list() {
        let list = NetworkConfigList::from_value(json!({
            "cniVersion": "1.0.0", "name": "n",
            "plugins": [{"type": "ptp"}, {"type": "vlan", "vlanId": 3}, {"type": "vlan", "vlanId": 4}]
        }))
        .unwrap();
        let sent = |v: Value| list.position_of(v.to_string().as_bytes());
        assert_eq!(
            sent(
                json!({"type": "vlan", "vlanId": 4, "name": "n", "cniVersion": "1.0.0",
            "prevResult": {}})
            ),
            Some(2)
        );
        assert_eq!(sent(json!({"type": "ptp", "name": "n"})), Some(0));
        assert_eq!(sent(json!({"type": "vlan", "vlanId": 5})), None);
        assert_eq!(list.position_of(b"not json"), None);
    }
}
