//! The `conform-broken-vlan` fixture under the names that select its defects, shared by the
//! test binaries that need a plugin the suite must fail (included with `#[path]`).

use std::path::PathBuf;

use cni_conform::runtime::fixture_plugin_dir;
use tempfile::TempDir;

/// Every defect the fixture has, by the name that selects it.
pub const BREAKAGES: [&str; 5] = [
    "broken-drop-prev-result",
    "broken-delete-master",
    "broken-leak-on-ipam-failure",
    "broken-wrong-vlan-id",
    "broken-misnamed-result",
];

/// A folder with the fixture hard-linked under every name of [`BREAKAGES`] and the reference
/// `vlan` it wraps beside them. Hard links, because the fixture reads its own file name and a
/// runtime resolves symlinks; inside cargo's target folder, so they share its file system.
pub struct BrokenVariants {
    dir: TempDir,
}

impl BrokenVariants {
    pub fn new() -> BrokenVariants {
        let binaries = fixture_plugin_dir().expect("the workspace's binaries folder");
        let reference = reference_plugin();
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let fixture = binaries.join("conform-broken-vlan");
        for name in BREAKAGES {
            std::fs::hard_link(&fixture, dir.path().join(name))
                .unwrap_or_else(|e| panic!("hard-linking {}: {e}", fixture.display()));
        }
        std::os::unix::fs::symlink(&reference, dir.path().join("vlan")).unwrap();
        BrokenVariants { dir }
    }

    pub fn plugin(&self, breakage: &str) -> PathBuf {
        assert!(BREAKAGES.contains(&breakage), "no breakage {breakage:?}");
        self.dir.path().join(breakage)
    }
}

/// The reference `vlan`, which cargo builds next to the harness's binaries.
pub fn reference_plugin() -> PathBuf {
    cni_conform::runtime::reference_plugin().unwrap_or_else(|e| panic!("{e}"))
}
