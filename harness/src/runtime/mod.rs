//! The chain runtime: runs a network configuration list against plugin binaries the way libcni
//! does (research/cni-spec.md §4.4, §5), and records every plugin execution.
//!
//! - [`attachment`]: the runtime's description of one attachment (libcni `RuntimeConf`).
//! - [`conflist`]: loading and validating a configuration list, version selection.
//! - [`cni_path`]: where plugins are looked up (`CNI_PATH`) and the fixture plugins' folder.
//! - [`plugin_lookup`]: which plugin is tested when `--plugin` is not given.
//! - [`command`]: the CNI verbs.
//! - [`output`]: what a finished process left: exit status and raw bytes.
//! - [`exec`]: one plugin execution in a netns, with timeout, exit status, wall time and peak RSS.
//! - [`outcome`]: what a plugin's exit status and stdout mean under the protocol.
//! - [`cache`]: the libcni-compatible result cache.
//! - [`chain`]: ADD, CHECK, DEL, GC, STATUS and VERSION over a whole list.
//! - [`libcni`]: the same list operations performed by libcni itself, through its driver.
//! - [`choice`]: which of the two performs a scenario's list operations (`--runtime`).
//!
//! The API is synchronous: plugins are processes, and a caller that wants concurrency runs
//! executions from several threads.

pub mod attachment;
pub mod cache;
pub mod chain;
pub mod choice;
pub mod cni_path;
pub mod command;
pub mod conflist;
pub mod exec;
pub mod libcni;
pub mod outcome;
pub mod output;
pub mod plugin_lookup;
pub mod plugin_release;

pub use attachment::{Attachment, AttachmentKey};
pub use cache::{CachedAttachment, ResultCache};
pub use chain::{ChainError, ChainRun, PluginFailure, PluginId, Runtime};
pub use choice::{ListRuntime, RuntimeChoice, RuntimeInfo};
pub use cni_path::{CniPath, FindError, harness_binary, link_fixture_plugins, reference_plugin};
pub use command::{CniCommand, UnknownCommand};
pub use conflist::{ConfigError, NetworkConfigList, PluginConfig};
pub use exec::{ExecRequest, Execution, MemoryAccounting, execute};
pub use libcni::{LibcniDriver, LibcniVersion};
pub use outcome::{
    Finding, Outcome, PluginResult, SuccessOutput, VersionInfo, Violation, ViolationKind,
};
pub use output::{ExitStatus, RawBytes};
pub use plugin_lookup::plugin_argument;
