//! The Multus example (`deploy/kubernetes/multus-example.yaml`) and the suite's scenario
//! `interop-ptp-vlans` hold the same network: the NetworkAttachmentDefinition's `spec.config`,
//! parsed as JSON, is the scenario's network without what only a sandbox needs (host-local's
//! `dataDir` under `${SANDBOX}`; in a cluster host-local's default folder is right). So what a
//! cluster runs is what the suite runs with upstream's ptp, host-local and static.

use std::path::{Path, PathBuf};

use cni_conform::scenario::Library;
use cni_conform::scenario::model::NetworkSource;
use serde::Deserialize;
use serde_json::Value;

const SANDBOX_DATA_DIR: &str = "${SANDBOX}/host-local";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness is in the workspace")
        .to_path_buf()
}

/// `spec.config` of every NetworkAttachmentDefinition in a multi-document YAML file, by name.
fn attachment_configs(file: &Path) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut found = vec![];
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc = serde_yaml_ng::Value::deserialize(document)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
        if doc["kind"].as_str() != Some("NetworkAttachmentDefinition") {
            continue;
        }
        let name = doc["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_owned();
        let config = doc["spec"]["config"]
            .as_str()
            .expect("spec.config is a string");
        let network: Value = serde_json::from_str(config).unwrap_or_else(|e| {
            panic!("{}: {name}'s spec.config is not JSON: {e}", file.display())
        });
        found.push((name, network));
    }
    found
}

/// The network the suite runs for a scenario (before `${SANDBOX}` is replaced).
fn scenario_network(id: &str) -> Value {
    let library = Library::at(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"));
    let (scenarios, errors) = library.load_all();
    assert!(errors.is_empty(), "{errors:?}");
    let scenario = scenarios
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no scenario {id}"));
    match scenario.network {
        NetworkSource::Inline(value) => value,
        NetworkSource::File(name) => {
            let path = library.fixtures_dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
    }
}

/// Removes `ipam.dataDir` where it is the sandbox's folder; returns how many it removed.
fn without_sandbox_data_dirs(network: &mut Value) -> usize {
    let mut removed = 0;
    for plugin in network["plugins"].as_array_mut().expect("a conflist") {
        if let Some(ipam) = plugin.get_mut("ipam").and_then(Value::as_object_mut)
            && ipam.get("dataDir").and_then(Value::as_str) == Some(SANDBOX_DATA_DIR)
        {
            ipam.remove("dataDir");
            removed += 1;
        }
    }
    removed
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn the_multus_example_is_the_network_of_interop_ptp_vlans() {
    let file = repo().join("deploy/kubernetes/multus-example.yaml");
    let configs = attachment_configs(&file);
    assert_eq!(
        configs.len(),
        1,
        "{}: expected one NetworkAttachmentDefinition",
        file.display()
    );
    let (name, attachment) = &configs[0];
    assert_eq!(
        attachment["name"].as_str(),
        Some(name.as_str()),
        "the attachment's network name is its object name"
    );
    let mut scenario = scenario_network("interop-ptp-vlans");
    assert_eq!(
        without_sandbox_data_dirs(&mut scenario),
        1,
        "the scenario's network has exactly one host-local dataDir under ${{SANDBOX}} (ptp's)"
    );
    assert!(
        attachment == &scenario,
        "{}'s spec.config differs from scenario interop-ptp-vlans's network (minus its sandbox \
         dataDir); change both together.\n--- attachment:\n{}\n--- scenario:\n{}",
        file.display(),
        pretty(attachment),
        pretty(&scenario)
    );
}

#[test]
fn the_comparison_sees_a_difference() {
    // A changed address, a dropped plugin or a leftover sandbox path must not compare equal.
    let mut scenario = scenario_network("interop-ptp-vlans");
    without_sandbox_data_dirs(&mut scenario);
    let mut changed = scenario.clone();
    changed["plugins"][2]["ipam"]["addresses"][0]["address"] = "192.168.4.11/24".into();
    assert_ne!(changed, scenario);
    let mut shorter = scenario.clone();
    shorter["plugins"].as_array_mut().unwrap().pop();
    assert_ne!(shorter, scenario);
    let mut untouched = scenario_network("interop-ptp-vlans");
    assert_ne!(untouched, scenario);
    assert_eq!(without_sandbox_data_dirs(&mut untouched), 1);
    assert_eq!(untouched, scenario);
}
