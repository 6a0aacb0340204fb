//! A reproducer runs where the suite runs: on a kernel that cannot make 802.1Q links it asks
//! `cni-conform kernel-run` to run it inside User-Mode Linux, and it never exits 0 when the
//! kernel refused what the recording did. Here the kernel loses 802.1Q half-way (its `8021q`
//! module is removed, which this binary alone does, in a kernel of its own): inside User-Mode
//! Linux already, `kernel-run` refuses loudly; told to replay anyway, the script shows the
//! refusal and fails.

#[path = "support/broken_variants.rs"]
mod broken_variants;

use std::process::Command;

use broken_variants::BrokenVariants;
use cni_conform::report::{self, reproducer};
use cni_conform::runtime::harness_binary;
use cni_conform::scenario::{Library, StoredStates, SuiteOptions, run_suite};
use cni_types::CniVersion;

fn vlan_works() -> bool {
    Command::new("unshare")
        .args(["-n", "sh", "-c"])
        .arg(
            "ip link add cc-probe0 type veth peer name cc-probe1 && \
             ip link add link cc-probe0 name cc-probe0.9 type vlan id 9",
        )
        .status()
        .unwrap()
        .success()
}

/// Puts 802.1Q back however the test ends.
struct Without8021q;

impl Without8021q {
    fn new() -> Without8021q {
        let removed = Command::new("rmmod").arg("8021q").status().unwrap();
        assert!(
            removed.success() && !vlan_works(),
            "cannot take 802.1Q away from this kernel (rmmod 8021q: {removed}); this test needs \
             802.1Q as a module (as Debian's kernels and User-Mode Linux have it)"
        );
        Without8021q
    }
}

impl Drop for Without8021q {
    fn drop(&mut self) {
        let modroot = std::path::Path::new("/run/uml-modroot");
        let mut modprobe = Command::new("modprobe");
        if modroot.is_dir() {
            modprobe.arg("-d").arg(modroot);
        }
        let _ = modprobe.arg("8021q").status();
    }
}

#[test]
fn a_reproducer_never_replays_silently_on_a_kernel_without_8021q() {
    cni_conform::kernel::require_vlan();
    let variants = BrokenVariants::new();
    let library = Library::bundled().unwrap();
    let options = SuiteOptions {
        filter: Some("host-master".into()),
        versions: Some(vec![CniVersion::V1_1_0]),
        ..SuiteOptions::reference(variants.plugin("broken-wrong-vlan-id"))
    };
    let states = StoredStates::new(&library.states_dir());
    let report = run_suite(&library, &options, &states, &|_| {}).unwrap();
    let reports = tempfile::tempdir().unwrap();
    report::write_all(&report, reports.path()).unwrap();
    let case = report
        .cases
        .iter()
        .find(|c| c.scenario == "host-master")
        .unwrap();
    let script = reports
        .path()
        .join(reproducer::DIR)
        .join(reproducer::file_name(case, 0));
    assert!(script.is_file(), "no reproducer {}", script.display());

    let _without = Without8021q::new();
    let harness = harness_binary().unwrap();
    let run = |extra_env: &[(&str, &str)]| {
        let scratch = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(&script)
            .env("CNI_CONFORM", &harness)
            .env("TMPDIR", scratch.path())
            .envs(extra_env.iter().copied())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    };

    // It asks cni-conform to run it in a kernel with 802.1Q; inside User-Mode Linux already,
    // with none, that refuses and says why.
    let (status, text) = run(&[]);
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("this kernel cannot make 802.1Q links: running again inside User-Mode Linux")
            && text.contains("cannot make 802.1Q links")
            && text.contains("not running bash"),
        "{text}"
    );

    // Made to replay anyway: the plugin's ADD, recorded as a success, is refused now.
    let (status, text) = run(&[("CNI_CONFORM_KERNEL_RUN", "1")]);
    assert!(
        !status.success(),
        "exit 0 although the kernel refused:\n{text}"
    );
    assert!(
        text.contains("REPLAY DIFFERS from the recording") && text.contains("recorded 0"),
        "{text}"
    );
}
