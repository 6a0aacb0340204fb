//! `cni-conform` under the names that select its broken VLAN fixtures, shared by the test
//! binaries that need a plugin the suite must fail (included with `#[path]`).

use std::path::PathBuf;

use cni_conform::runtime::harness_binary;
use tempfile::TempDir;

/// Every defect the fixture has, by the name that selects it.
pub const BREAKAGES: [&str; 7] = [
    "broken-drop-prev-result",
    "broken-delete-master",
    "broken-leak-on-ipam-failure",
    "broken-wrong-vlan-id",
    "broken-misnamed-result",
    "broken-fail-check",
    "broken-unlisted-version",
];

/// A folder with `cni-conform` hard-linked under every name of [`BREAKAGES`] and the reference
/// `vlan` it wraps beside them. Hard links, because the suite runs a plugin under test through
/// a symlink named `vlan` to its resolved path, so the fixture reads its executable file's own
/// name; inside cargo's target folder, so they share its file system.
pub struct BrokenVariants {
    dir: TempDir,
}

impl BrokenVariants {
    pub fn new() -> BrokenVariants {
        let fixture = harness_binary().expect("cni-conform, built by cargo");
        let reference = reference_plugin();
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
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
