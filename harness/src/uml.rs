//! Re-running the current command inside User-Mode Linux when this kernel cannot make VLANs,
//! with the same runner script cargo uses for tests, and fetching that UML the way `ci/setup`
//! does (both scripts embedded, so an installed binary has them).

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, ExitStatus};

use crate::kernel::{self, LinkKind, UML_FETCH_SCRIPT, UML_RUN_SCRIPT};

/// Which kernel to use, as the user asked (`--kernel` / `CNI_CONFORM_KERNEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelChoice {
    /// This kernel if it can make 802.1Q links, else User-Mode Linux.
    Auto,
    Native,
    Uml,
}

/// Makes sure the rest of the process runs on a kernel that can make VLANs: returns when this
/// one can (or the user insisted on it), otherwise replaces the process with the same command
/// inside UML. Errors say what is missing.
pub fn ensure_vlan_kernel(choice: KernelChoice) -> Result<(), String> {
    if kernel::inside_uml() {
        return Ok(());
    }
    let native_ok = || kernel::probe_vlan();
    match choice {
        KernelChoice::Native => native_ok().map_err(|e| e.to_string()),
        KernelChoice::Auto if native_ok().is_ok() => Ok(()),
        KernelChoice::Auto => reexec_in_uml("this kernel lacks 802.1Q"),
        KernelChoice::Uml => reexec_in_uml("--kernel uml"),
    }
}

/// Like [`ensure_vlan_kernel`] for a plugin type that needs other link kinds (a pack's
/// `kernel:`): this kernel when it makes every one of them, else User-Mode Linux, whose own
/// modules provide them (ci/uml-run loads them).
pub fn ensure_link_kinds(choice: KernelChoice, kinds: &[LinkKind]) -> Result<(), String> {
    if kinds.is_empty() || kinds == [LinkKind::Vlan] {
        return ensure_vlan_kernel(choice);
    }
    if kernel::inside_uml() {
        return Ok(());
    }
    let native_ok = || -> Result<(), String> {
        let missing = kernel::missing_link_kinds(kinds)?;
        match missing.first() {
            None => Ok(()),
            Some((kind, why)) => Err(format!(
                "this kernel ({}) cannot make {} links ({why}); load the {} module, or let \
                 cni-conform boot User-Mode Linux (--kernel auto or uml)",
                kernel::current().release,
                kind.name(),
                kind.module()
            )),
        }
    };
    match choice {
        KernelChoice::Native => native_ok(),
        KernelChoice::Auto => match native_ok() {
            Ok(()) => Ok(()),
            Err(why) => reexec_in_uml(&why),
        },
        KernelChoice::Uml => reexec_in_uml("--kernel uml"),
    }
}

/// For work that needs network namespaces and veth but no VLANs: this kernel, unless the user
/// asked for UML.
pub fn ensure_namespace_kernel(choice: KernelChoice) -> Result<(), String> {
    if kernel::inside_uml() {
        return Ok(());
    }
    match choice {
        KernelChoice::Auto | KernelChoice::Native => Ok(()),
        KernelChoice::Uml => reexec_in_uml("--kernel uml"),
    }
}

/// The embedded runner decides which UML to boot and explains, in one paragraph, when there is
/// none or it does not boot (exit 127 or 101); its status becomes ours.
fn reexec_in_uml(why: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    eprintln!(
        "cni-conform: running inside User-Mode Linux ({why}; host kernel {})",
        kernel::current().release
    );
    let mut args = vec![exe.into_os_string()];
    args.extend(std::env::args_os().skip(1));
    let status = run_embedded_script("runner", UML_RUN_SCRIPT, args)?;
    std::process::exit(status.code().unwrap_or(101));
}

/// `cni-conform fetch-uml`: what `ci/setup` does for a kernel without 802.1Q, for an installed
/// binary without the source tree. The script prints what it uses; its status becomes ours.
pub fn fetch_uml(refresh: bool) -> Result<std::process::ExitCode, String> {
    let args = if refresh {
        vec![OsString::from("--refresh")]
    } else {
        vec![]
    };
    let status = run_embedded_script("fetcher", UML_FETCH_SCRIPT, args)?;
    Ok(std::process::ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

fn run_embedded_script(what: &str, text: &str, args: Vec<OsString>) -> Result<ExitStatus, String> {
    let mut script = tempfile::Builder::new()
        .prefix("cni-conform-uml.")
        .tempfile()
        .map_err(|e| format!("cannot write the UML {what} script: {e}"))?;
    script
        .write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the UML {what} script: {e}"))?;
    let (advice_var, advice) = crate::source_tree::advice_env();
    Command::new("bash")
        .arg(script.path())
        .args(args)
        .env(advice_var, advice)
        .status()
        .map_err(|e| format!("cannot start the UML {what}: {e}"))
}
