//! Which runtime performs the list operations (ADD, CHECK, DEL, GC, STATUS) of a scenario: our
//! own model of libcni ([`super::chain`]) or libcni itself through its driver
//! ([`super::libcni`]). Either way the caller gets the same [`ChainRun`]s, with executions
//! recorded the same way, so judging, states and reports do not know which ran.
//!
//! The scenario runner asks for a [`ListRuntime`] per operation and uses it exactly like a
//! [`Runtime`] (it dereferences to one for single executions, which no runtime mediates).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;

use super::attachment::{Attachment, AttachmentKey};
use super::chain::{ChainError, ChainRun, PluginFailure, PluginId, Runtime};
use super::command::CniCommand;
use super::conflist::NetworkConfigList;
use super::exec::Execution;
use super::libcni::{DriverRequest, DriverRun, LibcniDriver, LibcniVersion};
use super::outcome::{Outcome, PluginResult, SuccessOutput};

/// The `--runtime` of `cni-conform run`.
#[derive(Debug, Clone, Default)]
pub enum RuntimeChoice {
    /// cni-conform's own model of libcni (the default).
    #[default]
    Ours,
    Libcni(Arc<LibcniDriver>),
}

/// What a report says about the runtime that performed the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuntimeInfo {
    /// `cni-conform` or `libcni`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libcni: Option<LibcniVersion>,
}

impl fmt::Display for RuntimeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.libcni {
            None => write!(f, "{} (its own model of libcni)", self.name),
            Some(v) => write!(
                f,
                "libcni {} ({}, built with {})",
                v.libcni, v.debian_package, v.go
            ),
        }
    }
}

impl RuntimeChoice {
    pub const NAMES: [&str; 2] = ["cni-conform", "libcni"];

    /// `cni-conform` or `libcni`; `libcni` needs its driver, which is located (and asked for
    /// its version) now, so a missing one is refused before anything runs.
    pub fn from_name(name: &str) -> Result<RuntimeChoice, String> {
        match name {
            "cni-conform" => Ok(RuntimeChoice::Ours),
            "libcni" => Ok(RuntimeChoice::Libcni(Arc::new(LibcniDriver::locate()?))),
            other => Err(format!(
                "unknown runtime {other:?}; one of {}",
                RuntimeChoice::NAMES.join(", ")
            )),
        }
    }

    pub fn info(&self) -> RuntimeInfo {
        match self {
            RuntimeChoice::Ours => RuntimeInfo {
                name: "cni-conform".into(),
                libcni: None,
            },
            RuntimeChoice::Libcni(driver) => RuntimeInfo {
                name: "libcni".into(),
                libcni: Some(driver.version.clone()),
            },
        }
    }

    pub fn is_libcni(&self) -> bool {
        matches!(self, RuntimeChoice::Libcni(_))
    }

    /// The list operations of `runtime` (its node, CNI_PATH, cache and timeout), performed by
    /// this choice.
    pub fn over<'a>(&'a self, runtime: Runtime<'a>) -> ListRuntime<'a> {
        ListRuntime {
            runtime,
            driver: match self {
                RuntimeChoice::Ours => None,
                RuntimeChoice::Libcni(driver) => Some(driver),
            },
        }
    }
}

/// A [`Runtime`] whose list operations go to the chosen runtime.
pub struct ListRuntime<'a> {
    runtime: Runtime<'a>,
    driver: Option<&'a LibcniDriver>,
}

impl<'a> Deref for ListRuntime<'a> {
    type Target = Runtime<'a>;

    fn deref(&self) -> &Runtime<'a> {
        &self.runtime
    }
}

impl ListRuntime<'_> {
    pub fn add(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<PluginResult> {
        let Some(driver) = self.driver else {
            return self.runtime.add(list, attachment);
        };
        self.through_libcni(
            driver,
            CniCommand::Add,
            list,
            Some(attachment),
            None,
            |run| {
                // libcni's result is the last plugin's; judged as our runtime judges it: the
                // execution's own classification.
                match run.executions.last().map(|e| &e.outcome) {
                    Some(Outcome::Success(SuccessOutput::Result(result))) => Ok(result.clone()),
                    _ => Err(ChainError::Libcni(
                        "ADD succeeded without a plugin printing a result".into(),
                    )),
                }
            },
        )
    }

    pub fn check(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<()> {
        match self.driver {
            None => self.runtime.check(list, attachment),
            Some(driver) => self.through_libcni(
                driver,
                CniCommand::Check,
                list,
                Some(attachment),
                None,
                |_| Ok(()),
            ),
        }
    }

    pub fn del(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<()> {
        match self.driver {
            None => self.runtime.del(list, attachment),
            Some(driver) => self.through_libcni(
                driver,
                CniCommand::Del,
                list,
                Some(attachment),
                None,
                |_| Ok(()),
            ),
        }
    }

    pub fn status(&self, list: &NetworkConfigList) -> ChainRun<()> {
        match self.driver {
            None => self.runtime.status(list),
            Some(driver) => {
                self.through_libcni(driver, CniCommand::Status, list, None, None, |_| Ok(()))
            }
        }
    }

    /// GC goes on past failures: every failed execution is an error of its own.
    pub fn gc(
        &self,
        list: &NetworkConfigList,
        valid_attachments: Option<&[AttachmentKey]>,
    ) -> ChainRun<(), Vec<ChainError>> {
        let Some(driver) = self.driver else {
            return self.runtime.gc(list, valid_attachments);
        };
        let request = DriverRequest {
            command: CniCommand::Gc,
            list,
            attachment: None,
            valid_attachments,
        };
        match driver.perform(&self.runtime, &request) {
            Err(e) => ChainRun {
                executions: Vec::new(),
                outcome: Err(vec![ChainError::Libcni(e)]),
            },
            Ok(run) => {
                let mut errors: Vec<ChainError> =
                    run.executions.iter().filter_map(plugin_failure).collect();
                if let (Err(message), true) = (&run.outcome, errors.is_empty()) {
                    errors.push(ChainError::Libcni(message.clone()));
                }
                ChainRun {
                    executions: run.executions,
                    outcome: if errors.is_empty() {
                        Ok(())
                    } else {
                        Err(errors)
                    },
                }
            }
        }
    }

    /// One operation through libcni. libcni's success still fails when an execution broke the
    /// protocol in a way libcni does not look at (e.g. DEL printing garbage): protocol judgement
    /// is the suite's, whichever runtime ran the plugins.
    fn through_libcni<T>(
        &self,
        driver: &LibcniDriver,
        command: CniCommand,
        list: &NetworkConfigList,
        attachment: Option<&Attachment>,
        valid_attachments: Option<&[AttachmentKey]>,
        success: impl FnOnce(&DriverRun) -> Result<T, ChainError>,
    ) -> ChainRun<T> {
        let request = DriverRequest {
            command,
            list,
            attachment,
            valid_attachments,
        };
        let mut run = match driver.perform(&self.runtime, &request) {
            Ok(run) => run,
            Err(e) => {
                return ChainRun {
                    executions: Vec::new(),
                    outcome: Err(ChainError::Libcni(e)),
                };
            }
        };
        // libcni names no list member: each execution's is the plugin whose configuration its
        // stdin carries, as our runtime records it.
        for execution in &mut run.executions {
            execution.member = list.position_of(execution.stdin.as_bytes());
        }
        let outcome = match &run.outcome {
            Ok(_) => match run.executions.iter().find_map(plugin_failure) {
                Some(failure) => Err(failure),
                None => success(&run),
            },
            Err(message) => Err(failure_of(&run.executions, message)),
        };
        ChainRun {
            executions: run.executions,
            outcome,
        }
    }
}

/// Why libcni stopped: the last execution's failure when a plugin failed (libcni stops at it),
/// else libcni's own refusal.
fn failure_of(executions: &[Execution], message: &str) -> ChainError {
    executions
        .last()
        .and_then(plugin_failure)
        .unwrap_or_else(|| ChainError::Libcni(message.to_string()))
}

fn plugin_failure(execution: &Execution) -> Option<ChainError> {
    let failure = match &execution.outcome {
        Outcome::Success(_) => return None,
        Outcome::Error(e) => PluginFailure::Error(e.clone()),
        Outcome::Violation(v) => PluginFailure::Violation(v.clone()),
    };
    Some(ChainError::Plugin {
        plugin: PluginId {
            plugin_type: execution.plugin.clone(),
            name: None,
        },
        command: execution.command,
        failure,
    })
}
