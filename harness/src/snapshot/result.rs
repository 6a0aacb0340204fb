//! A CNI result made comparable across runs: the shape and order stay the plugin's own, only
//! the values that differ per run are replaced.

use serde_json::Value;

use crate::sandbox::Sandbox;

/// Replaces every `mac` value by `mac_symbol(mac)`, a sandbox netns path (deleted namespaces
/// included) by the netns name, and any other path inside the sandbox folder by
/// `<sandbox>/...`.
pub(super) fn normalize(
    result: &Value,
    sandbox: &Sandbox,
    mac_symbol: &mut dyn FnMut(&str) -> String,
) -> Value {
    let netns_paths: Vec<(String, &str)> = sandbox
        .topology()
        .netns_names()
        .filter_map(|name| Some((sandbox.netns_path(name)?.to_str()?.to_string(), name)))
        .collect();
    let folder = sandbox.dir().to_string_lossy().into_owned();
    let path = |s: &str| -> Option<String> {
        if let Some((_, name)) = netns_paths.iter().find(|(path, _)| path == s) {
            return Some(name.to_string());
        }
        let inside = s.strip_prefix(folder.as_str())?;
        inside
            .starts_with('/')
            .then(|| format!("<sandbox>{inside}"))
    };
    rewrite(result, &path, mac_symbol)
}

fn rewrite(
    value: &Value,
    path: &dyn Fn(&str) -> Option<String>,
    mac_symbol: &mut dyn FnMut(&str) -> String,
) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| {
                    let field = match field {
                        Value::String(mac) if key == "mac" => Value::String(mac_symbol(mac)),
                        other => rewrite(other, path, mac_symbol),
                    };
                    (key.clone(), field)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| rewrite(item, path, mac_symbol))
                .collect(),
        ),
        Value::String(s) => Value::String(path(s).unwrap_or_else(|| s.clone())),
        other => other.clone(),
    }
}
