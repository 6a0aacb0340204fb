//! `conform-broken-vlan`: the reference `vlan` (found as `vlan` next to this executable) with
//! one deliberate defect, chosen by the name this executable is run under, so tests can check
//! that the suite catches each kind of broken VLAN plugin:
//!
//! - `broken-drop-prev-result`: removes `prevResult` from stdin before delegating, so results
//!   hold only the new interface and CHECK has nothing to check against;
//! - `broken-delete-master`: after a successful DEL, also deletes the master link;
//! - `broken-leak-on-ipam-failure`: when ADD fails, creates a VLAN link with the target name
//!   again, i.e. leaves a link behind;
//! - `broken-wrong-vlan-id`: creates the VLAN with `vlanId + 1`;
//! - `broken-misnamed-result`: a successful ADD's result names the new interface as the kernel
//!   would not have it (`<name>%d`, as a plugin that passes a `%` template on to the kernel).
//!
//! The name is the executable file's own (`/proc/self/exe`), not `argv[0]`: runtimes run a
//! plugin through a symlink named after its type, and `cni-conform` links plugins by their
//! resolved path. So give this executable the names as hard links, next to a `vlan` (symlink)
//! to the reference plugin.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use cni_conform::netns::Netns;
use futures_util::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::{Handle, LinkUnspec, LinkVlan};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breakage {
    DropPrevResult,
    DeleteMaster,
    LeakOnIpamFailure,
    WrongVlanId,
    MisnamedResult,
}

impl Breakage {
    const NAMES: [(&'static str, Breakage); 5] = [
        ("broken-drop-prev-result", Breakage::DropPrevResult),
        ("broken-delete-master", Breakage::DeleteMaster),
        ("broken-leak-on-ipam-failure", Breakage::LeakOnIpamFailure),
        ("broken-wrong-vlan-id", Breakage::WrongVlanId),
        ("broken-misnamed-result", Breakage::MisnamedResult),
    ];

    fn from_file_name(name: &str) -> Option<Breakage> {
        Breakage::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    /// The stdin the reference plugin gets instead of ours.
    fn rewrite_stdin(self, stdin: Vec<u8>) -> Vec<u8> {
        let Ok(Value::Object(mut config)) = serde_json::from_slice::<Value>(&stdin) else {
            return stdin; // not a configuration: the reference plugin reports that itself
        };
        match self {
            Breakage::DropPrevResult => {
                config.remove("prevResult");
            }
            Breakage::WrongVlanId => {
                let id = config.get("vlanId").map_or(Some(0), Value::as_u64);
                if let Some(id) = id {
                    config.insert("vlanId".into(), (id + 1).into());
                }
            }
            Breakage::DeleteMaster | Breakage::LeakOnIpamFailure | Breakage::MisnamedResult => {
                return stdin;
            }
        }
        Value::Object(config).to_string().into_bytes()
    }
}

fn main() -> ExitCode {
    // The executable's own file name, not argv[0]: a runtime runs plugins through symlinks
    // named after their type.
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("conform-broken-vlan: cannot find my own executable: {e}");
            return ExitCode::from(2);
        }
    };
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(breakage) = Breakage::from_file_name(&name) else {
        let names: Vec<&str> = Breakage::NAMES.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "conform-broken-vlan: give me one of the names {} (hard links), not {name:?}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    match run(breakage, &exe.with_file_name("vlan")) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(breakage: Breakage, reference: &Path) -> io::Result<ExitCode> {
    let mut stdin = Vec::new();
    io::stdin().read_to_end(&mut stdin)?;
    let config: Value = serde_json::from_slice(&stdin).unwrap_or(Value::Null);
    let command = std::env::var("CNI_COMMAND").unwrap_or_default();

    let mut child = Command::new(reference)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", reference.display())))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(&breakage.rewrite_stdin(stdin))?;
    }
    let output = child.wait_with_output()?;
    let succeeded = output.status.success();

    let damage = match (breakage, command.as_str(), succeeded) {
        (Breakage::DeleteMaster, "DEL", true) => Some(Damage::DeleteMaster),
        (Breakage::LeakOnIpamFailure, "ADD", false) => Some(Damage::LeaveVlan),
        _ => None,
    };
    if let Some(damage) = damage
        && let Some(placement) = Placement::of(&config)
        && let Err(e) = damage.apply(&placement)
    {
        eprintln!("conform-broken-vlan: {damage:?}: {e}");
    }
    let stdout = match (breakage, command.as_str(), succeeded) {
        (Breakage::MisnamedResult, "ADD", true) => misname_last_interface(output.stdout),
        _ => output.stdout,
    };
    io::stdout().write_all(&stdout)?;
    Ok(ExitCode::from(
        u8::try_from(output.status.code().unwrap_or(1)).unwrap_or(1),
    ))
}

/// The result with its last interface (the new VLAN) renamed `<name>%d`.
fn misname_last_interface(stdout: Vec<u8>) -> Vec<u8> {
    let Ok(mut result) = serde_json::from_slice::<Value>(&stdout) else {
        return stdout;
    };
    let name = result
        .get_mut("interfaces")
        .and_then(Value::as_array_mut)
        .and_then(|interfaces| interfaces.last_mut())
        .and_then(|interface| interface.get_mut("name"));
    match name {
        Some(Value::String(name)) => name.push_str("%d"),
        _ => return stdout,
    }
    result.to_string().into_bytes()
}

/// Where the reference plugin put (or would put) the VLAN: the three modes of the contract.
#[derive(Debug)]
struct Placement {
    master: String,
    /// `None`: the netns this plugin runs in.
    master_netns: Option<PathBuf>,
    target: String,
    target_netns: PathBuf,
    vlan_id: u16,
}

impl Placement {
    fn of(config: &Value) -> Option<Placement> {
        let ifname = std::env::var("CNI_IFNAME").ok()?;
        let netns = PathBuf::from(std::env::var_os("CNI_NETNS")?);
        let vlan_id = config
            .get("vlanId")
            .map_or(Some(0), Value::as_u64)
            .and_then(|id| u16::try_from(id).ok())?;
        let master = config
            .get("master")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty());
        let in_container = config
            .get("linkInContainer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (master, master_netns, target) = match (master, in_container) {
            (Some(m), false) => (m.to_string(), None, ifname),
            (Some(m), true) => (m.to_string(), Some(netns.clone()), ifname),
            (None, true) => (
                ifname.clone(),
                Some(netns.clone()),
                format!("{ifname}.{vlan_id}"),
            ),
            (None, false) => return None,
        };
        Some(Placement {
            master,
            master_netns,
            target,
            target_netns: netns,
            vlan_id,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    DeleteMaster,
    /// A VLAN on the master, named and placed as the plugin's own would be.
    LeaveVlan,
}

impl Damage {
    fn apply(self, placement: &Placement) -> io::Result<()> {
        let own = PathBuf::from("/proc/self/ns/net");
        let master_ns = Netns::open("master", placement.master_netns.as_deref().unwrap_or(&own))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let master = master_ns.handle()?;
            let master_index = index_of(&master, &placement.master).await?;
            match self {
                Damage::DeleteMaster => master
                    .link()
                    .del(master_index)
                    .execute()
                    .await
                    .map_err(netlink),
                Damage::LeaveVlan => leave_vlan(placement, &master, master_index).await,
            }
        })
    }
}

async fn leave_vlan(placement: &Placement, master: &Handle, master_index: u32) -> io::Result<()> {
    if placement.master_netns.is_some() {
        // Master and target share the container netns.
        let link = LinkVlan::new(&placement.target, master_index, placement.vlan_id).build();
        return master.link().add(link).execute().await.map_err(netlink);
    }
    // Made under a temporary name: the target name may be taken in the master's netns.
    let target_ns = Netns::open("target", &placement.target_netns)?;
    let temp = format!("cbv{}", std::process::id());
    let link = LinkVlan::new(&temp, master_index, placement.vlan_id)
        .setns_by_fd(target_ns.fd().as_raw_fd())
        .build();
    master.link().add(link).execute().await.map_err(netlink)?;
    let target = target_ns.handle()?;
    let index = index_of(&target, &temp).await?;
    target
        .link()
        .change(
            LinkUnspec::new_with_index(index)
                .name(placement.target.clone())
                .build(),
        )
        .execute()
        .await
        .map_err(netlink)
}

async fn index_of(handle: &Handle, name: &str) -> io::Result<u32> {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(netlink)?;
    link.map(|l| l.header.index)
        .ok_or_else(|| io::Error::other(format!("no link {name:?}")))
}

/// Keeps the kernel's errno.
fn netlink(error: rtnetlink::Error) -> io::Error {
    match &error {
        rtnetlink::Error::NetlinkError(message) => match message.code {
            Some(code) => io::Error::from(Errno::from_raw(-code.get())),
            None => io::Error::other(error.to_string()),
        },
        _ => io::Error::other(error.to_string()),
    }
}
