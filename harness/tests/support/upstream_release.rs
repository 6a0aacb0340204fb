//! Where upstream's current plugins release is: what ci/upstream-fetch leaves in the cache
//! (`CNI_CONFORM_UPSTREAM_CURRENT` names another bin/ folder), shared by the test binaries that
//! run it (included with `#[path]`).

use std::path::PathBuf;

/// The current release's bin/ folder.
pub fn current_bin() -> PathBuf {
    std::env::var_os("CNI_CONFORM_UPSTREAM_CURRENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("CNI_CONFORM_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/var/cache/cni-conform".into());
            cache.join("upstream/current/bin")
        })
}
