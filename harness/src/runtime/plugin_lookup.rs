//! Which plugin `run`, `bench` and `fuzz` test when `--plugin` is not given: the `vlan` a user
//! has installed, found the way it is installed. In order:
//! 1. `vlan` next to the `cni-conform` executable (the tarball unpacked in one folder; cargo's
//!    target folder, where the reference plugin is built beside it);
//! 2. `/opt/cni/bin/vlan` (the .deb, the README's tarball steps, the installer DaemonSet);
//! 3. the first `vlan` in the folders of the `CNI_PATH` variable, as a runtime would find it.
//!
//! No candidate: the error lists every place tried.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::cni_path::harness_binary;
use crate::source_tree;

/// The plugin under test's name in every place searched.
pub const DEFAULT_PLUGIN_NAME: &str = "vlan";

/// Where upstream's release and this project's .deb install CNI plugins.
pub const INSTALLED_PLUGIN_DIR: &str = "/opt/cni/bin";

/// The places searched, in order, with what each is (for the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSearch {
    pub candidates: Vec<(PathBuf, String)>,
    /// Why `CNI_PATH` added nothing, when it did not.
    pub cni_path_note: Option<String>,
}

impl PluginSearch {
    /// The search for an executable in `beside`, with `installed_dir` the system folder and
    /// `cni_path` the value of `CNI_PATH`.
    pub fn new(beside: &Path, installed_dir: &Path, cni_path: Option<OsString>) -> PluginSearch {
        let mut candidates = vec![
            (
                beside.join(DEFAULT_PLUGIN_NAME),
                "next to cni-conform".to_string(),
            ),
            (
                installed_dir.join(DEFAULT_PLUGIN_NAME),
                "installed".to_string(),
            ),
        ];
        let dirs: Vec<PathBuf> = cni_path
            .as_deref()
            .map(|p| {
                std::env::split_paths(p)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let cni_path_note = match (&cni_path, dirs.is_empty()) {
            (None, _) => Some("CNI_PATH is not set".to_string()),
            (Some(_), true) => Some("CNI_PATH is empty".to_string()),
            (Some(_), false) => None,
        };
        candidates.extend(
            dirs.into_iter()
                .map(|d| (d.join(DEFAULT_PLUGIN_NAME), "in CNI_PATH".to_string())),
        );
        PluginSearch {
            candidates,
            cni_path_note,
        }
    }

    /// The first candidate that is a file (symlinks followed).
    pub fn find(&self) -> Option<&Path> {
        self.candidates
            .iter()
            .map(|(path, _)| path.as_path())
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// What was tried, for the error: `/a/vlan (next to cni-conform), /opt/cni/bin/vlan
    /// (installed), CNI_PATH is not set`.
    pub fn tried(&self) -> String {
        let mut tried: Vec<String> = self
            .candidates
            .iter()
            .map(|(path, what)| format!("{} ({what})", path.display()))
            .collect();
        tried.extend(self.cni_path_note.clone());
        tried.join(", ")
    }
}

/// The plugin under test when `--plugin` is not given (module docs).
pub fn default_plugin() -> Result<PathBuf, String> {
    let harness = harness_binary().map_err(|e| format!("cannot find cni-conform itself: {e}"))?;
    let beside = harness.parent().unwrap_or(Path::new("/"));
    let search = PluginSearch::new(
        beside,
        Path::new(INSTALLED_PLUGIN_DIR),
        std::env::var_os("CNI_PATH"),
    );
    search.find().map(Path::to_path_buf).ok_or_else(|| {
        format!(
            "no plugin to test: --plugin not given and no {DEFAULT_PLUGIN_NAME} found; tried {}. \
             Name one with --plugin PATH{}",
            search.tried(),
            source_tree::advice(
                ", or build the workspace's binaries (cargo build --workspace --bins; ci/test does)",
                "",
            )
        )
    })
}

/// The plugin a command measures or checks: its `--plugin` argument, else the installed one
/// ([`default_plugin`]); as a canonical path either way.
pub fn plugin_argument(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let plugin = match given {
        Some(path) => path,
        None => default_plugin()?,
    };
    std::fs::canonicalize(&plugin).map_err(|e| format!("--plugin {}: {e}", plugin.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folders `beside`, `installed`, `path1`, `path2` in a temporary folder, with a `vlan`
    /// (a plain file) in those named by `with_vlan`.
    fn folders(with_vlan: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in ["beside", "installed", "path1", "path2"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        for name in with_vlan {
            std::fs::write(dir.path().join(name).join("vlan"), "").unwrap();
        }
        dir
    }

    fn search(dir: &Path, cni_path: Option<&str>) -> PluginSearch {
        PluginSearch::new(
            &dir.join("beside"),
            &dir.join("installed"),
            cni_path.map(|p| p.replace("DIR", &dir.display().to_string()).into()),
        )
    }

    #[test]
    fn the_order_is_beside_then_installed_then_cni_path() {
        let path = Some("DIR/path1:DIR/path2");
        let all = folders(&["beside", "installed", "path2"]);
        assert_eq!(
            search(all.path(), path).find(),
            Some(all.path().join("beside/vlan").as_path())
        );
        let no_beside = folders(&["installed", "path1"]);
        assert_eq!(
            search(no_beside.path(), path).find(),
            Some(no_beside.path().join("installed/vlan").as_path())
        );
        let only_path = folders(&["path2"]);
        assert_eq!(
            search(only_path.path(), path).find(),
            Some(only_path.path().join("path2/vlan").as_path())
        );
    }

    #[test]
    fn a_folder_named_vlan_is_not_a_plugin() {
        let dir = folders(&["installed"]);
        std::fs::create_dir(dir.path().join("beside/vlan")).unwrap();
        assert_eq!(
            search(dir.path(), None).find(),
            Some(dir.path().join("installed/vlan").as_path())
        );
    }

    #[test]
    fn nothing_found_lists_every_place_tried() {
        let dir = folders(&[]);
        let d = dir.path().display();
        let unset = search(dir.path(), None);
        assert_eq!(unset.find(), None);
        assert_eq!(
            unset.tried(),
            format!(
                "{d}/beside/vlan (next to cni-conform), {d}/installed/vlan (installed), CNI_PATH is not set"
            )
        );
        assert!(
            search(dir.path(), Some(""))
                .tried()
                .ends_with("CNI_PATH is empty")
        );
        assert_eq!(
            search(dir.path(), Some("DIR/path1::DIR/path2")).tried(),
            format!(
                "{d}/beside/vlan (next to cni-conform), {d}/installed/vlan (installed), \
                 {d}/path1/vlan (in CNI_PATH), {d}/path2/vlan (in CNI_PATH)"
            )
        );
    }
}
