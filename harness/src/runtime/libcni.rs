//! libcni itself as the runtime: one operation on a list is one run of the libcni driver
//! (`harness/libcni-driver`, built by `ci/libcni-build`), which performs it through libcni's
//! `AddNetworkList`, `CheckNetworkList`, `DelNetworkList`, `GCNetworkList` or
//! `GetStatusNetworkList`. libcni decides which plugin runs with which environment and stdin and
//! what is cached; each execution it asks for is handed back here and run by [`execute`] in the
//! node's netns, so its record is made exactly as our own runtime makes it (the differential test
//! compares them record for record).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::attachment::{Attachment, AttachmentKey};
use super::chain::Runtime;
use super::command::CniCommand;
use super::conflist::NetworkConfigList;
use super::exec::{ExecRequest, Execution};
use super::output::ExitStatus;

/// Where `cni-conform` looks for the driver when [`DRIVER_ENV`] is unset: what `ci/libcni-build`
/// leaves in the cache.
pub const DRIVER_ENV: &str = "CNI_CONFORM_LIBCNI_DRIVER";

/// The driver binary and what it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibcniDriver {
    pub path: PathBuf,
    pub version: LibcniVersion,
}

/// What `libcni-driver --version` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibcniVersion {
    /// Upstream libcni's version, e.g. `1.3.0`.
    pub libcni: String,
    /// The Debian package the sources came from, e.g. `golang-github-appc-cni-dev_1.3.0-2`.
    #[serde(rename = "debianPackage")]
    pub debian_package: String,
    /// The Go toolchain that built it.
    pub go: String,
}

/// What one driver run came to: libcni's answer and the executions it asked for.
#[derive(Debug)]
pub struct DriverRun {
    pub executions: Vec<Execution>,
    /// libcni's result (ADD) or its error message, verbatim.
    pub outcome: Result<Option<Value>, String>,
}

/// One operation for the driver.
pub struct DriverRequest<'a> {
    pub command: CniCommand,
    pub list: &'a NetworkConfigList,
    /// GC and STATUS concern no attachment.
    pub attachment: Option<&'a Attachment>,
    /// GC only: `None` is libcni's GC without arguments.
    pub valid_attachments: Option<&'a [AttachmentKey]>,
}

/// The driver's lines to us.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum DriverMessage {
    Exec {
        path: PathBuf,
        env: Vec<String>,
        #[serde(rename = "stdinHex")]
        stdin_hex: String,
    },
    Done {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        result: Option<Value>,
    },
}

impl LibcniDriver {
    /// `$CNI_CONFORM_LIBCNI_DRIVER`, else the cache's `libcni/current/libcni-driver`; asked for
    /// its version, so a missing or broken driver is refused before any scenario runs.
    pub fn locate() -> Result<LibcniDriver, String> {
        match std::env::var_os(DRIVER_ENV) {
            Some(path) => LibcniDriver::at(Path::new(&path))
                .map_err(|e| format!("{DRIVER_ENV}={}: {e}", Path::new(&path).display())),
            None => {
                let cache = std::env::var_os("CNI_CONFORM_CACHE")
                    .map_or_else(|| PathBuf::from("/var/cache/cni-conform"), PathBuf::from);
                let path = cache.join("libcni/current/libcni-driver");
                // Releases do not ship the driver: outside a clone there is no ci/libcni-build.
                let advice = if crate::source_tree::source_tree().is_some() {
                    format!("build the driver with ci/libcni-build (or point {DRIVER_ENV} at one)")
                } else {
                    format!("releases do not ship the libcni driver: point {DRIVER_ENV} at one")
                };
                LibcniDriver::at(&path).map_err(|e| format!("{e}; {advice}"))
            }
        }
    }

    pub fn at(path: &Path) -> Result<LibcniDriver, String> {
        if !path.is_file() {
            return Err(format!("no libcni driver at {}", path.display()));
        }
        let output = Command::new(path)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run the libcni driver {}: {e}", path.display()))?;
        let version = serde_json::from_slice(&output.stdout)
            .ok()
            .filter(|_| output.status.success())
            .ok_or_else(|| {
                format!(
                    "{} is not a libcni driver: `--version` answered {:?} ({}), stderr {:?}",
                    path.display(),
                    String::from_utf8_lossy(&output.stdout),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        Ok(LibcniDriver {
            path: path.to_path_buf(),
            version,
        })
    }

    /// Performs `request` through libcni, running every plugin execution it asks for with
    /// `runtime` (node netns, timeout, memory accounting) and the cache folder of `runtime`.
    /// `Err` only when the driver itself could not be run or spoke nonsense.
    pub fn perform(&self, runtime: &Runtime, request: &DriverRequest) -> Result<DriverRun, String> {
        let wire = wire_request(runtime, request);
        // libcni gives plugins its own environment plus the CNI variables (`Args.AsEnv`); ours
        // gives exactly those variables and PATH, so the driver gets PATH alone.
        let path = runtime
            .env(request.command, &Attachment::new("", "", Path::new("")))
            .remove("PATH")
            .unwrap_or_default();
        let mut child = Command::new(&self.path)
            .env_clear()
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the libcni driver {}: {e}", self.path.display()))?;
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut to_driver = child.stdin.take().expect("piped");
        let mut from_driver = BufReader::new(child.stdout.take().expect("piped"));
        let mut talk = || -> Result<DriverRun, String> {
            let mut executions = Vec::new();
            send(&mut to_driver, &wire)?;
            loop {
                let mut line = String::new();
                let read = from_driver
                    .read_line(&mut line)
                    .map_err(|e| format!("reading from the libcni driver: {e}"))?;
                if read == 0 {
                    return Err("the libcni driver stopped without an answer".into());
                }
                let message: DriverMessage = serde_json::from_str(&line)
                    .map_err(|e| format!("the libcni driver said {line:?}: {e}"))?;
                match message {
                    DriverMessage::Exec {
                        path,
                        env,
                        stdin_hex,
                    } => {
                        let stdin = from_hex(&stdin_hex)?;
                        let reply = match execute_for_libcni(runtime, path, &env, stdin) {
                            Ok(execution) => {
                                let reply = json!({
                                    "stdoutHex": to_hex(execution.stdout.as_bytes()),
                                    "stderrHex": to_hex(execution.stderr.as_bytes()),
                                    "exitCode": exit_code(execution.exit),
                                });
                                executions.push(execution);
                                reply
                            }
                            Err(e) => json!({ "startError": e }),
                        };
                        send(&mut to_driver, &reply)?;
                    }
                    DriverMessage::Done { error, result } => {
                        return Ok(DriverRun {
                            executions,
                            outcome: match error {
                                Some(e) => Err(e),
                                None => Ok(result),
                            },
                        });
                    }
                }
            }
        };
        let run = talk();
        drop(to_driver);
        let status = child.wait();
        let stderr = stderr_reader.join().unwrap_or_default();
        run.map_err(|e| {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            format!(
                "{e} (libcni driver {}, {status}, stderr {stderr:?})",
                self.path.display()
            )
        })
    }
}

/// The request line the driver reads (`request` in main.go).
fn wire_request(runtime: &Runtime, request: &DriverRequest) -> Value {
    let empty = Attachment::new("", "", Path::new(""));
    let attachment = request.attachment.unwrap_or(&empty);
    json!({
        "command": request.command.as_str(),
        "conflist": request.list.to_json(),
        "cniPath": runtime.cni_path().dirs(),
        "cacheDir": runtime.cache().dir(),
        "containerId": attachment.container_id,
        "netns": attachment.netns,
        "ifname": attachment.ifname,
        "args": attachment.cni_args,
        "capabilityArgs": attachment.capability_args,
        "validAttachments": request.valid_attachments,
    })
}

/// Runs what libcni asked for: its binary, environment (`K=V` lines) and stdin, recorded like any
/// execution of ours. The plugin's type is its file name, as libcni found it by type.
fn execute_for_libcni(
    runtime: &Runtime,
    binary: PathBuf,
    env: &[String],
    stdin: Vec<u8>,
) -> Result<Execution, String> {
    let env: std::collections::BTreeMap<String, String> = env
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let command = env
        .get("CNI_COMMAND")
        .and_then(|c| c.parse::<CniCommand>().ok())
        .ok_or_else(|| format!("libcni asked to run {binary:?} without a known CNI_COMMAND"))?;
    let request = ExecRequest {
        plugin: binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        binary,
        command,
        env,
        stdin,
        timeout: runtime.timeout(),
        memory: runtime.memory(),
    };
    runtime.exec(&request).map_err(|e| e.to_string())
}

/// What libcni's `exec.Cmd` sees as failure: any status but exit 0 (a signal counts).
fn exit_code(exit: ExitStatus) -> i32 {
    match exit {
        ExitStatus::Code(code) => code,
        ExitStatus::Signal(signal) => 128 + signal,
    }
}

fn send(to: &mut impl Write, message: &Value) -> Result<(), String> {
    writeln!(to, "{message}")
        .and_then(|()| to.flush())
        .map_err(|e| format!("writing to the libcni driver: {e}"))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return Err(format!("not hex from the libcni driver: {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .map_err(|e| format!("bad hex from the libcni driver: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }

    #[test]
    fn a_missing_driver_is_named_with_how_to_build_one() {
        let e = LibcniDriver::at(Path::new("/nonexistent/libcni-driver")).unwrap_err();
        assert!(e.contains("/nonexistent/libcni-driver"), "{e}");
        let e = LibcniDriver::at(Path::new("/bin/true")).unwrap_err();
        assert!(e.contains("is not a libcni driver"), "{e}");
    }
}
