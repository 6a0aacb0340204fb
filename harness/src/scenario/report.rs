//! What a suite run came to: per case its status, failures, executions and steps, and the run
//! as a whole; what every report format renders.

use std::path::PathBuf;

use cni_types::CniVersion;
use serde::Serialize;

use super::expect::Failure;
use super::model::{Level, Step};
use super::verdict::{self, CaseStatus, Declined, Judgement};
use crate::kernel::KernelInfo;
use crate::runtime::{Execution, RuntimeInfo};
use crate::topology::Topology;

/// One scenario at one CNI version.
#[derive(Debug, Serialize)]
pub struct CaseReport {
    pub scenario: String,
    pub version: CniVersion,
    #[serde(flatten)]
    pub status: CaseStatus,
    /// MUST failures and SHOULD warnings, in step order.
    pub failures: Vec<Failure>,
    /// Set when the plugin declined a capability of the scenario cleanly, whatever the profile
    /// made of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined: Option<Declined>,
    pub executions: Vec<Execution>,
    pub duration_ms: u128,
    /// For reproducers: the sandbox the case ran in.
    pub topology: Topology,
    pub pod: String,
    /// The sandbox's folder (gone now): the parent of its netns files, and what `${SANDBOX}`
    /// stood for; `None` when no sandbox was made.
    pub sandbox_dir: Option<PathBuf>,
    /// The steps that ran, in order, with the executions each made: what a reproducer replays.
    pub steps: Vec<StepRecord>,
}

/// One step as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// As failures name it, e.g. `3 (del)`.
    pub label: String,
    pub step: Step,
    /// Indices into the case's executions.
    pub executions: std::ops::Range<usize>,
}

impl CaseReport {
    pub fn warnings(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(|f| f.level == Level::Should)
    }

    /// An unsupported case keeps no failure records: the plugin declined cleanly, and what the
    /// refusal broke is in `declined`, not a failure to report.
    pub fn forget_failures_if_unsupported(&mut self) {
        if matches!(self.status, CaseStatus::Unsupported { .. }) {
            self.failures.clear();
        }
    }

    /// Whether this case ran (was not skipped, and the kernel could make the type's links), so
    /// a verdict applies.
    pub fn ran(&self) -> bool {
        self.not_run_because().is_none()
    }

    /// Why the case did not run: skipped, or the kernel lacks a link kind of the type.
    pub fn not_run_because(&self) -> Option<&str> {
        match &self.status {
            CaseStatus::Skip { reason } => Some(reason),
            CaseStatus::Unsupported { features, reason } if features.is_empty() => Some(reason),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SuiteReport {
    /// What the statuses mean: the profile and the required capabilities.
    pub judgement: Judgement,
    pub kernel: KernelInfo,
    /// Which runtime performed the steps (and libcni's version when it was libcni).
    pub runtime: RuntimeInfo,
    pub plugin: PathBuf,
    /// The `type` it ran as, which picked the packs.
    pub plugin_type: String,
    /// Which build was judged: the line the plugin prints about itself when run without
    /// CNI_COMMAND ("CNI macvlan plugin v1.9.1"), else the Debian package or fetched release it
    /// comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_release: Option<String>,
    /// What the reader should know about how the run was judged (e.g. a type without a
    /// reference contract under `--profile reference`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the plugin answered to VERSION.
    pub plugin_versions: Vec<String>,
    pub cases: Vec<CaseReport>,
    pub scenario_errors: Vec<String>,
    /// Why part of what was asked for was judged by nothing: every selected case skipped, or
    /// every case of a version asked for with `--versions`. Such a run does not pass.
    pub unjudged: Vec<String>,
    pub duration_ms: u128,
}

impl SuiteReport {
    /// Non-zero exit iff a MUST clause failed, a scenario file could not be used, or what was
    /// asked for went unjudged.
    pub fn passed(&self) -> bool {
        self.scenario_errors.is_empty()
            && self.unjudged.is_empty()
            && self.cases.iter().all(|c| c.status != CaseStatus::Fail)
    }

    /// The same run judged by another profile (or other required capabilities): the failures
    /// stay, the statuses follow the new judgement.
    pub fn judged(mut self, judgement: Judgement) -> SuiteReport {
        for case in self.cases.iter_mut().filter(|c| c.ran()) {
            case.status = verdict::status(&case.failures, case.declined.as_ref(), &judgement);
        }
        self.judgement = judgement;
        self
    }
}
