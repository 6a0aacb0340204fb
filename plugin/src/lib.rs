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

use std::future::Future;
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

/// Runs the plugin as the process's environment and stdin ask; returns the exit status.
pub fn run() -> i32 {
    let env = RawEnv::from_process();
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => execute(&env, &stdin),
        Err(source) => Err(Error::Io {
            what: "reading stdin".into(),
            source,
        }),
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
            let version = config::version_for_errors(&stdin);
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

fn execute(env: &RawEnv, stdin: &[u8]) -> Result<Option<Value>, Error> {
    let command = env.command()?;
    match command {
        Command::Version => version(stdin).map(Some),
        Command::Status | Command::Gc => {
            let conf = load(stdin, command)?;
            let ipam = delegate(&conf, env, None)?;
            commands::delegated::forward(command, ipam.as_ref(), stdin)?;
            Ok(None)
        }
        Command::Add | Command::Check | Command::Del => {
            let attachment = env.attachment(command)?;
            let conf = load(stdin, command)?;
            let placement = conf.placement(&attachment.ifname)?;
            let ipam = delegate(&conf, env, Some(placement.ipam_ifname.clone()))?;
            let inv = Invocation {
                conf: &conf,
                placement,
                sandbox: attachment.netns.as_deref().unwrap_or(""),
                ipam,
                stdin,
            };
            attach(command, &attachment, &inv)
        }
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
fn version(stdin: &[u8]) -> Result<Value, Error> {
    if stdin.iter().all(u8::is_ascii_whitespace) {
        return Ok(cni_types::version::version_reply(
            CniVersion::LATEST.as_str(),
        ));
    }
    let input = config::decode(stdin)?;
    match input.get("cniVersion") {
        None | Some(Value::Null) => Ok(cni_types::version::version_reply(
            CniVersion::LATEST.as_str(),
        )),
        Some(Value::String(v)) => Ok(cni_types::version::version_reply(v)),
        Some(other) => Err(Error::Config(format!(
            "\"cniVersion\" must be a string, got {other}"
        ))),
    }
}

/// Decodes and validates the configuration, and checks the command exists in its version.
fn load(stdin: &[u8], command: Command) -> Result<NetConf, Error> {
    let object = config::decode(stdin)?;
    let version = config::version(&object)?;
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
    NetConf::from_object(&object, version)
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
    block_on(async {
        let kernel = Rtnl::open(&netns).map_err(|source| Error::Io {
            what: format!("opening netlink sockets for CNI_NETNS {:?}", inv.sandbox),
            source,
        })?;
        if command == Command::Add {
            let result = commands::add::add(&kernel, inv).await?;
            Ok(Some(result.to_json(inv.conf.version)))
        } else {
            commands::check::check(&kernel, inv).await.map(|()| None)
        }
    })
}

/// DEL reaches into `CNI_NETNS` only if it is still a namespace; the IPAM release happens
/// regardless.
fn delete(netns_path: Option<&str>, inv: &Invocation<'_>) -> Result<(), Error> {
    let netns = netns_path.map(NetnsFile::open);
    block_on(async {
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
            Some(Ok(netns)) => match Rtnl::open(&netns) {
                Ok(kernel) => return commands::del::del(Sandbox::Reachable(&kernel), inv).await,
                Err(source) => Sandbox::Unreachable(Error::Io {
                    what: format!("opening netlink sockets for CNI_NETNS {:?}", inv.sandbox),
                    source,
                }),
            },
        };
        commands::del::del::<Rtnl>(sandbox, inv).await
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

/// The plugin is one short-lived request: a single-threaded runtime, on the main thread (which
/// stays in the runtime's namespace).
fn block_on<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the async runtime".into(),
            source,
        })?
        .block_on(work)
}
