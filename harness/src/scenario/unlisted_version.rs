//! Versions are judged, not only read: for every CNI version the plugin's VERSION reply leaves
//! out, one case sends it a configuration at that version, which the SPEC says it must refuse
//! (a result's cniVersion is "The same version supplied on input"); one accepted anyway is a
//! failure. The reference contract also requires every version, 0.1.0 to 1.1.0, to be listed,
//! so under `--profile reference` an unlisted version fails the case by itself.

use cni_types::CniVersion;
use serde_json::json;

use super::builtin_clauses::ALL_VERSIONS;
use super::expect::Failure;
use super::model::{Level, NetworkSource, Scenario};
use super::pack::{TypePack, UNDER_TEST};
use super::report::CaseReport;
use super::verdict::{self, Judgement};
use crate::topology::Topology;
use std::path::Path;

/// The id the probe's cases carry in reports (`--filter` selects it like a scenario's).
pub const SCENARIO_ID: &str = "cni-version-unlisted";

const SCENARIO: &str = r#"
description: >
  A configuration at a CNI version the plugin's VERSION reply does not list is refused, never
  accepted: a plugin cannot answer in a version it does not support (code 1, "Incompatible CNI
  version", is the reference's code). Run at every version the reply leaves out; the reference
  contract lists them all.
clauses:
  - id: spec.errors.incompatible-version
    level: MUST
    section: "Section 5: Result Types (Success; Error)"
topology:
  veths:
    - ends:
        - {netns: node, name: master0}
        - {netns: node, name: master0-peer}
network: {}
steps:
  - add:
      expect:
        code: 1
"#;

/// The probe for a plugin of `plugin_type`: its pack's minimal configuration, or a VLAN's
/// when the scenarios folder has no packs.
pub fn scenario(
    plugin_type: &str,
    pack: Option<&TypePack>,
    fixtures_dir: &Path,
) -> Result<Scenario, String> {
    let mut scenario: Scenario =
        serde_yaml_ng::from_str(SCENARIO).expect("the built-in probe scenario parses");
    scenario.id = SCENARIO_ID.to_string();
    let plugin = match pack {
        Some(_) => json!({"type": UNDER_TEST}),
        None => json!({"type": plugin_type, "master": "master0", "vlanId": 100}),
    };
    scenario.network = NetworkSource::Inline(json!({
        "cniVersion": CniVersion::LATEST.as_str(),
        "name": SCENARIO_ID,
        "plugins": [plugin]
    }));
    match pack {
        Some(pack) => {
            scenario.topology = Topology::default();
            pack.instantiate(scenario, fixtures_dir)
        }
        None => Ok(scenario),
    }
}

/// The versions the probe runs at: those selected and not listed.
pub fn unlisted(listed: &[String], selected: Option<&[CniVersion]>) -> Vec<CniVersion> {
    CniVersion::ALL
        .into_iter()
        .filter(|v| !listed.iter().any(|l| l == v.as_str()))
        .filter(|v| selected.is_none_or(|s| s.contains(v)))
        .collect()
}

/// Adds the reference contract's failure to a probe case (the version is not listed at all)
/// and judges it again.
pub fn add_contract_failure(case: &mut CaseReport, listed: &[String], judgement: &Judgement) {
    case.failures.push(Failure::new(
        ALL_VERSIONS,
        Level::Must,
        "VERSION",
        format!(
            "VERSION lists {}, not {}: the reference supports every version from 0.1.0 to 1.1.0",
            listed.join(", "),
            case.version
        ),
    ));
    case.status = verdict::status(&case.failures, case.declined.as_ref(), judgement);
}
