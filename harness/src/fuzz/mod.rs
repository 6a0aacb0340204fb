//! `cni-conform fuzz`: black-box robustness of any CNI plugin.
//!
//! What is fuzzed is an [`arena::Target`]: for `vlan`, its three modes on the fuzzer's own
//! node; for any other type, its pack's minimal configuration on its pack's node.
//!
//! - [`input`] / [`strategy`]: proptest generates requests: valid network configurations
//!   mutated field by field (wrong types, out-of-range numbers, huge strings, unknown keys, deep
//!   nesting, invalid UTF-8, truncated or non-object stdin) and environments (missing or odd
//!   `CNI_*` values; `CNI_NETNS` naming a file, a folder, nothing, the plugin's own namespace).
//! - [`judge`]: runs a case in an [`arena`] and finds what is wrong (panic, signal, hang, bad
//!   output, exit status disagreeing with the output, error code outside the spec's ranges,
//!   anything left behind in any namespace or in the IPAM).
//! - [`kill`]: crash consistency, ADD killed with SIGKILL at a random moment, then DEL.
//! - [`reproducer`]: a finding as files plus a shell script that replays it.
//!
//! Every case gets its own random generator forked from one seeded ChaCha generator, so a seed
//! makes a run repeatable and a case can be generated again to be shrunk. The first case of
//! each distinct problem ([`Signature`]) is shrunk with proptest's value tree to the smallest
//! case failing the same way; later cases with that signature are counted.
//!
//! Sandboxes: building one costs about as much as a plugin execution under User-Mode Linux, so
//! an arena serves `sandbox_reuse` cases (1 = a fresh one per case). Reuse is safe because the
//! whole sandbox is compared with its baseline snapshot after every case, and an arena with any
//! leftover is replaced before the next case.

pub mod arena;
pub mod cli;
pub mod input;
pub mod judge;
pub mod kill;
pub mod report;
pub mod reproducer;
pub mod strategy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use arena::{Arena, Target};
use input::FuzzCase;
use judge::{CaseRun, Signature, run_case};
use kill::{KillCase, KillPlan, KillRun, kill_case, run_round};
use report::{FuzzFinding, FuzzReport, KillFinding, KillSummary};
use reproducer::Step;

use crate::runtime::CniCommand;

#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub plugin: PathBuf,
    /// Its type, configuration and node.
    pub target: Target,
    pub cases: usize,
    pub seed: u64,
    pub kill_rounds: usize,
    /// One plugin execution's limit; longer is a hang.
    pub timeout: Duration,
    /// Cases one sandbox serves before it is replaced (sooner on any leftover).
    pub sandbox_reuse: usize,
    /// Candidate cases tried while shrinking one finding.
    pub max_shrink_iterations: usize,
    /// Where reproducers go; none written without it.
    pub report_dir: Option<PathBuf>,
}

/// What the run is doing, for a progress line.
pub enum Progress<'a> {
    Case {
        done: usize,
        of: usize,
        findings: usize,
    },
    Found {
        signature: &'a Signature,
        case: usize,
    },
    Shrunk {
        signature: &'a Signature,
        steps: usize,
    },
    KillRound {
        done: usize,
        of: usize,
        findings: usize,
    },
}

pub fn run_fuzz(options: &FuzzOptions, progress: &dyn Fn(Progress)) -> Result<FuzzReport, String> {
    if options.sandbox_reuse == 0 {
        return Err("--sandbox-reuse must be at least 1".into());
    }
    let started = Instant::now();
    let mut arenas = Arenas::new(options);
    let mut master = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(options.seed)),
    );
    let strategy = strategy::fuzz_case(&options.target);
    let mut findings: BTreeMap<Signature, FuzzFinding> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for index in 0..options.cases {
        let rng = master.new_rng();
        let case = generate(&strategy, &rng)?.current();
        let run = arenas.run(|arena| run_case(arena, &case, options.timeout))?;
        *outcomes.entry(run.outcome_key()).or_default() += 1;
        let mut signatures: Vec<&Signature> = run.problems.iter().map(|(_, s)| s).collect();
        signatures.sort();
        signatures.dedup();
        for signature in signatures {
            if let Some(known) = findings.get_mut(signature) {
                known.occurrences += 1;
                continue;
            }
            progress(Progress::Found {
                signature,
                case: index,
            });
            let shrunk = shrink(&strategy, &rng, signature, &run, &mut arenas, options)?;
            progress(Progress::Shrunk {
                signature,
                steps: shrunk.steps,
            });
            let finding = FuzzFinding::new(signature.clone(), index, case.clone(), shrunk);
            findings.insert(signature.clone(), finding);
        }
        progress(Progress::Case {
            done: index + 1,
            of: options.cases,
            findings: findings.len(),
        });
    }
    let kill = kill_rounds(options, &mut master, &mut arenas, progress)?;
    let mut report = FuzzReport {
        plugin: options.plugin.display().to_string(),
        plugin_type: options.target.plugin_type.clone(),
        configuration: report::configuration(&options.target),
        kernel: crate::kernel::current(),
        seed: options.seed,
        cases: options.cases,
        sandboxes_built: arenas.built,
        outcomes,
        findings: findings.into_values().collect(),
        kill,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(dir) = &options.report_dir {
        write_reproducers(&mut report, dir, options)?;
    }
    Ok(report)
}

/// The 32 bytes ChaCha wants, spread from the 64-bit seed (splitmix64, so nearby seeds give
/// unrelated streams).
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut state = seed;
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes
}

/// The value tree a case's generator gives (the same every time for the same generator).
fn generate<S: Strategy>(strategy: &S, rng: &TestRng) -> Result<S::Tree, String> {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng.clone());
    strategy
        .new_tree(&mut runner)
        .map_err(|reason| format!("generating a case: {reason}"))
}

/// The smallest case found that still fails with `signature`, and its run.
pub struct Shrunk {
    pub case: FuzzCase,
    pub run: CaseRun,
    pub steps: usize,
}

/// proptest's shrinking walk: simplify while the case still fails the same way, complicate
/// back when a simplification made it pass, until neither moves or the budget is spent.
fn shrink<S: Strategy<Value = FuzzCase>>(
    strategy: &S,
    rng: &TestRng,
    signature: &Signature,
    first_run: &CaseRun,
    arenas: &mut Arenas,
    options: &FuzzOptions,
) -> Result<Shrunk, String> {
    let mut tree = generate(strategy, rng)?;
    let mut best = Shrunk {
        case: tree.current(),
        run: first_run.clone(),
        steps: 0,
    };
    let mut tries = 0;
    if !tree.simplify() {
        return Ok(best);
    }
    while tries < options.max_shrink_iterations {
        tries += 1;
        let candidate = tree.current();
        let run = arenas.run(|arena| run_case(arena, &candidate, options.timeout))?;
        let still_fails = run.problems.iter().any(|(_, s)| s == signature);
        if still_fails {
            best = Shrunk {
                case: candidate,
                run,
                steps: best.steps + 1,
            };
            if !tree.simplify() {
                break;
            }
        } else if !tree.complicate() {
            break;
        }
    }
    Ok(best)
}

fn kill_rounds(
    options: &FuzzOptions,
    master: &mut TestRunner,
    arenas: &mut Arenas,
    progress: &dyn Fn(Progress),
) -> Result<KillSummary, String> {
    if options.kill_rounds == 0 {
        return Ok(KillSummary::default());
    }
    let plan = calibrate(arenas, options)?;
    let mut summary = KillSummary {
        window_ms: plan.window.as_secs_f64() * 1000.0,
        plan: plan.clone(),
        ..KillSummary::default()
    };
    if plan.configurations.is_empty() {
        // Nothing to interrupt: the plugin handles none of the configurations.
        return Ok(summary);
    }
    let strategy = kill_case(&plan);
    for index in 0..options.kill_rounds {
        let rng = master.new_rng();
        let round: KillCase = generate(&strategy, &rng)?.current();
        let run: KillRun = arenas.run(|arena| run_round(arena, &round, &plan))?;
        summary.rounds += 1;
        if run.killed {
            summary.killed += 1;
        }
        if !run.problems.is_empty() {
            summary.findings.push(KillFinding {
                round: index,
                case: round.clone(),
                delay_ms: round.delay(&plan).as_secs_f64() * 1000.0,
                killed: run.killed,
                problems: run.problems.into_iter().map(|(p, _)| p).collect(),
                executions: run.executions,
                reproducer: None,
            });
        }
        progress(Progress::KillRound {
            done: index + 1,
            of: options.kill_rounds,
            findings: summary.findings.len(),
        });
    }
    Ok(summary)
}

/// Which configurations the rounds use and the delay window: see [`KillPlan`].
fn calibrate(arenas: &mut Arenas, options: &FuzzOptions) -> Result<KillPlan, String> {
    let versions = kill::supported_versions(arenas.arena()?, options.timeout)?;
    let mut plan = KillPlan::new(versions, options.timeout, options.target.minimal.clone());
    // Probes run to completion: their window is the whole timeout.
    let uninterrupted = plan.clone();
    for mode in plan.modes() {
        for ipam in [true, false] {
            let probe = plan.probe(mode, ipam);
            let run = arenas.run(|arena| run_round(arena, &probe, &uninterrupted))?;
            plan.admit(&probe, &run);
        }
    }
    Ok(plan)
}

/// Hands out arenas: one per `sandbox_reuse` cases, a new one after any leftover.
struct Arenas {
    plugin: PathBuf,
    target: Target,
    reuse: usize,
    current: Option<(Arena, usize)>,
    built: usize,
}

trait LeavesThings {
    fn left_something_behind(&self) -> bool;
}

impl LeavesThings for CaseRun {
    fn left_something_behind(&self) -> bool {
        CaseRun::left_something_behind(self)
    }
}

impl LeavesThings for KillRun {
    fn left_something_behind(&self) -> bool {
        self.problems
            .iter()
            .any(|(p, _)| p.kind == judge::ProblemKind::LeftBehind)
    }
}

impl Arenas {
    fn new(options: &FuzzOptions) -> Arenas {
        Arenas {
            plugin: options.plugin.clone(),
            target: options.target.clone(),
            reuse: options.sandbox_reuse,
            current: None,
            built: 0,
        }
    }

    /// The current arena, a new one when there is none or it served its cases.
    fn arena(&mut self) -> Result<&Arena, String> {
        if self
            .current
            .as_ref()
            .is_none_or(|(_, used)| *used >= self.reuse)
        {
            // The old one goes first: its namespaces and mounts are gone before new ones come.
            self.current = None;
            self.current = Some((Arena::new(&self.plugin, &self.target)?, 0));
            self.built += 1;
        }
        Ok(&self.current.as_ref().expect("just ensured").0)
    }

    /// Runs one case or round; an arena that was left dirty is not used again.
    fn run<T: LeavesThings>(
        &mut self,
        work: impl FnOnce(&Arena) -> Result<T, String>,
    ) -> Result<T, String> {
        let outcome = work(self.arena()?)?;
        if let Some((_, used)) = &mut self.current {
            *used += 1;
        }
        if outcome.left_something_behind() {
            self.current = None;
        }
        Ok(outcome)
    }
}

fn write_reproducers(
    report: &mut FuzzReport,
    dir: &Path,
    options: &FuzzOptions,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let places = reproducer::places()?;
    for (index, finding) in report.findings.iter_mut().enumerate() {
        let steps = fuzz_steps(finding, &places);
        let title = format!(
            "{} (seed {}, case {}, shrunk in {} steps)",
            finding.signature, options.seed, finding.first_case, finding.shrink_steps
        );
        let folder = dir.join(format!("finding-{:03}", index + 1));
        finding.reproducer = Some(reproducer::write(
            &folder,
            &*finding,
            &title,
            &options.plugin,
            &options.target,
            &steps,
        )?);
    }
    for finding in &mut report.kill.findings {
        let request = finding.case.request();
        let stdin = request.stdin(&places, None);
        let steps = [
            Step {
                label: "ADD, killed".into(),
                env: request.env(&places, None).into_iter().collect(),
                stdin: stdin.clone(),
                kill_after: Some(Duration::from_secs_f64(finding.delay_ms / 1000.0)),
            },
            Step {
                label: "DEL".into(),
                env: request
                    .env(&places, Some(CniCommand::Del))
                    .into_iter()
                    .collect(),
                stdin,
                kill_after: None,
            },
        ];
        let kinds: Vec<String> = finding
            .problems
            .iter()
            .map(|p| p.kind.to_string())
            .collect();
        let title = format!(
            "kill round {} (seed {}): {}",
            finding.round,
            options.seed,
            kinds.join(", ")
        );
        let folder = dir.join(format!("kill-round-{:03}", finding.round));
        finding.reproducer = Some(reproducer::write(
            &folder,
            &*finding,
            &title,
            &options.plugin,
            &options.target,
            &steps,
        )?);
    }
    let json = serde_json::to_string_pretty(report).expect("the report is plain data");
    std::fs::write(dir.join("fuzz.json"), json)
        .map_err(|e| format!("writing fuzz.json in {}: {e}", dir.display()))
}

/// A shrunk case's executions as steps: its own request, then CHECK and DEL with the
/// `prevResult` the plugin printed in the recorded run (its paths moved to `places`).
fn fuzz_steps(finding: &FuzzFinding, places: &input::Places) -> Vec<Step> {
    let case = &finding.case;
    let executions = &finding.executions;
    let result = executions.first().and_then(judge::result_json).map(|r| {
        let text = r.to_string().replace(
            &finding.sandbox_dir.display().to_string(),
            reproducer::WORK_DIR,
        );
        serde_json::from_str(&text).unwrap_or_else(|_| r.clone())
    });
    executions
        .iter()
        .enumerate()
        .map(|(index, execution)| {
            let follow_up = index > 0;
            let prev = result
                .as_ref()
                .filter(|_| follow_up && has_prev_result(execution));
            Step {
                label: if follow_up {
                    format!("{} after ADD", execution.command)
                } else {
                    case.step_name()
                },
                env: case
                    .env(places, follow_up.then_some(execution.command))
                    .into_iter()
                    .collect(),
                stdin: case.stdin(places, prev),
                kill_after: None,
            }
        })
        .collect()
}

fn has_prev_result(execution: &crate::runtime::Execution) -> bool {
    let needle = b"\"prevResult\"";
    execution
        .stdin
        .as_bytes()
        .windows(needle.len())
        .any(|w| w == needle)
}
