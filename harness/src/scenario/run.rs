//! Running the suite: each applicable (scenario, CNI version) pair is a case ([`super::case`]),
//! run in its own fresh sandbox, in parallel up to `jobs`; the plugin's VERSION answer decides
//! which versions run.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cni_types::CniVersion;

use super::builtin_clauses::VERSION_REPLY;
use super::case::run_case;
use super::expect::Failure;
use super::load::{Library, ScenarioFileError};
use super::model::{Feature, Level, Scenario};
use super::pack::TypePack;
use super::source::Source;
use super::states::StateOracle;
use super::unlisted_version;
use super::verdict::{self, CaseStatus, Profile};
use crate::kernel::{self};
use crate::runtime::{CniCommand, Outcome, SuccessOutput};
use crate::topology::Topology;

pub use super::options::SuiteOptions;
pub use super::report::{CaseReport, StepRecord, SuiteReport};

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
    let selection = library.load_for(&options.plugin_type)?;
    let (scenarios, errors) = (selection.scenarios, selection.errors);
    let pack = selection.pack.as_ref();
    let plugin_release = plugin_release(options);
    let notes = notes(pack, options);
    // A type without a reference contract has only spec and suite clauses to fail: the
    // reference profile judges it as the spec profile does (and the notes say so).
    let judged_by_spec;
    let options = match pack {
        Some(p)
            if p.reference_contract.is_none()
                && options.judgement.profile == Profile::Reference =>
        {
            let mut spec = options.clone();
            spec.judgement.profile = Profile::Spec;
            judged_by_spec = spec;
            &judged_by_spec
        }
        _ => options,
    };
    let plugin_versions = match plugin_versions(options)? {
        Ok(versions) => versions,
        Err(case) => {
            // No versions to run anything at: the broken VERSION answer is the one case.
            return Ok(SuiteReport {
                judgement: options.judgement.clone(),
                kernel: kernel::current(),
                runtime: options.runtime.info(),
                plugin: options.plugin.clone(),
                plugin_type: options.plugin_type.clone(),
                plugin_release,
                notes,
                plugin_versions: vec![],
                cases: vec![*case],
                scenario_errors: errors.iter().map(ScenarioFileError::to_string).collect(),
                unjudged: vec![],
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
    if cases.is_empty() {
        return Err(empty_selection(&scenarios, options));
    }
    // A version left out of VERSION is judged in every run that selects it, whatever the
    // filter: it is about the plugin, not about one scenario.
    let probe = unlisted_version::scenario(&options.plugin_type, pack, &library.fixtures_dir)?;
    for version in unlisted_version::unlisted(&plugin_versions, options.versions.as_deref()) {
        cases.push((&probe, version, None));
    }
    let kernel_lacks = kernel_lacks(pack)?;
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
                    let report = match (skip, &kernel_lacks) {
                        (Some(reason), _) => skipped(scenario, *version, reason),
                        (None, Some(reason)) => not_run(
                            scenario,
                            *version,
                            CaseStatus::Unsupported {
                                features: vec![],
                                reason: reason.clone(),
                            },
                        ),
                        (None, None) => run_case(library, scenario, *version, options, states),
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
    let mut cases: Vec<CaseReport> = reports.into_iter().map(|(_, r)| r).collect();
    let has_contract = pack.is_none_or(|p| p.reference_contract.is_some());
    if !has_contract {
        // The suite's own checks include the reference contract's (error codes, undoing a
        // failed ADD): for a type that has none they are nobody's rule, so they are dropped.
        for case in cases.iter_mut().filter(|c| c.ran()) {
            case.failures
                .retain(|f| Source::of_clause(&f.clause) != Some(Source::Reference));
            case.status =
                verdict::status(&case.failures, case.declined.as_ref(), &options.judgement);
        }
    }
    for case in cases
        .iter_mut()
        .filter(|c| has_contract && c.scenario == unlisted_version::SCENARIO_ID && c.ran())
    {
        unlisted_version::add_contract_failure(case, &plugin_versions, &options.judgement);
    }
    let unjudged = unjudged(&cases, options);
    Ok(SuiteReport {
        judgement: options.judgement.clone(),
        kernel: kernel::current(),
        runtime: options.runtime.info(),
        plugin: options.plugin.clone(),
        plugin_type: options.plugin_type.clone(),
        plugin_release,
        notes,
        unjudged,
        plugin_versions,
        cases,
        scenario_errors: errors.iter().map(ScenarioFileError::to_string).collect(),
        duration_ms: started.elapsed().as_millis(),
    })
}

/// The error for a `--filter` and `--versions` that select no case, naming what they were
/// matched against.
fn empty_selection(scenarios: &[Scenario], options: &SuiteOptions) -> String {
    let ids: Vec<&str> = scenarios.iter().map(|s| s.id.as_str()).collect();
    let versions = options
        .versions
        .as_ref()
        .map(|vs| vs.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(","));
    match (&options.filter, versions) {
        (Some(filter), None) => format!(
            "--filter {filter:?} matches none of the {} scenario ids ({}; cni-conform list \
             shows them)",
            ids.len(),
            ids.join(", ")
        ),
        (filter, Some(versions)) => format!(
            "--versions {versions}{} selects no case: no selected scenario applies to {}",
            filter
                .as_ref()
                .map(|f| format!(" with --filter {f:?}"))
                .unwrap_or_default(),
            if versions.contains(',') {
                "those versions"
            } else {
                "that version"
            }
        ),
        (None, None) => format!("no scenarios to run in {} scenario files", ids.len()),
    }
}

/// What was asked for and judged by nothing (see [`SuiteReport::unjudged`]).
fn unjudged(cases: &[CaseReport], options: &SuiteOptions) -> Vec<String> {
    let scenario_cases = || {
        cases
            .iter()
            .filter(|c| c.scenario != unlisted_version::SCENARIO_ID)
    };
    let reasons = |version: Option<CniVersion>| {
        let mut reasons: Vec<String> = scenario_cases()
            .filter(|c| version.is_none_or(|v| c.version == v))
            .filter_map(|c| c.not_run_because().map(str::to_string))
            .collect();
        reasons.sort();
        reasons.dedup();
        reasons.join("; ")
    };
    if scenario_cases().all(|c| !c.ran()) {
        return vec![format!(
            "every selected case was skipped ({}): nothing was judged",
            reasons(None)
        )];
    }
    options
        .versions
        .iter()
        .flatten()
        .filter(|v| {
            let mut at = scenario_cases().filter(|c| c.version == **v).peekable();
            at.peek().is_some() && at.all(|c| !c.ran())
        })
        .map(|v| {
            format!(
                "every case at {v}, asked for with --versions, was skipped ({}): {v} was not judged",
                reasons(Some(*v))
            )
        })
        .collect()
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

/// Why no case of the type can run on this kernel (`kernel: no dummy (...)`), if so.
fn kernel_lacks(pack: Option<&TypePack>) -> Result<Option<String>, String> {
    let Some(pack) = pack.filter(|p| !p.kernel.is_empty()) else {
        return Ok(None);
    };
    let missing = kernel::missing_link_kinds(&pack.kernel)?;
    Ok((!missing.is_empty()).then(|| {
        let each: Vec<String> = missing
            .iter()
            .map(|(kind, why)| format!("no {} (module {}: {why})", kind.name(), kind.module()))
            .collect();
        format!("kernel: {}", each.join("; "))
    }))
}

/// How the run is judged beyond the profile's name, for the report's header.
fn notes(pack: Option<&TypePack>, options: &SuiteOptions) -> Vec<String> {
    match pack {
        Some(pack) if pack.reference_contract.is_none() => vec![format!(
            "{} has no reference contract (only vlan has one): it is judged on spec and suite \
             clauses{}",
            pack.plugin_type,
            if options.judgement.profile == Profile::Reference {
                ", so --profile reference judges the same as --profile spec"
            } else {
                ""
            }
        )],
        _ => vec![],
    }
}

/// Which build this is: the plugin's line about itself (what upstream's skeleton prints on
/// stderr when run with no CNI_COMMAND, "CNI <type> plugin <version>"), else its Debian
/// package or fetched release ([`crate::runtime::plugin_release`]).
fn plugin_release(options: &SuiteOptions) -> Option<String> {
    let request = crate::runtime::ExecRequest {
        plugin: options.plugin_type.clone(),
        binary: options.plugin.clone(),
        command: CniCommand::Version,
        env: Default::default(),
        stdin: vec![],
        timeout: options.timeout,
        memory: Default::default(),
    };
    let about = crate::runtime::execute(&request, None)
        .ok()
        .and_then(|execution| {
            execution
                .stderr
                .to_string_lossy()
                .lines()
                .find(|l| l.starts_with("CNI ") && l.contains(" plugin "))
                .map(str::to_string)
        });
    crate::runtime::plugin_release::describe(&options.plugin, about.as_deref())
}

fn skipped(scenario: &Scenario, version: CniVersion, reason: &str) -> CaseReport {
    not_run(
        scenario,
        version,
        CaseStatus::Skip {
            reason: reason.to_string(),
        },
    )
}

/// A case that was not run, with why.
fn not_run(scenario: &Scenario, version: CniVersion, status: CaseStatus) -> CaseReport {
    CaseReport {
        scenario: scenario.id.clone(),
        version,
        status,
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
        Outcome::Violation(v) => v.to_string(),
        Outcome::Error(e) => format!("a CNI error, code {}: {}", e.code, e.msg),
        Outcome::Success(_) => "a success that is no version reply".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::case;

    /// Cases the kernel could not make links for did not run: a run of nothing else is not
    /// judged, and says why, whatever statuses the other cases have.
    #[test]
    fn a_type_the_kernel_lacks_links_for_goes_unjudged_and_says_why() {
        let lacking = CaseStatus::Unsupported {
            features: vec![],
            reason: "kernel: no dummy (module dummy: Operation not supported)".into(),
        };
        let declined = CaseStatus::Unsupported {
            features: vec![Feature::Chaining],
            reason: "chaining is not supported".into(),
        };
        let options = SuiteOptions::reference("/bin/true");
        let not_run = case("core-lifecycle", CniVersion::V1_0_0, lacking.clone());
        assert!(!not_run.ran());
        assert_eq!(
            lacking.to_string(),
            "unsupported (kernel: no dummy (module dummy: Operation not supported))"
        );
        let problems = unjudged(&[not_run], &options);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("kernel: no dummy") && problems[0].contains("nothing was judged"),
            "{problems:?}"
        );
        // A declined capability is a verdict on a case that ran.
        let declined = case("chained-seed", CniVersion::V1_0_0, declined);
        assert!(declined.ran());
        assert!(unjudged(&[declined], &options).is_empty());
    }
}
