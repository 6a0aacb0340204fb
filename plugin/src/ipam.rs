//! The IPAM delegate: looked up by plain name in `CNI_PATH` only, run with the plugin's own
//! environment (`CNI_COMMAND` set to the delegated command, and for attachment commands
//! `CNI_IFNAME` set to the name the mode gives the delegate: the runtime's own value except in
//! chained mode) and the original stdin bytes unchanged.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use cni_types::{CniError, CniResult, CniVersion};

use crate::env::Command;
use crate::error::Error;

/// How much of a delegate's unusable output an error message quotes.
const QUOTED_OUTPUT_LIMIT: usize = 512;
const SPAWN_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegate {
    plugin: String,
    cni_path: Option<String>,
    ifname: Option<String>,
}

impl Delegate {
    /// `ifname`: the `CNI_IFNAME` the delegate sees (`None`: inherited, for STATUS and GC).
    pub fn new(plugin: &str, cni_path: Option<String>, ifname: Option<String>) -> Delegate {
        Delegate {
            plugin: plugin.to_string(),
            cni_path,
            ifname,
        }
    }

    /// The executable: the first regular, executable file named `plugin` in a `CNI_PATH`
    /// directory. ADD calls this before touching the kernel.
    pub fn locate(&self) -> Result<PathBuf, Error> {
        let cni_path = self.cni_path.as_deref().ok_or_else(|| Error::Env {
            variable: "CNI_PATH",
            problem: format!(
                "is missing or empty, but it is needed to find IPAM plugin {:?}",
                self.plugin
            ),
        })?;
        cni_path
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(&self.plugin))
            .find(|candidate| is_executable_file(candidate))
            .ok_or_else(|| Error::IpamNotFound {
                plugin: self.plugin.clone(),
                cni_path: cni_path.to_string(),
            })
    }

    pub fn add(&self, stdin: &[u8], version: CniVersion) -> Result<CniResult, Error> {
        let output = self.exec(Command::Add, stdin)?;
        let parsed = serde_json::from_slice(&output)
            .map_err(|e| e.to_string())
            .and_then(|value| CniResult::parse(&value, version).map_err(|e| e.to_string()));
        let result = match parsed {
            Ok((_, result)) => result,
            Err(problem) => {
                return Err(
                    self.bad_output(format!("returned an unusable result ({problem})"), &output)
                );
            }
        };
        if result.ips.is_empty() {
            return Err(Error::IpamNoAddresses {
                plugin: self.plugin.clone(),
            });
        }
        Ok(result)
    }

    /// DEL, CHECK, STATUS and GC: success carries no output the plugin uses.
    pub fn run(&self, command: Command, stdin: &[u8]) -> Result<(), Error> {
        self.exec(command, stdin).map(drop)
    }

    fn exec(&self, command: Command, stdin: &[u8]) -> Result<Vec<u8>, Error> {
        let executable = self.locate()?;
        let mut process = Process::new(&executable);
        process
            .env("CNI_COMMAND", command.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The delegate's logs join ours on stderr.
            .stderr(Stdio::inherit());
        if let Some(ifname) = &self.ifname {
            process.env("CNI_IFNAME", ifname);
        }
        let mut child = spawn(&mut process).map_err(|e| Error::IpamExec {
            plugin: self.plugin.clone(),
            problem: format!("could not be started from {}: {e}", executable.display()),
        })?;
        // Written from a thread: a delegate that prints before reading all of a large stdin
        // must not deadlock against us. A delegate that exits without reading is its business.
        let output = std::thread::scope(|scope| {
            if let Some(mut pipe) = child.stdin.take() {
                scope.spawn(move || {
                    let _ = pipe.write_all(stdin);
                });
            }
            child.wait_with_output()
        })
        .map_err(|e| Error::IpamExec {
            plugin: self.plugin.clone(),
            problem: format!("could not be waited for: {e}"),
        })?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        if let Some(signal) = output.status.signal() {
            return Err(Error::IpamExec {
                plugin: self.plugin.clone(),
                problem: format!("was killed by signal {signal}"),
            });
        }
        match CniError::parse(&output.stdout) {
            Ok(error) => Err(Error::Delegate {
                plugin: self.plugin.clone(),
                error,
            }),
            Err(_) => Err(self.bad_output(
                format!(
                    "failed ({}) without a valid CNI error on stdout",
                    output.status
                ),
                &output.stdout,
            )),
        }
    }

    fn bad_output(&self, problem: String, output: &[u8]) -> Error {
        let text = String::from_utf8_lossy(output);
        let output = match text.char_indices().nth(QUOTED_OUTPUT_LIMIT) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.into_owned(),
        };
        Error::IpamBadOutput {
            plugin: self.plugin.clone(),
            problem,
            output,
        }
    }
}

/// Starts the delegate, retrying "text file busy" a few times as libcni does: the binary may be
/// being replaced, or another thread may briefly hold it open for writing across a fork.
fn spawn(process: &mut Process) -> std::io::Result<std::process::Child> {
    let mut attempts = 1;
    loop {
        match process.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < SPAWN_ATTEMPTS => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                attempts += 1;
            }
            outcome => return outcome,
        }
    }
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
/// A shell-script delegate in a fresh directory: `body` runs with the request's stdin.
pub(crate) fn script_delegate(body: &str) -> (tempfile::TempDir, String) {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o755)
        .open(dir.path().join("fake-ipam"))
        .unwrap();
    writeln!(file, "#!/bin/sh\n{body}").unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    (dir, path)
}

#[cfg(test)]
mod tests {
    use cni_types::error::codes;

    use super::*;
    use crate::error::plugin_codes;

    #[test]
    fn finds_the_first_match_and_skips_directories() {
        let (dir, path) = script_delegate("exit 0");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::create_dir(dir.path().join("sub/fake-ipam")).unwrap();
        let cni_path = format!("{}/sub::{path}", dir.path().display());
        let delegate = Delegate::new("fake-ipam", Some(cni_path), None);
        assert_eq!(delegate.locate().unwrap(), dir.path().join("fake-ipam"));
    }

    #[test]
    fn a_missing_plugin_or_cni_path_names_them() {
        let error = Delegate::new("nope", Some("/nonexistent".into()), None)
            .locate()
            .unwrap_err();
        assert_eq!(error.code(), plugin_codes::IPAM_NOT_FOUND);
        assert_eq!(
            error.to_string(),
            "IPAM plugin \"nope\" not found in CNI_PATH \"/nonexistent\""
        );
        let error = Delegate::new("nope", None, None).locate().unwrap_err();
        assert_eq!(error.code(), codes::INVALID_ENVIRONMENT);
        assert!(
            error.to_string().starts_with("CNI_PATH is missing"),
            "{error}"
        );
    }

    #[test]
    fn add_sends_stdin_unchanged_and_overrides_command_and_ifname() {
        let (dir, path) = script_delegate(
            "here=$(dirname \"$0\"); cat > \"$here/stdin\"; echo \"$CNI_COMMAND $CNI_IFNAME\" > \"$here/env\"\n\
             echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\"}]}'",
        );
        let stdin = br#"{"cniVersion":"1.0.0", "weird" : [1,2]}"#;
        let result = Delegate::new("fake-ipam", Some(path), Some("eth0.3".into()))
            .add(stdin, CniVersion::V1_0_0)
            .unwrap();
        assert_eq!(result.ips[0].address.to_string(), "10.0.0.2/24");
        assert_eq!(std::fs::read(dir.path().join("stdin")).unwrap(), stdin);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("env")).unwrap(),
            "ADD eth0.3\n"
        );
    }

    #[test]
    fn a_delegate_error_keeps_its_code_and_gets_the_name_in_front() {
        let (_dir, path) = script_delegate(
            "echo '{\"code\": 11, \"msg\": \"pool busy\", \"details\": \"d\"}'; exit 1",
        );
        let error = Delegate::new("fake-ipam", Some(path), None)
            .run(Command::Del, b"{}")
            .unwrap_err();
        let cni = error.to_cni();
        assert_eq!(cni.code, 11);
        assert_eq!(cni.msg, "fake-ipam: pool busy");
        assert_eq!(cni.details.as_deref(), Some("d"));
    }

    #[test]
    fn unusable_output_is_quoted() {
        let (_dir, path) = script_delegate("echo 'panic: oops'; exit 2");
        let error = Delegate::new("fake-ipam", Some(path.clone()), None)
            .run(Command::Del, b"{}")
            .unwrap_err();
        assert_eq!(error.code(), plugin_codes::IPAM_BAD_OUTPUT);
        assert_eq!(
            error.to_string(),
            "IPAM plugin \"fake-ipam\" failed (exit status: 2) without a valid CNI error on \
             stdout; its output: \"panic: oops\\n\""
        );

        let (_dir, path) = script_delegate("echo 'not a result'");
        let error = Delegate::new("fake-ipam", Some(path), None)
            .add(b"{}", CniVersion::V1_0_0)
            .unwrap_err();
        assert_eq!(error.code(), plugin_codes::IPAM_BAD_OUTPUT);
        assert!(error.to_string().contains("\"not a result\\n\""), "{error}");
    }

    #[test]
    fn a_result_without_addresses_is_refused() {
        let (_dir, path) = script_delegate("echo '{\"cniVersion\":\"1.0.0\"}'");
        let error = Delegate::new("fake-ipam", Some(path), None)
            .add(b"{}", CniVersion::V1_0_0)
            .unwrap_err();
        assert_eq!(error.code(), plugin_codes::IPAM_NO_ADDRESSES);
    }

    #[test]
    fn a_killed_delegate_is_reported() {
        let (_dir, path) = script_delegate("kill -9 $$");
        let error = Delegate::new("fake-ipam", Some(path), None)
            .run(Command::Gc, b"{}")
            .unwrap_err();
        assert_eq!(error.code(), plugin_codes::IPAM_EXEC_FAILED);
        assert_eq!(
            error.to_string(),
            "IPAM plugin \"fake-ipam\" was killed by signal 9"
        );
    }
}
