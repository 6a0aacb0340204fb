//! What a plugin's exit status and stdout mean under the protocol (research/cni-spec.md §4.6,
//! §5.3): exit 0 with the command's output (a Result for ADD, the version reply for VERSION,
//! nothing otherwise), or a non-zero exit with the error object on stdout. Anything else is a
//! [`Violation`] carrying the raw bytes; smaller drifts that do not change the meaning are
//! [`Finding`]s.

use std::fmt;
use std::time::Duration;

use cni_types::error::codes;
use cni_types::{CniError, CniResult, CniVersion};
use serde::Serialize;
use serde_json::Value;

use super::command::CniCommand;
use super::output::{ExitStatus, RawBytes};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success(SuccessOutput),
    /// A protocol-conformant failure.
    Error(CniError),
    Violation(Violation),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuccessOutput {
    Nothing,
    Result(PluginResult),
    Version(VersionInfo),
}

/// A Result as a plugin returned it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginResult {
    /// The result's own `cniVersion` (the requested one when the plugin omitted it).
    pub version: CniVersion,
    pub result: CniResult,
    /// The JSON as printed, with `cniVersion` filled in when missing (libcni's
    /// `fixupResultVersion`): what the next plugin receives as `prevResult`.
    pub json: Value,
}

/// A VERSION reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub cni_version: String,
    pub supported_versions: Vec<String>,
}

/// Output that is neither a success nor a spec error: the exec itself is a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind}: {detail}; stdout: {stdout:?}")]
pub struct Violation {
    pub kind: ViolationKind,
    pub detail: String,
    /// stdout exactly as the plugin printed it.
    pub stdout: RawBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    TimedOut,
    KilledBySignal,
    NotJson,
    /// Exit 0 with an error object on stdout.
    ErrorWithExitZero,
    /// Non-zero exit and nothing on stdout.
    FailureWithoutOutput,
    /// Non-zero exit with JSON on stdout that is not an error object.
    FailureWithoutErrorObject,
    /// ADD or VERSION succeeded without printing anything.
    MissingOutput,
    MalformedResult,
    MalformedVersionReply,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViolationKind::TimedOut => "timed out",
            ViolationKind::KilledBySignal => "killed by a signal",
            ViolationKind::NotJson => "stdout is not JSON",
            ViolationKind::ErrorWithExitZero => "error object printed with exit status 0",
            ViolationKind::FailureWithoutOutput => "failed with no error message",
            ViolationKind::FailureWithoutErrorObject => "failed without an error object",
            ViolationKind::MissingOutput => "succeeded without printing its output",
            ViolationKind::MalformedResult => "printed a malformed result",
            ViolationKind::MalformedVersionReply => "printed a malformed VERSION reply",
        })
    }
}

/// Drifts that do not change what the execution means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The Result's `cniVersion` is not the one the configuration asked for.
    ResultVersionMismatch {
        requested: CniVersion,
        returned: CniVersion,
    },
    /// CHECK, DEL, GC or STATUS succeeded and printed JSON anyway (the spec says: nothing).
    OutputOnSuccess,
    /// An error code in the spec's reserved range (0-99) that the spec does not define.
    ReservedErrorCode { code: u32 },
}

/// Classifies an execution. `timed_out`: the timeout, when we had to kill the plugin.
pub fn classify(
    command: CniCommand,
    requested: CniVersion,
    exit: ExitStatus,
    timed_out: Option<Duration>,
    stdout: &[u8],
) -> (Outcome, Vec<Finding>) {
    let violation = |kind, detail: String| {
        Outcome::Violation(Violation {
            kind,
            detail,
            stdout: RawBytes(stdout.to_vec()),
        })
    };
    if let Some(timeout) = timed_out {
        let detail = format!("killed after {} ms", timeout.as_millis());
        return (violation(ViolationKind::TimedOut, detail), Vec::new());
    }
    let code = match exit {
        ExitStatus::Signal(signal) => {
            let name = nix::sys::signal::Signal::try_from(signal)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            let detail = format!("signal {signal} ({name})");
            return (violation(ViolationKind::KilledBySignal, detail), Vec::new());
        }
        ExitStatus::Code(code) => code,
    };
    let text = stdout.trim_ascii();
    if code != 0 {
        return classify_failure(code, text, violation);
    }
    if text.is_empty() {
        return match command {
            CniCommand::Add | CniCommand::Version => {
                let detail = format!("{command} exited 0 with nothing on stdout");
                (violation(ViolationKind::MissingOutput, detail), Vec::new())
            }
            _ => (Outcome::Success(SuccessOutput::Nothing), Vec::new()),
        };
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        Err(e) => {
            return (
                violation(ViolationKind::NotJson, format!("exit 0: {e}")),
                Vec::new(),
            );
        }
    };
    if value.get("code").is_some()
        && let Ok(error) = serde_json::from_value::<CniError>(value.clone())
    {
        return (
            violation(ViolationKind::ErrorWithExitZero, error.to_string()),
            Vec::new(),
        );
    }
    match command {
        CniCommand::Add => match CniResult::parse(&value, requested) {
            Ok((version, result)) => {
                let mut json = value;
                if json.get("cniVersion").is_none_or(Value::is_null) {
                    json["cniVersion"] = requested.as_str().into();
                }
                let findings = if version == requested {
                    Vec::new()
                } else {
                    vec![Finding::ResultVersionMismatch {
                        requested,
                        returned: version,
                    }]
                };
                let output = SuccessOutput::Result(PluginResult {
                    version,
                    result,
                    json,
                });
                (Outcome::Success(output), findings)
            }
            Err(e) => (
                violation(ViolationKind::MalformedResult, e.to_string()),
                Vec::new(),
            ),
        },
        CniCommand::Version => match parse_version_reply(&value) {
            Ok(info) => (Outcome::Success(SuccessOutput::Version(info)), Vec::new()),
            Err(detail) => (
                violation(ViolationKind::MalformedVersionReply, detail),
                Vec::new(),
            ),
        },
        _ => (
            Outcome::Success(SuccessOutput::Nothing),
            vec![Finding::OutputOnSuccess],
        ),
    }
}

fn classify_failure(
    code: i32,
    text: &[u8],
    violation: impl Fn(ViolationKind, String) -> Outcome,
) -> (Outcome, Vec<Finding>) {
    if text.is_empty() {
        let detail = format!("exit status {code}");
        return (
            violation(ViolationKind::FailureWithoutOutput, detail),
            Vec::new(),
        );
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        Err(e) => {
            let detail = format!("exit status {code}: {e}");
            return (violation(ViolationKind::NotJson, detail), Vec::new());
        }
    };
    match serde_json::from_value::<CniError>(value) {
        Ok(error) => {
            let findings = if codes::is_valid(error.code) {
                Vec::new()
            } else {
                vec![Finding::ReservedErrorCode { code: error.code }]
            };
            (Outcome::Error(error), findings)
        }
        Err(e) => {
            let detail = format!("exit status {code}: {e}");
            (
                violation(ViolationKind::FailureWithoutErrorObject, detail),
                Vec::new(),
            )
        }
    }
}

/// libcni's `PluginDecoder`: `cniVersion` is required; a reply without `supportedVersions`
/// is accepted only from a 0.2.0 plugin, meaning 0.1.0 and 0.2.0.
fn parse_version_reply(value: &Value) -> Result<VersionInfo, String> {
    let cni_version = match value.get("cniVersion") {
        Some(Value::String(v)) if !v.is_empty() => v.clone(),
        _ => return Err("missing field cniVersion".into()),
    };
    let supported_versions = match value.get("supportedVersions") {
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("supportedVersions must be a list of strings")?,
        _ if cni_version == "0.2.0" => vec!["0.1.0".into(), "0.2.0".into()],
        _ => return Err("missing field supportedVersions".into()),
    };
    Ok(VersionInfo {
        cni_version,
        supported_versions,
    })
}
