//! The expected states scenarios refer to (`fixtures/states/<name>.snap`), stored once and
//! plugin-independent. `cni-conform run` compares any plugin against the files; `cargo test`
//! checks the reference plugin against the same files through insta, so a changed state is
//! reviewed with `cargo insta review` like any other snapshot.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::snapshot::Snapshot;

/// Decides whether the sandbox state after a step is the stored one.
pub trait StateOracle: Sync {
    /// `Err` carries a readable expected-vs-actual diff.
    fn check(&self, name: &str, actual: &Snapshot) -> Result<(), String>;
}

/// Compares with the stored files, for any plugin.
#[derive(Debug, Clone)]
pub struct StoredStates {
    dir: PathBuf,
}

impl StoredStates {
    pub fn new(dir: &Path) -> StoredStates {
        StoredStates {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap"))
    }
}

impl StateOracle for StoredStates {
    fn check(&self, name: &str, actual: &Snapshot) -> Result<(), String> {
        let path = self.path_of(name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "expected state {name} cannot be read from {}: {e}",
                path.display()
            )
        })?;
        let expected: Value = serde_yaml_ng::from_str(snap_body(&text))
            .map_err(|e| format!("expected state {} is not valid YAML: {e}", path.display()))?;
        let actual = serde_yaml_ng::to_value(actual)
            .map_err(|e| format!("cannot serialize the actual state: {e}"))?;
        if expected == actual {
            return Ok(());
        }
        Err(yaml_diff(&expected, &actual))
    }
}

/// The YAML after insta's metadata header (`---\nsource: ...\n---\n`); a file without a
/// header is taken whole.
fn snap_body(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + 5..],
        None => text,
    }
}

/// A unified diff of two YAML documents, `-` for expected and `+` for actual.
pub fn yaml_diff(expected: &Value, actual: &Value) -> String {
    let expected = serde_yaml_ng::to_string(expected).unwrap_or_default();
    let actual = serde_yaml_ng::to_string(actual).unwrap_or_default();
    similar::TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_insta_header() {
        let text = "---\nsource: x.rs\nexpression: snapshot\n---\nnetns:\n  node: {}\n";
        assert_eq!(snap_body(text), "netns:\n  node: {}\n");
        assert_eq!(snap_body("netns: {}\n"), "netns: {}\n");
    }

    #[test]
    fn diff_names_the_changed_line() {
        let a: Value = serde_yaml_ng::from_str("mtu: 1500\nup: true\n").unwrap();
        let b: Value = serde_yaml_ng::from_str("mtu: 1400\nup: true\n").unwrap();
        let d = yaml_diff(&a, &b);
        assert!(d.contains("-mtu: 1500") && d.contains("+mtu: 1400"), "{d}");
    }
}
