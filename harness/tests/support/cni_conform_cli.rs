//! Running the `cni-conform` binary cargo built, shared by the test binaries that drive its
//! command line (included with `#[path]`).

use std::process::{Command, Output};

/// `cni-conform ARGS`, its output captured whole.
pub fn cni_conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cni-conform"))
        .args(args)
        .output()
        .expect("cni-conform starts")
}
