//! `CNI_PATH`: the folders a runtime (and a plugin delegating to IPAM) searches for a plugin by
//! its `type`.
//!
//! The suite's search path is, in order:
//! 1. a folder of symlinks, one per plugin under test, named after the `type` the configuration
//!    uses: a plugin binary at any path, under any file name, is found under its type, and it
//!    shadows a same-named plugin further down (e.g. upstream's `vlan` in /usr/lib/cni);
//!    the same folder holds the harness's fixture plugins (`conform-veth`, `conform-ipam`):
//!    links to `cni-conform` itself, which is them under those names
//!    ([`crate::fixtures::personality`]), so an installed `cni-conform` needs nothing beside it;
//! 2. the system plugin folders [`SYSTEM_PLUGIN_DIRS`] (upstream plugins as interop partners).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::fixtures::personality::FIXTURE_PLUGINS;

/// Where distributions and the upstream release put CNI plugins.
pub const SYSTEM_PLUGIN_DIRS: [&str; 2] = ["/opt/cni/bin", "/usr/lib/cni"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniPath {
    dirs: Vec<PathBuf>,
}

/// libcni `FindInPath` errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("no plugin name provided")]
    NoName,
    #[error("invalid plugin name: {0}")]
    InvalidName(String),
    #[error("no paths provided")]
    NoPaths,
    #[error("failed to find plugin {plugin:?} in path {path}")]
    NotFound { plugin: String, path: String },
}

impl CniPath {
    pub fn new(dirs: Vec<PathBuf>) -> CniPath {
        CniPath { dirs }
    }

    /// The suite's search path (module docs): links the fixture plugins and each
    /// `(type, binary)` into `link_dir`, then appends the system folders.
    pub fn standard(link_dir: &Path, plugins_under_test: &[(&str, &Path)]) -> io::Result<CniPath> {
        link_fixture_plugins(link_dir)?;
        for (plugin_type, binary) in plugins_under_test {
            link_plugin(link_dir, plugin_type, binary)?;
        }
        let mut dirs = vec![link_dir.to_path_buf()];
        dirs.extend(SYSTEM_PLUGIN_DIRS.iter().map(PathBuf::from));
        Ok(CniPath { dirs })
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The first regular file (symlinks followed) named `plugin_type` in the search path.
    pub fn find(&self, plugin_type: &str) -> Result<PathBuf, FindError> {
        if plugin_type.is_empty() {
            return Err(FindError::NoName);
        }
        if plugin_type.contains('/') {
            return Err(FindError::InvalidName(plugin_type.to_string()));
        }
        if self.dirs.is_empty() {
            return Err(FindError::NoPaths);
        }
        self.dirs
            .iter()
            .map(|dir| dir.join(plugin_type))
            .find(|candidate| std::fs::metadata(candidate).is_ok_and(|m| m.is_file()))
            .ok_or_else(|| FindError::NotFound {
                plugin: plugin_type.to_string(),
                path: self.to_string(),
            })
    }
}

/// The value of the `CNI_PATH` variable: the folders joined with ':'.
impl fmt::Display for CniPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = std::env::join_paths(&self.dirs).map_err(|_| fmt::Error)?;
        f.write_str(&joined.to_string_lossy())
    }
}

/// Makes `binary` available as `link_dir/plugin_type` (an absolute symlink, replaced if present).
pub fn link_plugin(link_dir: &Path, plugin_type: &str, binary: &Path) -> io::Result<()> {
    let target = std::fs::canonicalize(binary).map_err(|e| {
        io::Error::new(e.kind(), format!("plugin binary {}: {e}", binary.display()))
    })?;
    let link = link_dir.join(plugin_type);
    match std::fs::remove_file(&link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(target, link)
}

/// Makes the fixture plugins available in `link_dir` (created): links to [`harness_binary`]
/// under their names.
pub fn link_fixture_plugins(link_dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(link_dir)?;
    let harness = harness_binary()?;
    for name in FIXTURE_PLUGINS {
        link_plugin(link_dir, name, &harness)?;
    }
    Ok(())
}

/// The reference `vlan`, which cargo builds (and a release tarball holds) next to `cni-conform`.
pub fn reference_plugin() -> Result<PathBuf, String> {
    let plugin = harness_binary()
        .map_err(|e| format!("cannot find the reference plugin: {e}"))?
        .with_file_name("vlan");
    if !plugin.exists() {
        return Err(format!(
            "the reference plugin {} is missing: name a plugin with --plugin, or build the \
             workspace's binaries first (cargo build --workspace --bins; ci/test does)",
            plugin.display()
        ));
    }
    Ok(plugin)
}

/// The `cni-conform` executable, which is also the fixture plugins: this process's own
/// executable, or, for a test binary in cargo's `target/<profile>/deps/`, the `cni-conform`
/// cargo builds in `target/<profile>/`.
pub fn harness_binary() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent folder", exe.display())))?;
    let (Some(name), Some(profile_dir)) = (dir.file_name(), dir.parent()) else {
        return Ok(exe);
    };
    if name != "deps" {
        return Ok(exe);
    }
    let harness = profile_dir.join("cni-conform");
    if !harness.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is missing: build it first (cargo build -p cni-conform --bins; ci/test does)",
                harness.display()
            ),
        ));
    }
    Ok(harness)
}
