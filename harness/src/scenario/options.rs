//! What a suite run is asked to do: which plugin, which scenarios and versions, how it is
//! judged, and by which runtime.

use std::path::PathBuf;
use std::time::Duration;

use super::model::Feature;
use super::verdict::{Judgement, Profile};
use crate::runtime::RuntimeChoice;
use cni_types::CniVersion;

/// What to run and against which plugin.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The plugin under test; conflists name it by `plugin_type`.
    pub plugin: PathBuf,
    pub plugin_type: String,
    /// Searched right after the plugin under test, before the fixture and system folders.
    pub extra_cni_path: Vec<PathBuf>,
    /// Glob (`*`, `?`) or plain substring matched against scenario ids.
    pub filter: Option<String>,
    /// Only these versions (default: every version the plugin supports).
    pub versions: Option<Vec<CniVersion>>,
    pub skip_features: Vec<Feature>,
    pub jobs: usize,
    /// Per plugin execution.
    pub timeout: Duration,
    /// Profile and required capabilities the cases are judged by.
    pub judgement: Judgement,
    /// What performs the list operations: our runtime or libcni (`--runtime`).
    pub runtime: RuntimeChoice,
}

impl SuiteOptions {
    /// Every scenario at every version the plugin supports, as type `vlan`, judged by the
    /// reference profile (every clause decides), two jobs and 60 s per execution: what the
    /// test suites start from and then narrow.
    pub fn reference(plugin: impl Into<PathBuf>) -> SuiteOptions {
        SuiteOptions {
            plugin: plugin.into(),
            plugin_type: "vlan".into(),
            extra_cni_path: vec![],
            filter: None,
            versions: None,
            skip_features: vec![],
            jobs: 2,
            timeout: Duration::from_secs(60),
            judgement: Judgement {
                profile: Profile::Reference,
                required_features: vec![],
            },
            runtime: RuntimeChoice::Ours,
        }
    }
}
