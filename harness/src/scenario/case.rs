//! One case: a scenario at one CNI version, in its own sandbox. It walks the steps
//! ([`super::steps`]), judges each ([`super::judging`]), and ends with the runtime's DEL when a
//! failed ADD left something no DEL step cleaned up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cni_types::CniVersion;
use serde_json::Value;

use super::builtin_clauses::{HARNESS, NO_LEFTOVERS};
use super::expect::{Failure, Judge};
use super::load::Library;
use super::model::{Invoke, Level, NetworkSource, Scenario, Step};
use super::options::SuiteOptions;
use super::report::{CaseReport, StepRecord};
use super::spec_rules::SinceAdd;
use super::states::StateOracle;
use super::verdict::{self};
use crate::fixtures::call_log;
use crate::runtime::{
    Attachment, CniPath, Execution, ListRuntime, NetworkConfigList, Runtime, RuntimeChoice,
};
use crate::sandbox::Sandbox;
use crate::snapshot::Snapshot;

/// One case, start to end; the sandbox is gone when this returns, whatever happened.
pub fn run_case(
    library: &Library,
    scenario: &Scenario,
    version: CniVersion,
    options: &SuiteOptions,
    states: &dyn StateOracle,
) -> CaseReport {
    let started = Instant::now();
    let mut case = Case {
        scenario,
        version,
        options,
        states,
        failures: Vec::new(),
        executions: Vec::new(),
        ipam_calls_seen: 0,
        sandbox_dir: None,
        steps: Vec::new(),
        failed_add_left: None,
        current_step: 0,
        since_add: SinceAdd::default(),
    };
    if let Err(message) = case.run(library) {
        case.failures
            .push(Failure::new(HARNESS, Level::Must, "setup", message));
    }
    let declined = verdict::declined(
        scenario,
        &case.failures,
        &case.executions,
        &|label| {
            case.steps
                .iter()
                .find(|s| s.label == label)
                .and_then(|s| s.step.expect())
        },
        &options.plugin_type,
    );
    let mut report = CaseReport {
        scenario: scenario.id.clone(),
        version,
        status: verdict::status(&case.failures, declined.as_ref(), &options.judgement),
        failures: case.failures,
        declined,
        executions: case.executions,
        duration_ms: started.elapsed().as_millis(),
        topology: scenario.topology.clone(),
        pod: scenario.pod.clone(),
        sandbox_dir: case.sandbox_dir,
        steps: case.steps,
    };
    report.forget_failures_if_unsupported();
    report
}

pub(super) struct Case<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) version: CniVersion,
    pub(super) options: &'a SuiteOptions,
    pub(super) states: &'a dyn StateOracle,
    pub(super) failures: Vec<Failure>,
    pub(super) executions: Vec<Execution>,
    /// Lines of the IPAM call log already accounted to earlier steps.
    pub(super) ipam_calls_seen: usize,
    pub(super) sandbox_dir: Option<PathBuf>,
    pub(super) steps: Vec<StepRecord>,
    /// The 1-based number of the last step whose failed ADD left a link or address behind, as
    /// long as no scenario DEL that succeeded (and checked for leaks) has run since: the
    /// runtime's DEL, which the case then sends at its end, settles whether it leaks.
    pub(super) failed_add_left: Option<usize>,
    /// The 1-based number of the step running.
    pub(super) current_step: usize,
    /// What happened to the attachment since its last successful ADD: the SPEC's rules for
    /// CHECK and DEL depend on it.
    pub(super) since_add: SinceAdd,
}

/// What the steps share while a case runs.
pub(super) struct World {
    pub(super) sandbox: Sandbox,
    pub(super) list: NetworkConfigList,
    pub(super) cni_path: CniPath,
    pub(super) attachment: Attachment,
    pub(super) baseline: Snapshot,
    /// Links the scenario itself created (tampering), never leftovers of the plugin.
    pub(super) own_links: BTreeSet<(String, String)>,
    /// The final result of the last successful chain ADD.
    pub(super) last_result: Option<Value>,
    /// The result each member of the list printed in that ADD, by position.
    pub(super) member_results: Vec<Value>,
    /// What performs the list operations (`--runtime`).
    pub(super) runtime_choice: RuntimeChoice,
}

impl World {
    pub(super) fn runtime(&self, timeout: Duration) -> ListRuntime<'_> {
        self.runtime_choice.over(
            Runtime::new(
                self.sandbox.node(),
                self.cni_path.clone(),
                self.sandbox.dir().join("cache"),
            )
            .with_timeout(timeout),
        )
    }

    pub(super) fn ipam_log(&self) -> PathBuf {
        self.sandbox.dir().join("ipam.log")
    }
}

impl<'a> Case<'a> {
    pub(super) fn run(&mut self, library: &Library) -> Result<(), String> {
        let sandbox = Sandbox::new(&self.scenario.topology)
            .map_err(|e| format!("cannot build the sandbox: {e}"))?;
        self.sandbox_dir = Some(sandbox.dir().to_path_buf());
        let network = self.network(library, sandbox.dir())?;
        let list = NetworkConfigList::from_value(network)
            .map_err(|e| format!("network configuration: {e}"))?
            .with_version(self.version);
        let cni_path = CniPath::standard(
            &sandbox.dir().join("bin"),
            &[(
                self.options.plugin_type.as_str(),
                self.options.plugin.as_path(),
            )],
        )
        .map_err(|e| format!("cannot prepare CNI_PATH: {e}"))?;
        let cni_path = with_extra_dirs(cni_path, &self.options.extra_cni_path);
        let netns_path = sandbox
            .netns_path(&self.scenario.pod)
            .ok_or_else(|| format!("pod {:?} is not in the topology", self.scenario.pod))?;
        let attachment = Attachment::new(
            &self.scenario.container_id,
            &self.scenario.ifname,
            &netns_path,
        )
        .with_cni_args(&parse_cni_args(self.scenario.cni_args.as_deref())?)
        .with_capability_args(self.scenario.capability_args.clone().into_iter().collect());
        let baseline = Snapshot::capture(&sandbox).map_err(|e| format!("snapshot: {e}"))?;
        let mut world = World {
            sandbox,
            list,
            cni_path,
            attachment,
            baseline,
            own_links: BTreeSet::new(),
            last_result: None,
            member_results: Vec::new(),
            runtime_choice: self.options.runtime.clone(),
        };
        for (index, step) in self.scenario.steps.iter().enumerate() {
            let label = format!("{} ({})", index + 1, step_kind(step));
            let first_execution = self.executions.len();
            self.current_step = index + 1;
            let outcome = self.step(&mut world, step, &label);
            self.steps.push(StepRecord {
                label: label.clone(),
                step: step.clone(),
                executions: first_execution..self.executions.len(),
            });
            if let Err(message) = outcome {
                self.failures
                    .push(Failure::new(HARNESS, Level::Must, &label, message));
                return Ok(());
            }
        }
        if let Some(failed_step) = self.failed_add_left {
            self.runtime_del(&world, failed_step)?;
        }
        Ok(())
    }

    /// A failed ADD left something and no scenario DEL has cleaned up since: the case sends the
    /// DEL a runtime owes it ("A delete must still be executed even if the add fails", the CNI
    /// SPEC, Section 3), recorded as a step of its own, and what survives that DEL leaks
    /// (`suite.no-leftovers`). Only then: a plugin that undoes its failed ADD sees no extra
    /// execution.
    ///
    /// The DEL uses the scenario's configuration list and attachment, as a `del` step would, even
    /// when the failed ADD was an `exec` step with another configuration or a deliberately broken
    /// environment (e.g. an unusable `CNI_IFNAME`): a runtime knows only its own attachment and
    /// configuration, and sends DEL with those.
    pub(super) fn runtime_del(&mut self, world: &World, failed_step: usize) -> Result<(), String> {
        let label = format!("runtime DEL after the failed ADD (step {failed_step})");
        let first_execution = self.executions.len();
        let run = world
            .runtime(self.options.timeout)
            .del(&world.list, &world.attachment);
        let del_error = run.outcome.as_ref().err().map(ToString::to_string);
        self.executions.extend(run.executions);
        let ipam_calls = call_log::read(&world.ipam_log()).map_err(|e| e.to_string())?;
        self.ipam_calls_seen = ipam_calls.len();
        let baseline = world.baseline.clone();
        let found = self.leftover_list(world, &baseline, true)?;
        let failed_del = del_error
            .map(|e| format!(" (the DEL failed: {e})"))
            .unwrap_or_default();
        self.fail_leftovers(
            world,
            &label,
            NO_LEFTOVERS,
            &format!("the failed ADD and the runtime's DEL{failed_del}"),
            found,
        );
        self.steps.push(StepRecord {
            label,
            step: Step::Del(Invoke::default()),
            executions: first_execution..self.executions.len(),
        });
        Ok(())
    }

    pub(super) fn network(&self, library: &Library, sandbox_dir: &Path) -> Result<Value, String> {
        let value = match &self.scenario.network {
            NetworkSource::Inline(v) => v.clone(),
            NetworkSource::File(name) => {
                let path = library.fixtures_dir.join(name);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        Ok(substitute(
            value,
            "${SANDBOX}",
            &sandbox_dir.to_string_lossy(),
        ))
    }

    pub(super) fn judge<'j>(&self, world: &'j World, label: &str) -> Judge<'j>
    where
        'a: 'j,
    {
        Judge {
            scenario: self.scenario,
            version: self.version,
            step: label.to_string(),
            netns_path: &world.attachment.netns,
            failures: Vec::new(),
            execution: None,
            member: None,
            result_superseded: false,
        }
    }
}

/// The user's `--cni-path` folders go right after the plugin under test.
pub(super) fn with_extra_dirs(path: CniPath, extra: &[PathBuf]) -> CniPath {
    let mut dirs = path.dirs().to_vec();
    let at = 1.min(dirs.len());
    dirs.splice(at..at, extra.iter().cloned());
    CniPath::new(dirs)
}

pub(super) fn snapshot(world: &World) -> Result<Snapshot, String> {
    Snapshot::capture(&world.sandbox).map_err(|e| format!("snapshot: {e}"))
}

/// Replaces `from` in every string of `value`.
pub(super) fn substitute(value: Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| substitute(v, from, to)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, substitute(v, from, to)))
                .collect(),
        ),
        other => other,
    }
}

/// `CNI_ARGS` as `K=V;K2=V2`.
pub(super) fn parse_cni_args(args: Option<&str>) -> Result<Vec<(&str, &str)>, String> {
    args.into_iter()
        .flat_map(|a| a.split(';'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .ok_or_else(|| format!("cni-args: {pair:?} is not KEY=VALUE"))
        })
        .collect()
}

pub(super) fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::Add(_) => "add",
        Step::Check(_) => "check",
        Step::Del(_) => "del",
        Step::Gc(_) => "gc",
        Step::Status(_) => "status",
        Step::Exec(_) => "exec",
        Step::Concurrent(_) => "concurrent",
        Step::DeleteLink(_) => "delete-link",
        Step::SetMtu(_) => "set-mtu",
        Step::SetDown(_) => "set-down",
        Step::RemoveAddress(_) => "remove-address",
        Step::AddVlan(_) => "add-vlan",
        Step::DeleteNetns(_) => "delete-netns",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitutes_inside_nested_strings() {
        let v = substitute(
            json!({"ipam": {"callLog": "${SANDBOX}/ipam.log"}, "n": 1}),
            "${SANDBOX}",
            "/tmp/s",
        );
        assert_eq!(v, json!({"ipam": {"callLog": "/tmp/s/ipam.log"}, "n": 1}));
    }

    #[test]
    fn cni_args_pairs() {
        assert_eq!(
            parse_cni_args(Some("IP=10.0.0.5;K=V")).unwrap(),
            vec![("IP", "10.0.0.5"), ("K", "V")]
        );
        assert!(parse_cni_args(Some("novalue")).is_err());
        assert!(parse_cni_args(None).unwrap().is_empty());
    }
}
