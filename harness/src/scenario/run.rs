//! Running scenarios: each applicable (scenario, CNI version) pair is a case, run in its own
//! fresh sandbox, in parallel up to `jobs`. A case walks its steps, judges each against its
//! expectation, and looks for leftovers after every failed ADD and every DEL (ending with the
//! runtime's DEL when a failed ADD left something no DEL step cleaned up), and after every
//! successful ADD for the interfaces its result names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cni_types::CniVersion;
use serde::Serialize;
use serde_json::{Map, Value};

use super::builtin_clauses::{
    HARNESS, NO_LEFTOVERS, PROTOCOL, RESULT_INTERFACES, UNDO_ON_FAILURE, VERSION_REPLY,
};
use super::expect::{Failure, Judge, StepOutcome};
use super::load::{Library, ScenarioFileError};
use super::model::{
    Concurrent, Exec, Expect, Feature, Invoke, Level, NetworkSource, PrevResult, Scenario, Step,
};
use super::states::StateOracle;
use super::verdict::{self, CaseStatus, Declined, Judgement, Profile};
use crate::fixtures::call_log;
use crate::kernel::{self, KernelInfo};
use crate::runtime::{
    Attachment, AttachmentKey, CniCommand, CniPath, Execution, ListRuntime, NetworkConfigList,
    Outcome, Runtime, RuntimeChoice, RuntimeInfo, SuccessOutput,
};
use crate::sandbox::Sandbox;
use crate::snapshot::{Snapshot, missing_result_interfaces};
use crate::topology::{Endpoint, Topology, VlanProtocol, VlanTag};

/// What to run and against which plugin.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The plugin under test; conflists name it by `plugin_type`.
    pub plugin: PathBuf,
    pub plugin_type: String,
    /// Searched right after the plugin under test, before the fixture and system folders.
    pub extra_cni_path: Vec<PathBuf>,
    /// Glob (`*`, `?`) or plain substring matched against scenario ids.
    pub filter: Option<String>,
    /// Only these versions (default: every version the plugin supports).
    pub versions: Option<Vec<CniVersion>>,
    pub skip_features: Vec<Feature>,
    pub jobs: usize,
    /// Per plugin execution.
    pub timeout: Duration,
    /// Profile and required capabilities the cases are judged by.
    pub judgement: Judgement,
    /// What performs the list operations: our runtime or libcni (`--runtime`).
    pub runtime: RuntimeChoice,
}

impl SuiteOptions {
    /// Every scenario at every version the plugin supports, as type `vlan`, judged by the
    /// reference profile (every clause decides), two jobs and 60 s per execution: what the
    /// test suites start from and then narrow.
    pub fn reference(plugin: impl Into<PathBuf>) -> SuiteOptions {
        SuiteOptions {
            plugin: plugin.into(),
            plugin_type: "vlan".into(),
            extra_cni_path: vec![],
            filter: None,
            versions: None,
            skip_features: vec![],
            jobs: 2,
            timeout: Duration::from_secs(60),
            judgement: Judgement {
                profile: Profile::Reference,
                required_features: vec![],
            },
            runtime: RuntimeChoice::Ours,
        }
    }
}

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

    /// Whether this case ran (was not skipped), so a verdict applies.
    pub fn ran(&self) -> bool {
        !matches!(self.status, CaseStatus::Skip { .. })
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
    /// What the plugin answered to VERSION.
    pub plugin_versions: Vec<String>,
    pub cases: Vec<CaseReport>,
    pub scenario_errors: Vec<String>,
    pub duration_ms: u128,
}

impl SuiteReport {
    /// Non-zero exit iff a MUST clause failed or a scenario file could not be used.
    pub fn passed(&self) -> bool {
        self.scenario_errors.is_empty() && self.cases.iter().all(|c| c.status != CaseStatus::Fail)
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

/// Progress as cases start and end, for the terminal.
pub enum Progress<'a> {
    Planned {
        cases: usize,
    },
    Finished {
        done: usize,
        of: usize,
        case: &'a CaseReport,
    },
}

/// Runs every selected scenario at every applicable version.
pub fn run_suite(
    library: &Library,
    options: &SuiteOptions,
    states: &dyn StateOracle,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SuiteReport, String> {
    let started = Instant::now();
    let (scenarios, errors) = library.load_all();
    let plugin_versions = match plugin_versions(options)? {
        Ok(versions) => versions,
        Err(case) => {
            // No versions to run anything at: the broken VERSION answer is the one case.
            return Ok(SuiteReport {
                judgement: options.judgement.clone(),
                kernel: kernel::current(),
                runtime: options.runtime.info(),
                plugin: options.plugin.clone(),
                plugin_versions: vec![],
                cases: vec![*case],
                scenario_errors: errors.iter().map(ScenarioFileError::to_string).collect(),
                duration_ms: started.elapsed().as_millis(),
            });
        }
    };
    let matcher = options.filter.as_deref().map(Matcher::new).transpose()?;
    let mut cases: Vec<(&Scenario, CniVersion, Option<String>)> = Vec::new();
    for scenario in scenarios
        .iter()
        .filter(|s| matcher.as_ref().is_none_or(|m| m.matches(&s.id)))
    {
        for version in applicable_versions(scenario) {
            if options
                .versions
                .as_ref()
                .is_some_and(|vs| !vs.contains(&version))
            {
                continue;
            }
            cases.push((
                scenario,
                version,
                skip_reason(scenario, version, &plugin_versions, options),
            ));
        }
    }
    progress(Progress::Planned { cases: cases.len() });
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let reports: Mutex<Vec<(usize, CaseReport)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((scenario, version, skip)) = cases.get(i) else {
                        break;
                    };
                    let report = match skip {
                        Some(reason) => skipped(scenario, *version, reason),
                        None => run_case(library, scenario, *version, options, states),
                    };
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(Progress::Finished {
                        done: n,
                        of: cases.len(),
                        case: &report,
                    });
                    reports
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, report));
                }
            });
        }
    });
    let mut reports = reports.into_inner().unwrap_or_else(|e| e.into_inner());
    reports.sort_by_key(|(i, _)| *i);
    Ok(SuiteReport {
        judgement: options.judgement.clone(),
        kernel: kernel::current(),
        runtime: options.runtime.info(),
        plugin: options.plugin.clone(),
        plugin_versions,
        cases: reports.into_iter().map(|(_, r)| r).collect(),
        scenario_errors: errors.iter().map(ScenarioFileError::to_string).collect(),
        duration_ms: started.elapsed().as_millis(),
    })
}

/// The versions a scenario applies to: its own range, narrowed by the commands it needs.
pub fn applicable_versions(scenario: &Scenario) -> Vec<CniVersion> {
    let needs = |f: Feature| scenario.features.contains(&f);
    CniVersion::ALL
        .into_iter()
        .filter(|v| scenario.versions.contains(*v))
        .filter(|v| !needs(Feature::Check) || v.has_check())
        .filter(|v| !(needs(Feature::Gc) || needs(Feature::Status)) || v.has_gc_and_status())
        .collect()
}

fn skip_reason(
    scenario: &Scenario,
    version: CniVersion,
    plugin_versions: &[String],
    options: &SuiteOptions,
) -> Option<String> {
    if !plugin_versions.iter().any(|v| v == version.as_str()) {
        return Some(format!("plugin does not support {version}"));
    }
    if let Some(reason) = options
        .runtime
        .is_libcni()
        .then(|| super::libcni_expressible::inexpressible(scenario))
        .flatten()
    {
        return Some(reason);
    }
    if let Some(f) = scenario
        .features
        .iter()
        .find(|f| options.skip_features.contains(f))
    {
        return Some(format!("feature {} skipped (--skip-feature)", f.name()));
    }
    if scenario.features.contains(&Feature::UpstreamPlugins)
        && !Path::new("/usr/lib/cni/host-local").exists()
        && !Path::new("/opt/cni/bin/host-local").exists()
    {
        return Some(
            "upstream plugins not installed (apt-get install containernetworking-plugins)".into(),
        );
    }
    None
}

fn skipped(scenario: &Scenario, version: CniVersion, reason: &str) -> CaseReport {
    CaseReport {
        scenario: scenario.id.clone(),
        version,
        status: CaseStatus::Skip {
            reason: reason.to_string(),
        },
        failures: vec![],
        declined: None,
        executions: vec![],
        duration_ms: 0,
        topology: scenario.topology.clone(),
        pod: scenario.pod.clone(),
        sandbox_dir: None,
        steps: vec![],
    }
}

/// Asks the plugin under test for its versions (VERSION needs no namespace). `Err` when it
/// cannot be run at all; `Ok(Err(case))` when it answered with something other than a version
/// reply: a failed case of the spec's VERSION clause, with the raw answer.
fn plugin_versions(options: &SuiteOptions) -> Result<Result<Vec<String>, Box<CaseReport>>, String> {
    let request = crate::runtime::ExecRequest {
        plugin: options.plugin_type.clone(),
        binary: options.plugin.clone(),
        command: CniCommand::Version,
        env: [("CNI_COMMAND".to_string(), "VERSION".to_string())].into(),
        stdin: br#"{"cniVersion":"1.1.0"}"#.to_vec(),
        timeout: options.timeout,
        memory: Default::default(),
    };
    let execution = crate::runtime::execute(&request, None)
        .map_err(|e| format!("cannot run {}: {e}", options.plugin.display()))?;
    if let Outcome::Success(SuccessOutput::Version(info)) = &execution.outcome {
        return Ok(Ok(info.supported_versions.clone()));
    }
    let answer = match &execution.outcome {
        Outcome::Violation(v) => format!("{:?}: {}", v.kind, v.detail),
        Outcome::Error(e) => format!("a CNI error, code {}: {}", e.code, e.msg),
        other => format!("{other:?}"),
    };
    let mut failure = Failure::new(
        VERSION_REPLY,
        Level::Must,
        "1 (version)",
        format!("VERSION did not get a version reply: {answer}"),
    );
    failure.diff = Some(format!(
        "stdout as printed:\n{}",
        execution.stdout.to_string_lossy()
    ));
    failure.execution = Some(0);
    let mut case = CaseReport {
        scenario: "version".into(),
        version: CniVersion::LATEST,
        status: CaseStatus::Fail,
        failures: vec![failure],
        declined: None,
        executions: vec![execution],
        duration_ms: 0,
        topology: Topology::default(),
        pod: String::new(),
        sandbox_dir: None,
        steps: vec![],
    };
    case.status = verdict::status(&case.failures, None, &options.judgement);
    Ok(Err(Box::new(case)))
}

struct Matcher(globset::GlobMatcher);

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, String> {
        let glob = if pattern.contains(['*', '?', '[']) {
            pattern.to_string()
        } else {
            format!("*{pattern}*")
        };
        globset::Glob::new(&glob)
            .map(|g| Matcher(g.compile_matcher()))
            .map_err(|e| format!("--filter {pattern:?}: {e}"))
    }

    fn matches(&self, id: &str) -> bool {
        self.0.is_match(id)
    }
}

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
    CaseReport {
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
    }
}

struct Case<'a> {
    scenario: &'a Scenario,
    version: CniVersion,
    options: &'a SuiteOptions,
    states: &'a dyn StateOracle,
    failures: Vec<Failure>,
    executions: Vec<Execution>,
    /// Lines of the IPAM call log already accounted to earlier steps.
    ipam_calls_seen: usize,
    sandbox_dir: Option<PathBuf>,
    steps: Vec<StepRecord>,
    /// The 1-based number of the last step whose failed ADD left a link or address behind, as
    /// long as no scenario DEL that succeeded (and checked for leaks) has run since: the
    /// runtime's DEL, which the case then sends at its end, settles whether it leaks.
    failed_add_left: Option<usize>,
    /// The 1-based number of the step running.
    current_step: usize,
}

/// What the steps share while a case runs.
struct World {
    sandbox: Sandbox,
    list: NetworkConfigList,
    cni_path: CniPath,
    attachment: Attachment,
    baseline: Snapshot,
    /// Links the scenario itself created (tampering), never leftovers of the plugin.
    own_links: BTreeSet<(String, String)>,
    /// The final result of the last successful chain ADD.
    last_result: Option<Value>,
    runtime_choice: RuntimeChoice,
}

impl World {
    fn runtime(&self, timeout: Duration) -> ListRuntime<'_> {
        self.runtime_choice.over(
            Runtime::new(
                self.sandbox.node(),
                self.cni_path.clone(),
                self.sandbox.dir().join("cache"),
            )
            .with_timeout(timeout),
        )
    }

    fn ipam_log(&self) -> PathBuf {
        self.sandbox.dir().join("ipam.log")
    }
}

impl<'a> Case<'a> {
    fn run(&mut self, library: &Library) -> Result<(), String> {
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
    fn runtime_del(&mut self, world: &World, failed_step: usize) -> Result<(), String> {
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
        if !found.is_empty() {
            let failed_del = del_error
                .map(|e| format!(" (the DEL failed: {e})"))
                .unwrap_or_default();
            let mut judge = self.judge(world, &label);
            judge.execution = self.executions.len().checked_sub(1);
            judge.fail(
                NO_LEFTOVERS,
                format!(
                    "left behind after the failed ADD and the runtime's DEL{failed_del}: {}",
                    found.join(", ")
                ),
                None,
            );
            self.failures.extend(judge.failures);
        }
        self.steps.push(StepRecord {
            label,
            step: Step::Del(Invoke::default()),
            executions: first_execution..self.executions.len(),
        });
        Ok(())
    }

    fn network(&self, library: &Library, sandbox_dir: &Path) -> Result<Value, String> {
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

    fn judge<'j>(&self, world: &'j World, label: &str) -> Judge<'j>
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
        }
    }

    /// Runs one step. `Err` means the scenario could not go on (a harness problem).
    fn step(&mut self, world: &mut World, step: &Step, label: &str) -> Result<(), String> {
        let timeout = self.options.timeout;
        match step {
            Step::Add(invoke) => {
                let before = snapshot(world)?;
                let run = world.runtime(timeout).add(&world.list, &world.attachment);
                let outcome = StepOutcome::of_chain(&run, |r| Some(r.clone()));
                if let Ok(result) = &run.outcome {
                    world.last_result = Some(result.json.clone());
                }
                let failed = run.outcome.is_err();
                self.judge_plugin_step(world, label, &invoke.expect, run.executions, &outcome)?;
                if failed {
                    self.leftovers(world, label, &before, false)?;
                }
                if let Some(result) = &outcome.result {
                    let last = self.executions.len().checked_sub(1);
                    self.result_interfaces(world, label, &result.json, last)?;
                }
            }
            Step::Check(invoke) => {
                if !self.version.has_check() {
                    return Ok(()); // libcni refuses CHECK below 0.4.0: nothing to judge
                }
                let run = world.runtime(timeout).check(&world.list, &world.attachment);
                let outcome = StepOutcome::of_chain(&run, |_| None);
                self.judge_plugin_step(world, label, &invoke.expect, run.executions, &outcome)?;
            }
            Step::Del(invoke) => {
                let run = world.runtime(timeout).del(&world.list, &world.attachment);
                let outcome = StepOutcome::of_chain(&run, |_| None);
                let succeeded = run.outcome.is_ok();
                self.judge_plugin_step(world, label, &invoke.expect, run.executions, &outcome)?;
                if succeeded {
                    // This DEL settles what an earlier failed ADD left: the case sends none of
                    // its own at the end (after a failing one it does, as a runtime retries).
                    self.failed_add_left = None;
                    let baseline = world.baseline.clone();
                    self.leftovers(world, label, &baseline, true)?;
                }
            }
            Step::Gc(gc) => {
                let valid: Vec<AttachmentKey> = match &gc.valid_attachments {
                    Some(list) => list
                        .iter()
                        .map(|a| AttachmentKey {
                            container_id: a.container_id.clone(),
                            ifname: a.ifname.clone(),
                        })
                        .collect(),
                    None => vec![world.attachment.key()],
                };
                let run = world.runtime(timeout).gc(&world.list, Some(&valid));
                let outcome = match &run.outcome {
                    Ok(()) => StepOutcome {
                        success: true,
                        ..StepOutcome::default()
                    },
                    Err(errors) => StepOutcome::of_chain_error(&errors[0]),
                };
                self.judge_plugin_step(world, label, &gc.expect, run.executions, &outcome)?;
            }
            Step::Status(invoke) => {
                let run = world.runtime(timeout).status(&world.list);
                let outcome = StepOutcome::of_chain(&run, |_| None);
                self.judge_plugin_step(world, label, &invoke.expect, run.executions, &outcome)?;
            }
            Step::Exec(exec) => self.exec(world, exec, label)?,
            Step::Concurrent(c) => self.concurrent(world, c, label)?,
            Step::DeleteLink(l) => world
                .sandbox
                .delete_link(&l.netns, &l.link)
                .map_err(|e| e.to_string())?,
            Step::SetMtu(m) => world
                .sandbox
                .set_mtu(&m.netns, &m.link, m.mtu)
                .map_err(|e| e.to_string())?,
            Step::SetDown(l) => world
                .sandbox
                .set_up(&l.netns, &l.link, false)
                .map_err(|e| e.to_string())?,
            Step::RemoveAddress(a) => {
                let cidr = a
                    .address
                    .parse()
                    .map_err(|e| format!("address {:?}: {e}", a.address))?;
                world
                    .sandbox
                    .remove_address(&a.netns, &a.link, cidr)
                    .map_err(|e| e.to_string())?
            }
            Step::AddVlan(v) => {
                let endpoint = Endpoint {
                    netns: v.netns.clone(),
                    name: v.link.clone(),
                    mtu: None,
                    up: true,
                };
                let tag = VlanTag {
                    id: v.id,
                    protocol: VlanProtocol::Ieee8021Q,
                };
                world
                    .sandbox
                    .add_vlan(&endpoint, &v.netns, &v.parent, tag)
                    .map_err(|e| e.to_string())?;
                world.own_links.insert((v.netns.clone(), v.link.clone()));
            }
            Step::DeleteNetns(n) => world
                .sandbox
                .delete_netns(&n.netns)
                .map_err(|e| e.to_string())?,
        }
        Ok(())
    }

    /// Judges a step that ran plugins: outcome, state, links, delegate calls.
    fn judge_plugin_step(
        &mut self,
        world: &World,
        label: &str,
        expect: &Expect,
        executions: Vec<Execution>,
        outcome: &StepOutcome,
    ) -> Result<(), String> {
        let ipam_calls_before = self.ipam_calls_seen;
        let first = self.executions.len();
        self.executions.extend(executions);
        let mut judge = self.judge(world, label);
        judge.execution = self.executions.len().checked_sub(1).filter(|i| *i >= first);
        judge.outcome(expect, outcome);
        let clause = judge.clause_of(expect);
        if let Some(name) = &expect.state {
            let now = snapshot(world)?;
            if let Err(diff) = self.states.check(name, &now) {
                judge.fail(
                    &clause,
                    format!("state after the step differs from the stored state {name}"),
                    Some(diff),
                );
            }
        }
        for (spec, want) in expect
            .links_present
            .iter()
            .map(|s| (s, true))
            .chain(expect.links_absent.iter().map(|s| (s, false)))
        {
            let (netns, link) = spec
                .split_once('/')
                .ok_or_else(|| format!("link {spec:?} must be written netns/name"))?;
            let exists = world
                .sandbox
                .link_exists(netns, link)
                .map_err(|e| e.to_string())?;
            if exists != want {
                let verb = if want { "missing" } else { "still present" };
                judge.fail(&clause, format!("link {spec} is {verb}"), None);
            }
        }
        let calls = call_log::read(&world.ipam_log()).map_err(|e| e.to_string())?;
        self.ipam_calls_seen = calls.len();
        let step_calls = calls.get(ipam_calls_before..).unwrap_or_default();
        if let Some(want) = &expect.ipam_calls {
            // `ADD` matches the command alone; `ADD@eth0.3` also the CNI_IFNAME it got.
            let got: Vec<String> = step_calls
                .iter()
                .zip(
                    want.iter()
                        .map(|w| w.contains('@'))
                        .chain(std::iter::repeat(false)),
                )
                .map(|(c, with_ifname)| {
                    let command = c.vars.command.clone().unwrap_or_default();
                    match (with_ifname, c.vars.ifname.as_deref()) {
                        (true, Some(ifname)) => format!("{command}@{ifname}"),
                        _ => command,
                    }
                })
                .collect();
            if &got != want {
                judge.fail(
                    &clause,
                    format!("IPAM delegate calls were {got:?}, expected {want:?}"),
                    None,
                );
            }
        }
        if expect.ipam_stdin_unchanged {
            let plugin_stdins: Vec<Value> = self.executions[first..]
                .iter()
                .filter(|e| e.plugin == self.options.plugin_type)
                .filter_map(|e| serde_json::from_slice(e.stdin.as_bytes()).ok())
                .collect();
            if step_calls.is_empty() {
                judge.fail(&clause, "the IPAM delegate was not called", None);
            }
            for call in step_calls
                .iter()
                .filter(|c| !plugin_stdins.contains(&c.stdin))
            {
                judge.fail(
                    &clause,
                    format!(
                        "the IPAM delegate's {} stdin differs from the plugin's: {}",
                        call.vars.command.as_deref().unwrap_or("(no command)"),
                        call.stdin
                    ),
                    None,
                );
            }
        }
        self.failures.extend(judge.failures);
        Ok(())
    }
}

impl Case<'_> {
    /// One plugin of the list, run directly with the step's stdin and environment.
    fn exec(&mut self, world: &mut World, exec: &Exec, label: &str) -> Result<(), String> {
        let plugin = self.plugin_of(world, exec.plugin)?;
        let command = exec
            .command
            .parse::<CniCommand>()
            .unwrap_or(CniCommand::Add);
        let prev = match &exec.prev_result {
            PrevResult::Cached => world.last_result.clone(),
            PrevResult::None => None,
            PrevResult::Empty => Some(Value::Object(Map::new())),
            PrevResult::Value(v) => Some(v.clone()),
        };
        let stdin = match &exec.raw_stdin {
            Some(raw) => raw.clone().into_bytes(),
            None => {
                let mut config = world.list.plugin_request(
                    &plugin,
                    prev.as_ref(),
                    &world.attachment.capability_args,
                );
                if let Some(patch) = &exec.config_patch {
                    merge_patch(&mut config, patch);
                }
                config.to_string().into_bytes()
            }
        };
        let mut env = world
            .runtime(self.options.timeout)
            .env(command, &world.attachment);
        env.insert("CNI_COMMAND".into(), exec.command.clone());
        for (key, value) in &exec.env {
            match value {
                Some(v) => env.insert(key.clone(), v.clone()),
                None => env.remove(key),
            };
        }
        let before = snapshot(world)?;
        let runtime = world.runtime(self.options.timeout);
        let request = runtime
            .request(&plugin.plugin_type, command, env, stdin)
            .map_err(|e| e.to_string())?;
        let execution = runtime.exec(&request).map_err(|e| e.to_string())?;
        let outcome = outcome_of(&execution);
        let failed_add = command == CniCommand::Add && !outcome.success;
        self.judge_plugin_step(world, label, &exec.expect, vec![execution], &outcome)?;
        if failed_add {
            self.leftovers(world, label, &before, false)?;
        }
        if let Some(result) = outcome
            .result
            .as_ref()
            .filter(|_| command == CniCommand::Add)
        {
            let last = self.executions.len().checked_sub(1);
            self.result_interfaces(world, label, &result.json, last)?;
        }
        Ok(())
    }

    /// N processes of one plugin at once, each with its own VLAN id and interface name.
    fn concurrent(&mut self, world: &mut World, c: &Concurrent, label: &str) -> Result<(), String> {
        let plugin = self.plugin_of(world, c.plugin)?;
        let command = c
            .command
            .parse::<CniCommand>()
            .map_err(|e| format!("concurrent: {e}"))?;
        let runtime = world.runtime(self.options.timeout);
        let requests = (0..c.processes)
            .map(|i| {
                let id = if c.same_id { 0 } else { i };
                let mut config =
                    world
                        .list
                        .plugin_request(&plugin, None, &world.attachment.capability_args);
                config["vlanId"] = (usize::from(c.first_vlan_id) + id).into();
                let mut attachment = world.attachment.clone();
                attachment.ifname = format!("{}{i}", c.ifname_prefix);
                let env = runtime.env(command, &attachment);
                runtime
                    .request(
                        &plugin.plugin_type,
                        command,
                        env,
                        config.to_string().into_bytes(),
                    )
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        let executions: Vec<Execution> = std::thread::scope(|scope| {
            let handles: Vec<_> = requests
                .iter()
                .map(|r| scope.spawn(|| runtime.exec(r)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| "exec thread panicked".to_string())?
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, String>>()
        })?;
        let outcomes: Vec<StepOutcome> = executions.iter().map(outcome_of).collect();
        let successes = outcomes.iter().filter(|o| o.success).count();
        let want = c.expect_successes.unwrap_or(c.processes);
        let first = self.executions.len();
        self.executions.extend(executions);
        let mut judge = self.judge(world, label);
        let clause = judge.clause_of(&c.expect);
        for (i, o) in outcomes.iter().enumerate() {
            if let Some(v) = o.violation.as_ref().or(o.harness_error.as_ref()) {
                judge.execution = Some(first + i);
                judge.fail(PROTOCOL, format!("process {i}: {v}"), None);
            }
        }
        if successes != want {
            judge.execution = outcomes.iter().position(|o| !o.success).map(|i| first + i);
            let sample = outcomes
                .iter()
                .find_map(|o| o.error.as_ref())
                .map(|e| format!("; e.g. code {}: {}", e.code, e.msg))
                .unwrap_or_default();
            judge.fail(
                &clause,
                format!(
                    "{successes} of {} concurrent {command} processes succeeded, expected {want}{sample}",
                    c.processes
                ),
                None,
            );
        }
        self.failures.extend(judge.failures);
        if command == CniCommand::Add {
            for (i, outcome) in outcomes.iter().enumerate() {
                if let Some(result) = &outcome.result {
                    self.result_interfaces(world, label, &result.json, Some(first + i))?;
                }
            }
        }
        if let Some(name) = &c.expect.state {
            let now = snapshot(world)?;
            if let Err(diff) = self.states.check(name, &now) {
                let mut judge = self.judge(world, label);
                judge.fail(
                    &clause,
                    format!("state differs from the stored state {name}"),
                    Some(diff),
                );
                self.failures.extend(judge.failures);
            }
        }
        Ok(())
    }

    fn plugin_of(
        &self,
        world: &World,
        index: Option<usize>,
    ) -> Result<crate::runtime::PluginConfig, String> {
        let plugins = &world.list.plugins;
        let index = index
            .or_else(|| {
                plugins
                    .iter()
                    .position(|p| p.plugin_type == self.options.plugin_type)
            })
            .unwrap_or(0);
        plugins.get(index).cloned().ok_or_else(|| {
            format!(
                "plugin index {index} is outside the list ({} plugins)",
                plugins.len()
            )
        })
    }

    /// After a successful ADD (`execution` printed `result`): every interface the result places
    /// in a namespace of the sandbox must be there under exactly its name (and MAC).
    fn result_interfaces(
        &mut self,
        world: &World,
        label: &str,
        result: &Value,
        execution: Option<usize>,
    ) -> Result<(), String> {
        let missing = missing_result_interfaces(&world.sandbox, result)
            .map_err(|e| format!("checking the result's interfaces: {e}"))?;
        if !missing.is_empty() {
            let mut judge = self.judge(world, label);
            judge.execution = execution;
            judge.fail(RESULT_INTERFACES, missing.join("; "), None);
            self.failures.extend(judge.failures);
        }
        Ok(())
    }

    /// Links and addresses that appeared since `reference` (and, after a DEL, IPAM
    /// reservations still held) are leftovers: failures of their own. After a DEL they leak
    /// (`suite.no-leftovers`); after a failed ADD they break the reference contract's undo
    /// (`contract.add.undo-on-failure`) and mark the case for the runtime's DEL at its end,
    /// which decides whether they leak.
    fn leftovers(
        &mut self,
        world: &World,
        label: &str,
        reference: &Snapshot,
        after_del: bool,
    ) -> Result<(), String> {
        let found = self.leftover_list(world, reference, after_del)?;
        if !found.is_empty() {
            let (clause, what) = if after_del {
                (NO_LEFTOVERS, "DEL")
            } else {
                self.failed_add_left = Some(self.current_step);
                (UNDO_ON_FAILURE, "the failed ADD")
            };
            let mut judge = self.judge(world, label);
            judge.execution = self.executions.len().checked_sub(1);
            judge.fail(
                clause,
                format!("left behind after {what}: {}", found.join(", ")),
                None,
            );
            self.failures.extend(judge.failures);
        }
        Ok(())
    }

    /// What [`Case::leftovers`] finds, described.
    fn leftover_list(
        &self,
        world: &World,
        reference: &Snapshot,
        after_del: bool,
    ) -> Result<Vec<String>, String> {
        let now = snapshot(world)?;
        // After a failed chain ADD, what the plugins before the failing one made (the
        // interfaces of its prevResult) stays until the runtime's DEL: not the failing
        // plugin's leftovers.
        let earlier_plugins = if after_del {
            BTreeSet::new()
        } else {
            self.executions
                .last()
                .map(|e| prev_result_interfaces(e.stdin.as_bytes()))
                .unwrap_or_default()
        };
        let theirs = |link: &str| earlier_plugins.contains(link);
        let mut found: Vec<String> = Vec::new();
        let known_links = link_set(reference);
        for (netns, link) in link_set(&now).difference(&known_links) {
            if !world.own_links.contains(&(netns.clone(), link.clone())) && !theirs(link) {
                found.push(format!("link {netns}/{link}"));
            }
        }
        let known_addresses = address_set(reference);
        for (netns, link, cidr) in address_set(&now).difference(&known_addresses) {
            if !theirs(link) {
                found.push(format!("address {cidr} on {netns}/{link}"));
            }
        }
        if after_del {
            let calls = call_log::read(&world.ipam_log()).map_err(|e| e.to_string())?;
            for call in call_log::outstanding_reservations(&calls) {
                let (container, ifname) = call.attachment();
                found.push(format!(
                    "IPAM reservation of ({container}, {ifname}) never released by a DEL"
                ));
            }
        }
        Ok(found)
    }
}

/// The user's `--cni-path` folders go right after the plugin under test.
fn with_extra_dirs(path: CniPath, extra: &[PathBuf]) -> CniPath {
    let mut dirs = path.dirs().to_vec();
    let at = 1.min(dirs.len());
    dirs.splice(at..at, extra.iter().cloned());
    CniPath::new(dirs)
}

/// Interface names in the `prevResult` of a plugin's stdin.
fn prev_result_interfaces(stdin: &[u8]) -> BTreeSet<String> {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|stdin| {
            stdin
                .get("prevResult")?
                .get("interfaces")?
                .as_array()
                .cloned()
        })
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("name")?.as_str().map(str::to_string))
        .collect()
}

fn snapshot(world: &World) -> Result<Snapshot, String> {
    Snapshot::capture(&world.sandbox).map_err(|e| format!("snapshot: {e}"))
}

fn link_set(s: &Snapshot) -> BTreeSet<(String, String)> {
    s.netns
        .iter()
        .flat_map(|(ns, state)| {
            state
                .links
                .iter()
                .map(move |l| (ns.clone(), l.name.clone()))
        })
        .collect()
}

fn address_set(s: &Snapshot) -> BTreeSet<(String, String, String)> {
    s.netns
        .iter()
        .flat_map(|(ns, state)| {
            state
                .addresses
                .iter()
                .map(move |a| (ns.clone(), a.link.clone(), a.cidr.clone()))
        })
        .collect()
}

fn outcome_of(execution: &Execution) -> StepOutcome {
    match &execution.outcome {
        Outcome::Success(SuccessOutput::Result(r)) => StepOutcome {
            success: true,
            result: Some(r.clone()),
            ..StepOutcome::default()
        },
        Outcome::Success(_) => StepOutcome {
            success: true,
            ..StepOutcome::default()
        },
        Outcome::Error(e) => StepOutcome {
            error: Some(e.clone()),
            ..StepOutcome::default()
        },
        Outcome::Violation(v) => StepOutcome {
            violation: Some(v.to_string()),
            ..StepOutcome::default()
        },
    }
}

/// RFC 7386-style merge: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Replaces `from` in every string of `value`.
fn substitute(value: Value, from: &str, to: &str) -> Value {
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
fn parse_cni_args(args: Option<&str>) -> Result<Vec<(&str, &str)>, String> {
    args.into_iter()
        .flat_map(|a| a.split(';'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .ok_or_else(|| format!("cni-args: {pair:?} is not KEY=VALUE"))
        })
        .collect()
}

fn step_kind(step: &Step) -> &'static str {
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
    fn merge_patch_replaces_adds_and_removes() {
        let mut v = json!({"vlanId": 3, "ipam": {"type": "x", "keep": 1}, "mtu": 1400});
        merge_patch(
            &mut v,
            &json!({"vlanId": "3", "ipam": {"type": "y"}, "mtu": null, "new": true}),
        );
        assert_eq!(
            v,
            json!({"vlanId": "3", "ipam": {"type": "y", "keep": 1}, "new": true})
        );
    }

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
    fn earlier_plugins_interfaces_come_from_the_failing_plugins_prev_result() {
        let stdin = json!({"type": "vlan", "prevResult": {"interfaces": [
            {"name": "veth1234"}, {"name": "eth0", "sandbox": "/x"}]}});
        let names = prev_result_interfaces(stdin.to_string().as_bytes());
        assert_eq!(
            names,
            BTreeSet::from(["veth1234".to_string(), "eth0".to_string()])
        );
        assert!(prev_result_interfaces(br#"{"type": "vlan"}"#).is_empty());
        assert!(prev_result_interfaces(b"not json").is_empty());
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
