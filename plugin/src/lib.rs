//! The reference `vlan` CNI plugin (contract: shared/vlan-plugin-contract.md).
//!
//! This file is the edge: it reads the environment and stdin, dispatches the command, and
//! turns the one error into the CNI error JSON on stdout with exit status 1. Nothing else
//! writes to stdout; logs go to stderr.

mod commands;
mod config;
mod env;
mod error;
mod ipam;
mod netlink;
mod netns;
mod result;
mod stdin;

use std::io::{Read, Write};

use cni_types::CniVersion;
use serde_json::Value;

use crate::commands::Invocation;
use crate::commands::del::Sandbox;
use crate::config::NetConf;
use crate::env::{Attachment, Command, RawEnv};
use crate::error::Error;
use crate::ipam::Delegate;
use crate::netlink::rtnl::Rtnl;
use crate::netns::{NetnsFile, OpenError};
use crate::stdin::Stdin;

/// Runs the plugin as the process's environment and stdin ask; returns the exit status.
pub fn run() -> i32 {
    let env = RawEnv::from_process();
    let mut bytes = Vec::new();
    let (outcome, version) = match std::io::stdin().read_to_end(&mut bytes) {
        Ok(_) => {
            let stdin = Stdin::new(bytes);
            (execute(&env, &stdin), stdin.version_for_errors())
        }
        Err(source) => {
            let error = Error::Io {
                what: "reading stdin".into(),
                source,
            };
            (Err(error), CniVersion::LATEST)
        }
    };
    match outcome {
        Ok(output) => {
            if let Some(output) = output {
                print_json(&output);
            }
            0
        }
        Err(error) => {
            log(&error.to_string());
            print_json(&error.to_cni().to_json(version.as_str()));
            1
        }
    }
}

/// A line on stderr. Never fails: a closed stderr must not turn into a panic.
pub(crate) fn log(message: &str) {
    let _ = writeln!(std::io::stderr(), "vlan: {message}");
}

fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn execute(env: &RawEnv, stdin: &Stdin) -> Result<Option<Value>, Error> {
    let command = env.command()?;
    match command {
        Command::Version => version(stdin).map(Some),
        Command::Status | Command::Gc => {
            let conf = load(stdin, command)?;
            let ipam = delegate(&conf, env, None)?;
            commands::delegated::forward(command, ipam.as_ref(), stdin.raw())?;
            Ok(None)
        }
        Command::Add | Command::Check | Command::Del => {
            let attachment = env.attachment(command)?;
            let conf = match load(stdin, command) {
                Err(rejected @ Error::Config(_)) if command == Command::Del => {
                    return release_after_rejected_config(&rejected, stdin, env).map(|()| None);
                }
                loaded => loaded?,
            };
            let placement = conf.placement(&attachment.ifname);
            if let Err(e) = placement.validate() {
                // ADD validates the name before it creates or reserves anything, so a DEL
                // under a name the kernel cannot carry has nothing to undo (and a delegate
                // would reject the name).
                if command == Command::Del {
                    log(&format!(
                        "DEL: {e}; ADD cannot have made anything: nothing to delete"
                    ));
                    return Ok(None);
                }
                return Err(e);
            }
            let ipam = delegate(&conf, env, Some(placement.ipam_ifname.clone()))?;
            let sandbox = attachment.netns.as_deref().unwrap_or("");
            let temp_name =
                commands::temp_name(&attachment.container_id, sandbox, &placement.link_name);
            let inv = Invocation {
                conf: &conf,
                placement,
                sandbox,
                ipam,
                stdin: stdin.raw(),
                temp_name,
            };
            attach(command, &attachment, &inv)
        }
    }
}

/// DEL with a configuration ADD refuses: ADD validates before it creates or reserves
/// anything, so there is nothing in the kernel to undo. A runtime sends this DEL after every
/// failed ADD, and failing it would block the cleanup of the plugins before us in the chain,
/// so DEL still asks the IPAM to release (when the `ipam` part is readable) and succeeds.
fn release_after_rejected_config(
    rejected: &Error,
    stdin: &Stdin,
    env: &RawEnv,
) -> Result<(), Error> {
    log(&format!(
        "DEL: the configuration is invalid ({rejected}); ADD cannot have made anything"
    ));
    let ipam = stdin
        .object()
        .ok()
        .and_then(|object| config::ipam(object).ok().flatten());
    match ipam {
        Some(plugin) => {
            Delegate::new(&plugin, env.cni_path()?, None).run(Command::Del, stdin.raw())
        }
        None => Ok(()),
    }
}

/// The IPAM delegate, if the configuration has one.
fn delegate(
    conf: &NetConf,
    env: &RawEnv,
    ifname: Option<String>,
) -> Result<Option<Delegate>, Error> {
    match conf.ipam.as_deref() {
        Some(plugin) => Ok(Some(Delegate::new(plugin, env.cni_path()?, ifname))),
        None => Ok(None),
    }
}

/// The VERSION reply; `cniVersion` echoes the input's (1.1.0 when stdin has none).
fn version(stdin: &Stdin) -> Result<Value, Error> {
    let input = if stdin.is_blank() {
        None
    } else {
        Some(stdin.object()?)
    };
    let version = match input.as_ref().and_then(|i| i.get("cniVersion")) {
        None | Some(Value::Null) => CniVersion::LATEST.as_str(),
        Some(Value::String(v)) => v,
        Some(other) => {
            return Err(Error::Config(format!(
                "\"cniVersion\" must be a string, got {other}"
            )));
        }
    };
    Ok(cni_types::version::version_reply(version))
}

/// Decodes and validates the configuration, and checks the command exists in its version.
fn load(stdin: &Stdin, command: Command) -> Result<NetConf, Error> {
    let object = stdin.object()?;
    let version = config::version(object)?;
    let needs = match command {
        Command::Check => CniVersion::V0_4_0,
        Command::Status | Command::Gc => CniVersion::V1_1_0,
        _ => CniVersion::V0_1_0,
    };
    if version < needs {
        return Err(Error::CommandNotInVersion {
            command: command.as_str(),
            version,
            needs,
        });
    }
    NetConf::from_object(object, version)
}

fn attach(
    command: Command,
    attachment: &Attachment,
    inv: &Invocation<'_>,
) -> Result<Option<Value>, Error> {
    if command == Command::Del {
        return delete(attachment.netns.as_deref(), inv).map(|()| None);
    }
    let netns = open_netns(inv.sandbox)?;
    if command == Command::Add && netns.is_plugin_namespace().unwrap_or(false) {
        return Err(Error::Env {
            variable: "CNI_NETNS",
            problem: format!(
                "{:?} is the plugin's own network namespace, not a container's",
                inv.sandbox
            ),
        });
    }
    let kernel = open_kernel(&netns, inv)?;
    if command == Command::Add {
        let result = commands::add::add(&kernel, inv)?;
        Ok(Some(result.to_json(inv.conf.version)))
    } else {
        commands::check::check(&kernel, inv).map(|()| None)
    }
}

/// DEL reaches into `CNI_NETNS` only if it is still a namespace; the IPAM release happens
/// regardless.
fn delete(netns_path: Option<&str>, inv: &Invocation<'_>) -> Result<(), Error> {
    let netns = netns_path.map(NetnsFile::open);
    let sandbox = match netns {
        None => Sandbox::Gone("CNI_NETNS is empty".into()),
        Some(Err(OpenError::Missing)) => {
            Sandbox::Gone(format!("CNI_NETNS {:?} does not exist", inv.sandbox))
        }
        Some(Err(OpenError::NotANetns)) => Sandbox::Gone(format!(
            "CNI_NETNS {:?} is no longer a network namespace",
            inv.sandbox
        )),
        Some(Err(OpenError::Io(source))) => Sandbox::Unreachable(Error::Io {
            what: format!("opening CNI_NETNS {:?}", inv.sandbox),
            source,
        }),
        Some(Ok(netns)) => match open_kernel(&netns, inv) {
            Ok(kernel) => return commands::del::del(Sandbox::Reachable(&kernel), inv),
            Err(error) => Sandbox::Unreachable(error),
        },
    };
    commands::del::del::<Rtnl>(sandbox, inv)
}

/// The route sockets in the runtime's namespace and in `CNI_NETNS`.
fn open_kernel<'a>(netns: &'a NetnsFile, inv: &Invocation<'_>) -> Result<Rtnl<'a>, Error> {
    Rtnl::open(netns).map_err(|source| Error::Io {
        what: format!("opening netlink sockets for CNI_NETNS {:?}", inv.sandbox),
        source,
    })
}

/// `CNI_NETNS` for ADD and CHECK: code 3 when it is not (or no longer) a network namespace.
fn open_netns(path: &str) -> Result<NetnsFile, Error> {
    NetnsFile::open(path).map_err(|e| match e {
        OpenError::Missing => Error::NetnsMissing {
            path: path.to_string(),
        },
        OpenError::NotANetns => Error::NotANetns {
            path: path.to_string(),
        },
        OpenError::Io(source) => Error::Io {
            what: format!("opening CNI_NETNS {path:?}"),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use cni_types::error::codes;
    use serde_json::json;

    use super::*;
    use crate::ipam::script_delegate;

    fn env(command: &str, netns: &str, cni_path: Option<&str>) -> RawEnv {
        RawEnv {
            command: Some(command.into()),
            container_id: Some("ctr1".into()),
            netns: Some(netns.into()),
            ifname: Some("net1".into()),
            path: cni_path.map(OsString::from),
        }
    }

    fn stdin(config: Value) -> Stdin {
        Stdin::new(serde_json::to_vec(&config).unwrap())
    }

    fn raw(bytes: &[u8]) -> Stdin {
        Stdin::new(bytes.to_vec())
    }

    fn config(version: &str) -> Value {
        json!({"cniVersion": version, "name": "net", "type": "vlan", "master": "eth0"})
    }

    #[test]
    fn version_echoes_the_input_version() {
        let reply = execute(
            &env("VERSION", "", None),
            &raw(br#"{"cniVersion": "0.3.1"}"#),
        )
        .unwrap();
        assert_eq!(reply.unwrap()["cniVersion"], "0.3.1");
        let reply = execute(&env("VERSION", "", None), &raw(b"")).unwrap();
        assert_eq!(reply.unwrap()["cniVersion"], "1.1.0");
        let error = execute(&env("VERSION", "", None), &raw(b"{oops")).unwrap_err();
        assert_eq!(error.code(), codes::DECODING_FAILURE);
    }

    #[test]
    fn commands_newer_than_the_configuration_are_code_1() {
        for (command, version, needs) in [
            ("CHECK", "0.3.1", "0.4.0"),
            ("STATUS", "1.0.0", "1.1.0"),
            ("GC", "0.4.0", "1.1.0"),
        ] {
            let error = execute(&env(command, "/x", None), &stdin(config(version))).unwrap_err();
            assert_eq!(error.code(), codes::INCOMPATIBLE_VERSION);
            assert_eq!(
                error.to_string(),
                format!(
                    "cniVersion {version} does not allow {command} (it needs {needs} or later)"
                )
            );
        }
    }

    #[test]
    fn gc_and_status_forward_stdin_unchanged_or_succeed_alone() {
        assert!(
            execute(&env("GC", "", None), &stdin(config("1.1.0")))
                .unwrap()
                .is_none()
        );
        let (dir, path) = script_delegate(
            "here=$(dirname \"$0\"); cat > \"$here/stdin\"; echo \"$CNI_COMMAND\" >> \"$here/calls\"",
        );
        let mut gc = config("1.1.0");
        gc["ipam"] = json!({"type": "fake-ipam"});
        gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "net1"}]);
        let bytes = stdin(gc);
        for command in ["GC", "STATUS"] {
            assert!(
                execute(&env(command, "", Some(&path)), &bytes)
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(
            std::fs::read(dir.path().join("stdin")).unwrap(),
            bytes.raw()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("calls")).unwrap(),
            "GC\nSTATUS\n"
        );
    }

    #[test]
    fn add_needs_a_container_namespace() {
        let error =
            execute(&env("ADD", "/nonexistent", None), &stdin(config("1.0.0"))).unwrap_err();
        assert_eq!(error.code(), codes::UNKNOWN_CONTAINER);
        let error = execute(&env("ADD", "/dev/null", None), &stdin(config("1.0.0"))).unwrap_err();
        assert_eq!(error.code(), codes::UNKNOWN_CONTAINER);
        assert_eq!(
            error.to_string(),
            "CNI_NETNS \"/dev/null\" is not a network namespace"
        );
        let error = execute(
            &env("ADD", "/proc/thread-self/ns/net", None),
            &stdin(config("1.0.0")),
        )
        .unwrap_err();
        assert_eq!(error.code(), codes::INVALID_ENVIRONMENT);
        assert!(
            error
                .to_string()
                .contains("the plugin's own network namespace"),
            "{error}"
        );
    }

    #[test]
    fn del_without_the_namespace_still_releases_the_address() {
        let (dir, path) =
            script_delegate("echo \"$CNI_COMMAND $CNI_IFNAME\" >> \"$(dirname \"$0\")/calls\"");
        let mut del = config("1.0.0");
        del["ipam"] = json!({"type": "fake-ipam"});
        for netns in ["/nonexistent", "/dev/null", ""] {
            assert!(
                execute(&env("DEL", netns, Some(&path)), &stdin(del.clone()))
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("calls")).unwrap(),
            "DEL net1\nDEL net1\nDEL net1\n"
        );
    }
}
