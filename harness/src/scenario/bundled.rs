//! The repository's `scenarios/` and `fixtures/`, embedded at build time (build.rs), so an
//! installed `cni-conform` needs no source tree. The suite reads scenario and fixture files by
//! path (errors name file and line), so the embedded files are written out into a temporary
//! folder that lives as long as the [`super::Library`] using it.

use std::io;
use std::path::Path;

use tempfile::TempDir;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/bundled_files.rs"));
}

/// `(path relative to the repository root, contents)` of every embedded file, sorted by path.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// Writes every embedded file under a new temporary folder (its `scenarios/` and `fixtures/`).
pub fn extract() -> io::Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("cni-conform-library.")
        .tempdir()?;
    for (relative, contents) in files() {
        write(&dir.path().join(relative), contents)?;
    }
    Ok(dir)
}

fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_are_the_repositorys() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(
            files()
                .iter()
                .any(|(p, _)| *p == "scenarios/vlan/host-master.yaml")
        );
        assert!(
            files()
                .iter()
                .any(|(p, _)| p.starts_with("fixtures/states/"))
        );
        for (relative, contents) in files() {
            assert_eq!(
                std::fs::read(root.join(relative)).unwrap(),
                *contents,
                "{relative}"
            );
        }
        let extracted = extract().unwrap();
        let yaml = extracted.path().join("scenarios/vlan/host-master.yaml");
        assert_eq!(
            std::fs::read(yaml).unwrap(),
            std::fs::read(root.join("scenarios/vlan/host-master.yaml")).unwrap()
        );
    }
}
