//! The kernel backend: a test that needs a VLAN passes here (natively or inside UML), and the
//! three ways into UML (ci/uml-run, cargo's runner ci/kernel-runner, `cni-conform run --kernel
//! uml`) pick the UML the same way and explain a UML that does not boot in one paragraph.
//!
//! The UML binaries here are fakes (shell scripts given through CNI_CONFORM_UML): one prints
//! what Debian 12's UML prints on an AMX host and exits, one emulates a guest that boots (it runs
//! the command the runner hands its init, without mounting anything), one refuses SECCOMP mode.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[test]
fn this_kernel_can_create_an_8021q_link() {
    eprintln!("running on {}", cni_conform::kernel::current());
    cni_conform::kernel::require_vlan();
}

/// What Debian 12's user-mode-linux 6.1 prints on a host whose XSAVE area is larger than its
/// fixed buffer, then it exits.
const FP_REGS_PANIC: &str = r#"#!/bin/sh
case "$1" in --help) echo "mem=<Amount of desired ram>"; exit 0 ;; esac
echo "$*" >> "$(dirname "$0")/boots"
cat <<'EOF'
Linux version 6.1.176 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14)) #1 Tue Jul 1
Kernel command line: root=/dev/root rootfstype=hostfs rootflags=/ rw quiet
userspace - ptrace set fp regs failed, errno = 14
Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b
CPU: 0 PID: 1 Comm: init Not tainted 6.1.176 #1
Stack:
 6016e6a0 60b3c6c0 60a6ae38 00000001
Call Trace:
 [<60034c1d>] ? show_stack+0x13d/0x150
 [<6002a8f5>] ? dump_stack_lvl+0x45/0x5c
EOF
exit 1
"#;

/// A UML that boots: it does what the runner's init would do with the command (write the boot
/// mark, run the command with its output in the runner's files, write the status), and records
/// its kernel arguments. With FAKE_REFUSE_SECCOMP it has SECCOMP mode and dies in it.
const BOOTING_UML: &str = r#"#!/bin/bash
case "$1" in
  --help) echo "mem=<Amount of desired ram>"; echo "seccomp=<on/auto/off>"; exit 0 ;;
esac
echo "$*" >> "$(dirname "$0")/boots"
if [ -n "${FAKE_REFUSE_SECCOMP:-}" ] && [[ " $* " == *" seccomp=on "* ]]; then
  echo "Failed to set up the SECCOMP filter: Operation not permitted"
  exit 1
fi
for a in "$@"; do case "$a" in init=*) init=${a#init=} ;; esac; done
work=$(dirname "$init")
: > "$work/booted"
bash -c "$(cat "$work/cmd")" >>"$work/out" 2>>"$work/err" </dev/null
echo $? > "$work/rc"
"#;

struct FakeUml {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl FakeUml {
    fn new(script: &str) -> FakeUml {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("linux");
        std::fs::write(&binary, script).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeUml { dir, binary }
    }

    /// The fake's kernel command lines, one per boot (`--help` is not a boot).
    fn boots(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("boots"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `program args` with this fake as the UML, a cache (verdicts) of its own, and not marked
    /// as running inside a guest (the tests themselves may run in one).
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("CNI_CONFORM_UML", &self.binary)
            .env("CNI_CONFORM_CACHE", self.dir.path().join("cache"))
            .env("UML_BOOT_TIMEOUT", "20")
            .env_remove("CNI_CONFORM_UML_MODULES")
            .env_remove("CNI_CONFORM_UML_MODE")
            .env_remove("CNI_CONFORM_KERNEL_RUNNER");
        command
    }
}

fn ci(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ci")
        .join(script)
}

fn uml_run(fake: &FakeUml, args: &[&str]) -> Output {
    fake.command(&ci("uml-run")).args(args).output().unwrap()
}

/// The three entry points, each asked to run `true` in UML.
fn every_entry_point(fake: &FakeUml) -> Vec<(&'static str, Output)> {
    let runner = fake
        .command(&ci("kernel-runner"))
        .env("CNI_CONFORM_KERNEL", "uml")
        .arg("/bin/true")
        .output()
        .unwrap();
    let conform = fake
        .command(Path::new(env!("CARGO_BIN_EXE_cni-conform")))
        .args(["run", "--kernel", "uml", "--filter", "version"])
        .output()
        .unwrap();
    vec![
        ("ci/uml-run", uml_run(fake, &["/bin/true"])),
        ("ci/kernel-runner", runner),
        ("cni-conform run --kernel uml", conform),
    ]
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_uml_that_panics_at_its_first_process_gives_one_paragraph_with_reason_and_fix() {
    let fake = FakeUml::new(FP_REGS_PANIC);
    for (entry, output) in every_entry_point(&fake) {
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(101), "{entry}: {err}");
        let paragraph: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("uml-run: User-Mode Linux did not boot"))
            .collect();
        assert_eq!(
            paragraph.len(),
            1,
            "{entry}: one paragraph expected in:\n{err}"
        );
        let paragraph = paragraph[0];
        for part in [
            fake.binary.to_str().unwrap(),
            "\"userspace - ptrace set fp regs failed, errno = 14\"",
            "ci/setup",
            "CNI_CONFORM_UML",
        ] {
            assert!(
                paragraph.contains(part),
                "{entry}: {part:?} missing in {paragraph}"
            );
        }
        for trace in ["Call Trace", "show_stack", "Kernel panic"] {
            assert!(!err.contains(trace), "{entry}: kernel trace leaked:\n{err}");
        }
    }
    // The fake has no SECCOMP mode, so one boot was tried (ptrace); the verdict was kept and
    // the two later entry points did not boot it again.
    assert_eq!(fake.boots().len(), 1, "{:?}", fake.boots());
}

/// Outside a source tree (a copy in a folder of its own, as installed) the runner's advice names
/// `cni-conform fetch-uml` only: there is no ci/setup beside an installed binary.
#[test]
fn an_installed_cni_conform_advises_installed_commands_only() {
    let installed = tempfile::tempdir().unwrap();
    let copy = installed.path().join("cni-conform");
    std::fs::copy(env!("CARGO_BIN_EXE_cni-conform"), &copy).unwrap();
    let fake = FakeUml::new(FP_REGS_PANIC);
    let output = fake
        .command(&copy)
        .args([
            "run",
            "--plugin",
            "/bin/true",
            "--plugin-type",
            "vlan",
            "--kernel",
            "uml",
            "--filter",
            "version",
        ])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(101), "{err}");
    assert!(
        err.contains("Fix: run 'cni-conform fetch-uml' as root (it fetches Debian unstable's"),
        "{err}"
    );
    assert!(!err.contains("ci/"), "{err}");

    std::fs::remove_file(&fake.binary).unwrap();
    let output = fake
        .command(&copy)
        .args([
            "run",
            "--plugin",
            "/bin/true",
            "--plugin-type",
            "vlan",
            "--kernel",
            "uml",
        ])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(127), "{err}");
    assert!(
        err.contains("or unset it to use the one cni-conform fetch-uml fetches"),
        "{err}"
    );
    assert!(!err.contains("ci/"), "{err}");
}

#[test]
fn a_missing_uml_binary_is_named_by_every_entry_point() {
    let fake = FakeUml::new(FP_REGS_PANIC);
    std::fs::remove_file(&fake.binary).unwrap();
    for (entry, output) in every_entry_point(&fake) {
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(127), "{entry}: {err}");
        assert!(
            err.contains(&format!(
                "CNI_CONFORM_UML={} is not an executable file",
                fake.binary.display()
            )),
            "{entry}: {err}"
        );
    }
}

#[test]
fn cni_conform_uml_selects_the_binary_and_output_and_status_pass_through() {
    let fake = FakeUml::new(BOOTING_UML);
    let output = uml_run(
        &fake,
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"],
    );
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "to-stdout\n");
    assert!(stderr(&output).contains("to-stderr"), "{}", stderr(&output));
    let boots = fake.boots();
    assert_eq!(boots.len(), 1, "{boots:?}");
    assert!(
        boots[0].contains("seccomp=on"),
        "auto prefers SECCOMP mode: {boots:?}"
    );
    assert!(boots[0].contains("rootfstype=hostfs"), "{boots:?}");

    let which = uml_run(&fake, &["--which"]);
    let which = String::from_utf8_lossy(&which.stdout);
    assert!(which.starts_with(fake.binary.to_str().unwrap()), "{which}");
    assert!(which.contains("modes: seccomp ptrace"), "{which}");
}

#[test]
fn a_host_refusing_seccomp_mode_falls_back_to_ptrace_once_and_remembers() {
    let fake = FakeUml::new(BOOTING_UML);
    let run = || {
        let mut command = fake.command(&ci("uml-run"));
        command
            .env("FAKE_REFUSE_SECCOMP", "1")
            .args(["sh", "-c", "echo ran"]);
        command.output().unwrap()
    };
    let first = run();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(String::from_utf8_lossy(&first.stdout), "ran\n");
    let note = stderr(&first);
    assert!(
        note.contains("seccomp mode: \"Failed to set up the SECCOMP filter")
            && note.contains("ptrace mode boots"),
        "{note}"
    );
    let boots = fake.boots();
    assert_eq!(boots.len(), 2, "{boots:?}");
    assert!(boots[0].contains("seccomp=on") && boots[1].contains("seccomp=off"));

    let second = run();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let boots = fake.boots();
    assert_eq!(boots.len(), 3, "the verdict is reused: {boots:?}");
    assert!(boots[2].contains("seccomp=off"), "{boots:?}");
    assert!(
        !stderr(&second).contains("did not boot"),
        "{}",
        stderr(&second)
    );

    // Asking for the refused mode explicitly fails with the reason, without a fallback.
    let forced = fake
        .command(&ci("uml-run"))
        .env("FAKE_REFUSE_SECCOMP", "1")
        .env("CNI_CONFORM_UML_MODE", "seccomp")
        .arg("/bin/true")
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(101), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("Failed to set up the SECCOMP filter"));
}

/// A cached kernel is used as it is: ci/setup's second run fetches nothing. The apt-get on PATH
/// here fails loudly, so any fetch would show.
#[test]
fn uml_fetch_uses_a_cached_kernel_without_touching_apt() {
    let cache = tempfile::tempdir().unwrap();
    let version = cache.path().join("uml/7.2um1");
    std::fs::create_dir_all(version.join("modules/7.2.7")).unwrap();
    std::fs::write(version.join("linux"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        version.join("linux"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(version.join("package-version"), "7.2um1\n").unwrap();
    std::fs::write(version.join("kernel-release"), "7.2.7\n").unwrap();
    std::os::unix::fs::symlink("7.2um1", cache.path().join("uml/current")).unwrap();

    // apt fails loudly; the other tools it needs are there (whatever this machine has).
    let shims = tempfile::tempdir().unwrap();
    for (tool, body) in [
        ("apt-get", "echo \"$0 called\" >&2; exit 99"),
        ("apt-cache", "echo \"$0 called\" >&2; exit 99"),
        ("patchelf", "exit 0"),
        ("dpkg-deb", "exit 0"),
    ] {
        let shim = shims.path().join(tool);
        std::fs::write(&shim, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        shims.path().display(),
        std::env::var("PATH").unwrap()
    );
    // ci/setup's script, and the same script inside an installed cni-conform.
    let fetch = |cache: &Path, through_cni_conform: bool| {
        let mut command = if through_cni_conform {
            let mut command = Command::new(env!("CARGO_BIN_EXE_cni-conform"));
            command.arg("fetch-uml");
            command
        } else {
            Command::new(ci("uml-fetch"))
        };
        command
            .env("CNI_CONFORM_CACHE", cache)
            .env(
                "CNI_CONFORM_DEBIAN_KEYRING",
                version.join("package-version"),
            )
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    for through_cni_conform in [false, true] {
        let cached = fetch(cache.path(), through_cni_conform);
        assert_eq!(cached.status.code(), Some(0), "{}", stderr(&cached));
        assert!(
            stderr(&cached).contains("using cached user-mode-linux 7.2um1 (Linux 7.2.7"),
            "{}",
            stderr(&cached)
        );
        assert!(!stderr(&cached).contains("called"), "{}", stderr(&cached));
    }

    // With nothing cached it has to ask apt, and says so when that fails.
    let empty = tempfile::tempdir().unwrap();
    let fetched = fetch(empty.path(), true);
    assert_ne!(fetched.status.code(), Some(0), "{}", stderr(&fetched));
    assert!(
        stderr(&fetched).contains("apt-get called"),
        "{}",
        stderr(&fetched)
    );
    assert!(
        stderr(&fetched).contains("apt-get update of Debian unstable failed"),
        "{}",
        stderr(&fetched)
    );
}
