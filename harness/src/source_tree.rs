//! Whether this `cni-conform` runs from a source tree (a cargo build inside a clone) or is
//! installed (the tarball, the .deb, the image), so that advice names only commands the user
//! has: cargo and the `ci/` scripts exist in a clone only.

use std::path::{Path, PathBuf};

/// The clone this executable was built in, when it runs from there: an ancestor folder of the
/// executable holding `Cargo.toml` and `ci/kernel-runner`. A build whose target folder lies
/// outside the clone counts as installed; its advice (installed commands) holds there too.
pub fn source_tree() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("ci/kernel-runner").is_file())
        .map(Path::to_path_buf)
}

/// The advice for where this binary runs: `in_clone` names the clone's scripts, `installed`
/// only commands an installed binary has.
pub fn advice(in_clone: &'static str, installed: &'static str) -> &'static str {
    if source_tree().is_some() {
        in_clone
    } else {
        installed
    }
}

/// The value of `CNI_CONFORM_ADVICE` for the embedded `ci/uml-run` and `ci/uml-fetch`: their
/// messages name `ci/setup` only where there is one.
pub fn advice_env() -> (&'static str, &'static str) {
    ("CNI_CONFORM_ADVICE", advice("source-tree", "installed"))
}
