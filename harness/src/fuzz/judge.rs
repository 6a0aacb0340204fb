//! Running one fuzz case and deciding what is wrong with what the plugin did.
//!
//! A case fails when the plugin panics or is killed by a signal, hangs, prints something that
//! is neither a result (or VERSION reply) nor an error object, disagrees with itself (an error
//! object with exit status 0, a failure without one), returns an error code outside the spec's
//! ranges, or leaves anything behind in any namespace of the sandbox. An ADD that succeeds must
//! print a result whose interfaces exist where it says, under exactly its names and MACs (the
//! suite's own check, [`missing_result_interfaces`]); it is then followed by CHECK (when the
//! version has it) and DEL with the result as `prevResult`, as a runtime would, and those are
//! judged the same way; leftovers are looked for after the last.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::arena::Arena;
use super::input::{CommandValue, FuzzCase};
use crate::runtime::{
    CniCommand, ExecRequest, Execution, ExitStatus, Finding, Outcome, SuccessOutput, ViolationKind,
    execute,
};
use crate::snapshot::missing_result_interfaces;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Panic,
    KilledBySignal,
    Hang,
    /// stdout is not a valid result / reply / error object, or disagrees with the exit status.
    BadOutput,
    /// An error code outside the spec's ranges.
    BadErrorCode,
    LeftBehind,
    /// A successful ADD's result places an interface in a sandbox namespace that has no link of
    /// exactly that name (or MAC).
    ResultInterfaceMissing,
    /// DEL after an interrupted ADD did not succeed (crash-consistency rounds).
    DelFailed,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Panic => "panic",
            ProblemKind::KilledBySignal => "killed by a signal",
            ProblemKind::Hang => "hang",
            ProblemKind::BadOutput => "bad output",
            ProblemKind::BadErrorCode => "error code outside the spec's ranges",
            ProblemKind::LeftBehind => "left something behind",
            ProblemKind::ResultInterfaceMissing => "result names an interface that is not there",
            ProblemKind::DelFailed => "DEL after an interrupted ADD failed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// Which execution: "ADD", "CHECK after ADD", "DEL after ADD", or "case" for leftovers.
    pub step: String,
    pub detail: String,
}

/// What makes two problems "the same bug" for deduplication and shrinking: the kind, the step,
/// and for output problems what exactly was wrong (not the message, which names values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Signature {
    pub kind: ProblemKind,
    pub step: String,
    pub what: String,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.kind, self.step)?;
        if !self.what.is_empty() {
            write!(f, " ({})", self.what)?;
        }
        Ok(())
    }
}

impl Problem {
    fn new(kind: ProblemKind, step: &str, what: String, detail: String) -> (Problem, String) {
        let problem = Problem {
            kind,
            step: step.to_string(),
            detail,
        };
        (problem, what)
    }
}

/// Every execution of a case and what was wrong.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// The arena's folder: the paths in the executions are under it.
    pub sandbox_dir: PathBuf,
    pub executions: Vec<Execution>,
    pub problems: Vec<(Problem, Signature)>,
}

impl CaseRun {
    /// "STEP: success", "STEP: error CODE" or "STEP: violation" for the first execution.
    pub fn outcome_key(&self) -> String {
        let Some(first) = self.executions.first() else {
            return "not run".into();
        };
        let step = first
            .env
            .get("CNI_COMMAND")
            .map_or("no CNI_COMMAND".to_string(), |c| format!("{c:?}"));
        let ended = match &first.outcome {
            Outcome::Success(_) => "success".to_string(),
            Outcome::Error(e) => format!("error {}", e.code),
            Outcome::Violation(v) => format!("violation ({})", v.kind),
        };
        format!("{step}: {ended}")
    }

    pub fn left_something_behind(&self) -> bool {
        self.problems
            .iter()
            .any(|(p, _)| p.kind == ProblemKind::LeftBehind)
    }
}

/// Runs `case` in `arena`. Err only when the harness cannot run it (a spawn refused, a
/// snapshot failed): never because of what the plugin did.
pub fn run_case(arena: &Arena, case: &FuzzCase, timeout: Duration) -> Result<CaseRun, String> {
    arena.clear_ipam_log()?;
    let mut run = CaseRun {
        sandbox_dir: arena.sandbox.dir().to_path_buf(),
        executions: Vec::new(),
        problems: Vec::new(),
    };
    let step = case.step_name();
    let main = exec(
        arena,
        case.expected_command(),
        case.env(&arena.places, None),
        case.stdin(&arena.places, None),
        timeout,
    )?;
    run.problems.extend(judge(&main, &step));
    let result = match (&case.command, &main.outcome) {
        (CommandValue::Known(CniCommand::Add), Outcome::Success(SuccessOutput::Result(result))) => {
            Some(result.json.clone())
        }
        _ => None,
    };
    run.executions.push(main);
    if let Some(result) = &result {
        let missing = missing_result_interfaces(&arena.sandbox, result)
            .map_err(|e| format!("checking the result's interfaces: {e}"))?;
        if !missing.is_empty() {
            run.problems.push(with_signature(Problem::new(
                ProblemKind::ResultInterfaceMissing,
                &step,
                String::new(),
                missing.join("\n"),
            )));
        }
    }
    if let Some(result) = result {
        let version = case.version();
        let mut follow_ups = Vec::new();
        if version.has_check() {
            follow_ups.push((CniCommand::Check, Some(&result)));
        }
        let del_prev = version.has_prev_result_on_del().then_some(&result);
        follow_ups.push((CniCommand::Del, del_prev));
        for (command, prev) in follow_ups {
            let step = format!("{command} after ADD");
            let execution = exec(
                arena,
                command,
                case.env(&arena.places, Some(command)),
                case.stdin(&arena.places, prev),
                timeout,
            )?;
            run.problems.extend(judge(&execution, &step));
            run.executions.push(execution);
        }
    }
    let leftovers = arena.leftovers()?;
    if !leftovers.is_empty() {
        run.problems.push(left_behind(leftovers));
    }
    Ok(run)
}

pub fn left_behind(leftovers: Vec<String>) -> (Problem, Signature) {
    const SHOWN: usize = 40;
    let mut detail = leftovers
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if leftovers.len() > SHOWN {
        detail.push_str(&format!("\n... {} more lines", leftovers.len() - SHOWN));
    }
    with_signature(Problem::new(
        ProblemKind::LeftBehind,
        "case",
        String::new(),
        detail,
    ))
}

pub fn exec(
    arena: &Arena,
    command: CniCommand,
    env: std::collections::BTreeMap<String, String>,
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<Execution, String> {
    let request = ExecRequest {
        plugin: arena.plugin_type.clone(),
        binary: arena.plugin.clone(),
        command,
        env,
        stdin,
        timeout,
        memory: Default::default(),
    };
    execute(&request, Some(arena.sandbox.node())).map_err(|e| format!("cannot run the plugin: {e}"))
}

/// The problems of one execution.
pub fn judge(execution: &Execution, step: &str) -> Vec<(Problem, Signature)> {
    let mut problems = Vec::new();
    if let Some(panic) = panic_message(execution) {
        problems.push(Problem::new(ProblemKind::Panic, step, String::new(), panic));
    } else if let Outcome::Violation(violation) = &execution.outcome {
        let kind = match violation.kind {
            ViolationKind::KilledBySignal => ProblemKind::KilledBySignal,
            ViolationKind::TimedOut => ProblemKind::Hang,
            _ => ProblemKind::BadOutput,
        };
        let what = match kind {
            ProblemKind::BadOutput => violation.kind.to_string(),
            _ => String::new(),
        };
        problems.push(Problem::new(kind, step, what, violation.to_string()));
    }
    for finding in &execution.findings {
        if let Finding::ReservedErrorCode { code } = finding {
            problems.push(Problem::new(
                ProblemKind::BadErrorCode,
                step,
                format!("code {code}"),
                format!("error code {code} is neither one the spec defines nor 100 or above"),
            ));
        }
    }
    problems.into_iter().map(with_signature).collect()
}

fn with_signature((problem, what): (Problem, String)) -> (Problem, Signature) {
    let signature = Signature {
        kind: problem.kind,
        step: problem.step.clone(),
        what,
    };
    (problem, signature)
}

/// A Rust panic (exit status 101, or SIGABRT with `panic = "abort"`) or a Go panic (exit 2),
/// recognized by what the runtime printed on stderr.
fn panic_message(execution: &Execution) -> Option<String> {
    if execution.exit == ExitStatus::Code(0) {
        return None;
    }
    let stderr = execution.stderr.to_string_lossy();
    let rust = stderr.contains("panicked at");
    let go = stderr.contains("panic: ") && stderr.contains("goroutine ");
    (rust || go).then(|| {
        let lines: Vec<&str> = stderr.lines().take(12).collect();
        lines.join("\n")
    })
}

/// The prevResult a follow-up received, for reproducers.
pub fn result_json(execution: &Execution) -> Option<&Value> {
    match &execution.outcome {
        Outcome::Success(SuccessOutput::Result(result)) => Some(&result.json),
        _ => None,
    }
}
