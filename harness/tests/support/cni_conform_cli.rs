//! Running the `cni-conform` binary cargo built, shared by the test binaries that drive its
//! command line (included with `#[path]`; each binary uses part of it).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// `cni-conform ARGS`, its output captured whole.
pub fn cni_conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cni-conform"))
        .args(args)
        .output()
        .expect("cni-conform starts")
}

/// `cni-conform run --report-dir DIR ARGS`: the output, stdout and stderr as one text, the
/// parsed report.json (`null` when none was written) and the report folder. The tests' plugins
/// are VLAN plugins under names of their own (a broken variant is chosen by its file name), so
/// a `--plugin` comes with `--plugin-type vlan` unless the test names a type.
pub fn run_with_reports(args: &[&str]) -> (Output, String, Value, TempDir) {
    let reports = tempfile::tempdir().unwrap();
    let mut all = vec!["run", "--report-dir", reports.path().to_str().unwrap()];
    if args.contains(&"--plugin") && !args.contains(&"--plugin-type") {
        all.extend(["--plugin-type", "vlan"]);
    }
    all.extend_from_slice(args);
    let out = cni_conform(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read(reports.path().join("report.json"))
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .unwrap_or(Value::Null);
    (out, text, json, reports)
}

/// An executable shell script plugin `dir/name` running `body`.
pub fn script_plugin(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
