//! The operations of a runtime over a whole configuration list, with libcni's semantics
//! (research/cni-spec.md §4.4, §5.1):
//!
//! - ADD runs the plugins in order; each gets `name`, `cniVersion`, `runtimeConfig` (its enabled
//!   capabilities that have an argument) and, from the second on, the previous plugin's result as
//!   `prevResult`. It stops at the first failure (no automatic DEL: the caller must DEL) and
//!   caches the final result.
//! - CHECK (config >= 0.4.0, else refused; `disableCheck` succeeds without running anything)
//!   runs in order with the cached result as `prevResult`; DEL runs in reverse order with it
//!   (>= 0.4.0 only) and removes the cache on success. Both stop at the first failure.
//! - GC first DELs every cached attachment of the network that is not valid, then (>= 1.1.0)
//!   runs GC on every plugin with `cni.dev/valid-attachments` and the legacy
//!   `cni.dev/attachments`, continuing past failures and returning all of them.
//! - STATUS (>= 1.1.0) runs on every plugin, stopping at the first failure.
//! - VERSION is sent to every plugin; each must support the list's version.
//!
//! Every plugin execution is recorded in the returned [`ChainRun`].

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_types::{CniError, CniResult, CniVersion};
use serde_json::{Value, json};

use super::attachment::{Attachment, AttachmentKey};
use super::cache::{CachedAttachment, ResultCache};
use super::cni_path::{CniPath, FindError};
use super::command::CniCommand;
use super::conflist::{NetworkConfigList, PluginConfig};
use super::exec::{ExecRequest, Execution, MemoryAccounting, execute};
use super::outcome::{Outcome, PluginResult, SuccessOutput, VersionInfo, Violation};
use crate::netns::Netns;

/// Plenty for one plugin process in User-Mode Linux, where a process start costs ~50 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `PATH` for plugins when the harness itself has none (shell-script plugins need one).
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A runtime: where plugins run (the node's netns), how they are found, where results are
/// cached, and how long one execution may take.
#[derive(Debug)]
pub struct Runtime<'a> {
    node: &'a Netns,
    cni_path: CniPath,
    cache: ResultCache,
    timeout: Duration,
    memory: MemoryAccounting,
}

/// The executions an operation made and what it came to.
#[derive(Debug)]
pub struct ChainRun<T, E = ChainError> {
    pub executions: Vec<Execution>,
    pub outcome: Result<T, E>,
}

/// A plugin as libcni names it in messages: `type="vlan"`, plus ` name="..."` when the plugin
/// object has its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginId {
    pub plugin_type: String,
    pub name: Option<String>,
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type={:?}", self.plugin_type)?;
        if let Some(name) = &self.name {
            write!(f, " name={name:?}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("plugin {plugin} failed ({}): {failure}", command.as_str().to_lowercase())]
    Plugin {
        plugin: PluginId,
        command: CniCommand,
        failure: PluginFailure,
    },
    #[error("configuration version \"{version}\" does not support the {command} command")]
    Unsupported {
        version: CniVersion,
        command: CniCommand,
    },
    /// libcni (as the runtime, [`super::choice`]) refused or failed the operation without a
    /// plugin failing: its message, verbatim.
    #[error("libcni: {0}")]
    Libcni(String),
    #[error("invalid attachment: {0}")]
    InvalidAttachment(String),
    #[error("result cache: {0}")]
    Cache(io::Error),
    #[error("failed to delete stale attachment {} {}: {source}", key.container_id, key.ifname)]
    StaleAttachment {
        key: AttachmentKey,
        source: Box<ChainError>,
    },
    #[error(
        "plugin {plugin} does not support config version \"{version}\" (it supports {supported:?})"
    )]
    VersionUnsupported {
        plugin: PluginId,
        version: CniVersion,
        supported: Vec<String>,
    },
}

/// Why one plugin execution failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginFailure {
    #[error("{0}")]
    NotFound(FindError),
    #[error("could not run it: {0}")]
    Exec(io::Error),
    /// The plugin's own error object.
    #[error("{0}")]
    Error(CniError),
    #[error("{0}")]
    Violation(Violation),
}

impl ChainError {
    /// The plugin's error object, when a plugin failed the protocol's way.
    pub fn cni_error(&self) -> Option<&CniError> {
        match self {
            ChainError::Plugin {
                failure: PluginFailure::Error(e),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// The protocol violation, when a plugin's output was neither a success nor an error.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            ChainError::Plugin {
                failure: PluginFailure::Violation(v),
                ..
            } => Some(v),
            _ => None,
        }
    }
}

impl PluginConfig {
    fn id(&self) -> PluginId {
        PluginId {
            plugin_type: self.plugin_type.clone(),
            name: self.name.clone(),
        }
    }
}

impl<'a> Runtime<'a> {
    /// `cache_dir`: the sandbox's own folder (never /var/lib/cni).
    pub fn new(node: &'a Netns, cni_path: CniPath, cache_dir: impl Into<PathBuf>) -> Runtime<'a> {
        Runtime {
            node,
            cni_path,
            cache: ResultCache::new(cache_dir),
            timeout: DEFAULT_TIMEOUT,
            memory: MemoryAccounting::default(),
        }
    }

    /// How the executions' peak RSS is measured (benchmarks' memory runs: the plugin alone).
    pub fn with_memory(mut self, memory: MemoryAccounting) -> Runtime<'a> {
        self.memory = memory;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Runtime<'a> {
        self.timeout = timeout;
        self
    }

    pub fn cni_path(&self) -> &CniPath {
        &self.cni_path
    }

    pub fn cache(&self) -> &ResultCache {
        &self.cache
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn memory(&self) -> MemoryAccounting {
        self.memory
    }

    pub fn add(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<PluginResult> {
        self.recorded(|executions| {
            attachment
                .validate(&list.name)
                .map_err(ChainError::InvalidAttachment)?;
            let env = self.env(CniCommand::Add, attachment);
            let mut previous: Option<PluginResult> = None;
            for plugin in &list.plugins {
                let stdin = list.plugin_request(
                    plugin,
                    previous.as_ref().map(|p| &p.json),
                    &attachment.capability_args,
                );
                let output = self.invoke(executions, plugin, CniCommand::Add, &env, &stdin)?;
                let SuccessOutput::Result(result) = output else {
                    unreachable!("an ADD success without a result is classified as a violation")
                };
                previous = Some(result);
            }
            let result = previous.expect("a configuration list has at least one plugin");
            self.cache
                .store(&CachedAttachment::new(list, attachment, &result.json))
                .map_err(ChainError::Cache)?;
            Ok(result)
        })
    }

    pub fn check(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<()> {
        self.recorded(|executions| {
            if !list.cni_version.has_check() {
                return Err(ChainError::Unsupported {
                    version: list.cni_version,
                    command: CniCommand::Check,
                });
            }
            if list.disable_check {
                return Ok(());
            }
            let cached = self
                .cached_result(list, attachment)
                .map_err(ChainError::Cache)?;
            let env = self.env(CniCommand::Check, attachment);
            for plugin in &list.plugins {
                let stdin =
                    list.plugin_request(plugin, cached.as_ref(), &attachment.capability_args);
                self.invoke(executions, plugin, CniCommand::Check, &env, &stdin)?;
            }
            Ok(())
        })
    }

    pub fn del(&self, list: &NetworkConfigList, attachment: &Attachment) -> ChainRun<()> {
        self.recorded(|executions| {
            let cached = if list.cni_version.has_prev_result_on_del() {
                // libcni drops a corrupt cache and deletes without a prevResult.
                self.cached_result(list, attachment).unwrap_or_else(|_| {
                    let _ = self.cache.remove(&list.name, &attachment.key());
                    None
                })
            } else {
                None
            };
            let env = self.env(CniCommand::Del, attachment);
            for plugin in list.plugins.iter().rev() {
                let stdin =
                    list.plugin_request(plugin, cached.as_ref(), &attachment.capability_args);
                self.invoke(executions, plugin, CniCommand::Del, &env, &stdin)?;
            }
            self.cache
                .remove(&list.name, &attachment.key())
                .map_err(ChainError::Cache)
        })
    }

    /// `valid_attachments`: `None` is libcni's "no GC arguments": every cached attachment is
    /// stale and plugins get no attachment list.
    pub fn gc(
        &self,
        list: &NetworkConfigList,
        valid_attachments: Option<&[AttachmentKey]>,
    ) -> ChainRun<(), Vec<ChainError>> {
        let mut executions = Vec::new();
        let mut errors = Vec::new();
        if !list.disable_gc {
            // Unlike libcni, which silently skips GC when the cache is unreadable, say so.
            let cached = self.cache.list(&list.name).unwrap_or_else(|e| {
                errors.push(ChainError::Cache(e));
                Vec::new()
            });
            for entry in cached {
                let key = entry.key();
                if valid_attachments.is_some_and(|valid| valid.contains(&key)) {
                    continue;
                }
                let deleted = self.del(list, &entry.attachment());
                executions.extend(deleted.executions);
                if let Err(e) = deleted.outcome {
                    errors.push(ChainError::StaleAttachment {
                        key,
                        source: Box::new(e),
                    });
                }
            }
            if list.cni_version.has_gc_and_status() {
                let mut extra = Vec::new();
                if let Some(valid) = valid_attachments {
                    extra.push(("cni.dev/valid-attachments", json!(valid)));
                    // libcni #1101: the 1.1.0 spec text used this name.
                    extra.push(("cni.dev/attachments", json!(valid)));
                }
                let env = self.env_without_attachment(CniCommand::Gc);
                for plugin in &list.plugins {
                    let stdin = list.injected(plugin, extra.clone());
                    if let Err(e) =
                        self.invoke(&mut executions, plugin, CniCommand::Gc, &env, &stdin)
                    {
                        errors.push(e);
                    }
                }
            }
        }
        let outcome = if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        };
        ChainRun {
            executions,
            outcome,
        }
    }

    pub fn status(&self, list: &NetworkConfigList) -> ChainRun<()> {
        self.recorded(|executions| {
            if !list.cni_version.has_gc_and_status() {
                return Ok(());
            }
            let env = self.env_without_attachment(CniCommand::Status);
            for plugin in &list.plugins {
                let stdin = list.injected(plugin, Vec::new());
                self.invoke(executions, plugin, CniCommand::Status, &env, &stdin)?;
            }
            Ok(())
        })
    }

    /// Asks every plugin for its versions (sending the list's version) and checks each supports
    /// the list's version. All plugins are asked even after a failure.
    pub fn versions(
        &self,
        list: &NetworkConfigList,
    ) -> ChainRun<Vec<VersionInfo>, Vec<ChainError>> {
        let mut executions = Vec::new();
        let mut infos = Vec::new();
        let mut errors = Vec::new();
        // libcni's GetVersionInfo passes these placeholders.
        let mut env = self.env(
            CniCommand::Version,
            &Attachment::new("", "dummy", Path::new("dummy")),
        );
        env.insert("CNI_PATH".into(), "dummy".into());
        let stdin = json!({ "cniVersion": list.cni_version.as_str() });
        for plugin in &list.plugins {
            match self.invoke(&mut executions, plugin, CniCommand::Version, &env, &stdin) {
                Ok(SuccessOutput::Version(info)) => {
                    if !info
                        .supported_versions
                        .iter()
                        .any(|v| v == list.cni_version.as_str())
                    {
                        errors.push(ChainError::VersionUnsupported {
                            plugin: plugin.id(),
                            version: list.cni_version,
                            supported: info.supported_versions.clone(),
                        });
                    }
                    infos.push(info);
                }
                Ok(_) => {
                    unreachable!("a VERSION success without a reply is classified as a violation")
                }
                Err(e) => errors.push(e),
            }
        }
        let outcome = if errors.is_empty() {
            Ok(infos)
        } else {
            Err(errors)
        };
        ChainRun {
            executions,
            outcome,
        }
    }

    /// The environment a runtime gives a plugin for `command` on `attachment` (libcni
    /// `Args.AsEnv`), plus the harness's `PATH`. Start from this to build odd requests.
    pub fn env(&self, command: CniCommand, attachment: &Attachment) -> BTreeMap<String, String> {
        let path = std::env::var("PATH").unwrap_or_else(|_| FALLBACK_PATH.into());
        BTreeMap::from([
            ("CNI_COMMAND".into(), command.as_str().into()),
            ("CNI_CONTAINERID".into(), attachment.container_id.clone()),
            ("CNI_NETNS".into(), attachment.netns.clone()),
            ("CNI_IFNAME".into(), attachment.ifname.clone()),
            ("CNI_ARGS".into(), attachment.cni_args_env()),
            ("CNI_PATH".into(), self.cni_path.to_string()),
            ("PATH".into(), path),
        ])
    }

    /// GC and STATUS concern no attachment: libcni sends the per-attachment variables empty.
    fn env_without_attachment(&self, command: CniCommand) -> BTreeMap<String, String> {
        self.env(command, &Attachment::new("", "", Path::new("")))
    }

    /// A single-plugin request: any env and stdin, the plugin looked up by type in `CNI_PATH`.
    pub fn request(
        &self,
        plugin_type: &str,
        command: CniCommand,
        env: BTreeMap<String, String>,
        stdin: Vec<u8>,
    ) -> Result<ExecRequest, FindError> {
        Ok(ExecRequest {
            plugin: plugin_type.to_string(),
            binary: self.cni_path.find(plugin_type)?,
            command,
            env,
            stdin,
            timeout: self.timeout,
            memory: self.memory,
        })
    }

    /// Runs one request in the node's netns.
    pub fn exec(&self, request: &ExecRequest) -> io::Result<Execution> {
        execute(request, Some(self.node))
    }

    fn recorded<T>(
        &self,
        operation: impl FnOnce(&mut Vec<Execution>) -> Result<T, ChainError>,
    ) -> ChainRun<T> {
        let mut executions = Vec::new();
        let outcome = operation(&mut executions);
        ChainRun {
            executions,
            outcome,
        }
    }

    fn invoke(
        &self,
        executions: &mut Vec<Execution>,
        plugin: &PluginConfig,
        command: CniCommand,
        env: &BTreeMap<String, String>,
        stdin: &Value,
    ) -> Result<SuccessOutput, ChainError> {
        let fail = |failure| ChainError::Plugin {
            plugin: plugin.id(),
            command,
            failure,
        };
        let request = self
            .request(
                &plugin.plugin_type,
                command,
                env.clone(),
                stdin.to_string().into_bytes(),
            )
            .map_err(|e| fail(PluginFailure::NotFound(e)))?;
        let mut execution = self
            .exec(&request)
            .map_err(|e| fail(PluginFailure::Exec(e)))?;
        execution.member = Some(plugin.position);
        let outcome = execution.outcome.clone();
        executions.push(execution);
        match outcome {
            Outcome::Success(output) => Ok(output),
            Outcome::Error(e) => Err(fail(PluginFailure::Error(e))),
            Outcome::Violation(v) => Err(fail(PluginFailure::Violation(v))),
        }
    }

    /// The cached ADD result in the list's version, as libcni's `getCachedResult` +
    /// `GetAsVersion`.
    fn cached_result(
        &self,
        list: &NetworkConfigList,
        attachment: &Attachment,
    ) -> io::Result<Option<Value>> {
        let Some(entry) = self.cache.load(&list.name, &attachment.key())? else {
            return Ok(None);
        };
        let Some(result) = entry.result else {
            return Ok(None);
        };
        let (_, parsed) = CniResult::parse(&result, list.cni_version).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("cached result: {e}"))
        })?;
        Ok(Some(parsed.to_json(list.cni_version)))
    }
}
