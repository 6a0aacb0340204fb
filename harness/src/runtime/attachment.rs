//! The runtime's side of one attachment (libcni `RuntimeConf`): which container, interface and
//! netns, plus `CNI_ARGS` and the capability arguments that become `runtimeConfig`.

use std::path::Path;

use cni_types::names::{is_valid_identifier, validate_ifname};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
    /// `CNI_NETNS`, verbatim: a scenario may pass an empty or stale path on purpose.
    pub netns: String,
    pub cni_args: Vec<(String, String)>,
    pub capability_args: Map<String, Value>,
}

/// An attachment's identity (spec §3): what GC's `cni.dev/valid-attachments` lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttachmentKey {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

impl Attachment {
    pub fn new(container_id: &str, ifname: &str, netns: &Path) -> Attachment {
        Attachment {
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
            netns: netns.to_string_lossy().into_owned(),
            cni_args: Vec::new(),
            capability_args: Map::new(),
        }
    }

    pub fn with_cni_args(mut self, args: &[(&str, &str)]) -> Attachment {
        self.cni_args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    pub fn with_capability_args(mut self, args: Map<String, Value>) -> Attachment {
        self.capability_args = args;
        self
    }

    pub fn key(&self) -> AttachmentKey {
        AttachmentKey {
            container_id: self.container_id.clone(),
            ifname: self.ifname.clone(),
        }
    }

    /// The `CNI_ARGS` value: `K=V` pairs joined with ';'.
    pub fn cni_args_env(&self) -> String {
        self.cni_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// libcni's checks before an ADD: container id, network name and interface name.
    pub fn validate(&self, network_name: &str) -> Result<(), String> {
        if !is_valid_identifier(&self.container_id) {
            return Err(format!(
                "invalid container ID {:?}: it must start with a letter or digit, followed by letters, digits, `_`, `.` or `-`",
                self.container_id
            ));
        }
        if !is_valid_identifier(network_name) {
            return Err(format!("invalid network name {network_name:?}"));
        }
        validate_ifname(&self.ifname).map_err(|e| e.to_string())
    }
}
