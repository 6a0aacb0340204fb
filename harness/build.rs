//! Embeds the repository's `scenarios/` and `fixtures/` in `cni-conform` (see
//! src/scenario/bundled.rs), so a binary installed without the source tree carries them: writes
//! `$OUT_DIR/bundled_files.rs`, one `include_bytes!` per file, sorted by path (reproducible).

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("the harness crate is in the workspace");
    let mut files = Vec::new();
    for top in ["scenarios", "fixtures"] {
        // A folder: cargo reruns this when any file under it changes, or one is added.
        println!("cargo:rerun-if-changed={}", root.join(top).display());
        collect(root, &root.join(top), &mut files);
    }
    files.sort();
    let mut code = String::from("pub const FILES: &[(&str, &[u8])] = &[\n");
    for relative in &files {
        let absolute = root.join(relative);
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({absolute:?})),\n"
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("bundled_files.rs"), code).expect("writing bundled_files.rs");
}

/// Every file under `dir`, as a '/'-separated path relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("under the root");
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
}
