//! What `cni-conform fuzz` found, as data (`fuzz.json`) and as text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::Shrunk;
use super::arena::Target;
use super::input::FuzzCase;
use super::judge::{Problem, Signature};
use super::kill::{KillCase, KillPlan};
use crate::kernel::KernelInfo;
use crate::runtime::Execution;

#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    pub plugin: String,
    /// The type it ran as (its name in `CNI_PATH`).
    pub plugin_type: String,
    /// What the cases start from before any mutation (`cniVersion`, `name` and the optional
    /// IPAM aside): the pack's `minimal.plugin`; `null` for `vlan`, whose cases start from its
    /// three modes.
    pub configuration: Option<Value>,
    pub kernel: KernelInfo,
    pub seed: u64,
    pub cases: usize,
    pub sandboxes_built: usize,
    /// How the cases' first executions ended ("ADD: success", "DEL: error 7", ...): how much of
    /// the plugin the cases reached.
    pub outcomes: BTreeMap<String, usize>,
    /// One per distinct problem, shrunk.
    pub findings: Vec<FuzzFinding>,
    pub kill: KillSummary,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FuzzFinding {
    pub signature: Signature,
    /// Cases (among the generated ones, shrinking not counted) that showed it.
    pub occurrences: usize,
    /// Index of the first such case in the run (with the seed, it can be generated again).
    pub first_case: usize,
    pub shrink_steps: usize,
    /// The problem as the shrunk case showed it.
    pub problem: Problem,
    /// The shrunk case.
    pub case: FuzzCase,
    /// The case as first generated.
    pub original: FuzzCase,
    /// The shrunk case's executions.
    pub executions: Vec<Execution>,
    #[serde(skip)]
    pub sandbox_dir: PathBuf,
    pub reproducer: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KillSummary {
    pub rounds: usize,
    /// Rounds whose ADD was still running when it was killed (the rest had finished).
    pub killed: usize,
    /// Delays were drawn from 0 to this.
    pub window_ms: f64,
    pub plan: KillPlan,
    pub findings: Vec<KillFinding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KillFinding {
    pub round: usize,
    pub case: KillCase,
    pub delay_ms: f64,
    pub killed: bool,
    pub problems: Vec<Problem>,
    pub executions: Vec<Execution>,
    pub reproducer: Option<PathBuf>,
}

impl FuzzFinding {
    pub fn new(
        signature: Signature,
        first_case: usize,
        original: FuzzCase,
        shrunk: Shrunk,
    ) -> Self {
        let problem = shrunk
            .run
            .problems
            .iter()
            .find(|(_, s)| *s == signature)
            .map(|(p, _)| p.clone())
            .expect("a shrunk case still shows its problem");
        FuzzFinding {
            signature,
            occurrences: 1,
            first_case,
            shrink_steps: shrunk.steps,
            problem,
            case: shrunk.case,
            original,
            executions: shrunk.run.executions,
            sandbox_dir: shrunk.run.sandbox_dir,
            reproducer: None,
        }
    }
}

/// [`FuzzReport::configuration`] of `target`.
pub fn configuration(target: &Target) -> Option<Value> {
    target.minimal.clone().map(Value::Object)
}

impl FuzzReport {
    pub fn clean(&self) -> bool {
        self.findings.is_empty() && self.kill.findings.is_empty()
    }
}

/// A summary for the terminal: counts, then each finding with its shrunk input and output.
pub fn render(report: &FuzzReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plugin {} (type {}, cases start from {})\nkernel {}\nseed {}: {} cases in {} sandboxes, {} kill rounds ({} killed mid-ADD, \
         delays 0..{:.0} ms), {:.0} s",
        report.plugin,
        report.plugin_type,
        match &report.configuration {
            Some(config) => config.to_string(),
            None => "its modes host-master, container-master and chained".to_string(),
        },
        report.kernel,
        report.seed,
        report.cases,
        report.sandboxes_built,
        report.kill.rounds,
        report.kill.killed,
        report.kill.window_ms,
        report.seconds
    );
    let outcomes: Vec<String> = report
        .outcomes
        .iter()
        .map(|(outcome, n)| format!("{outcome} x{n}"))
        .collect();
    let _ = writeln!(out, "case outcomes: {}", outcomes.join(", "));
    let configurations: Vec<String> = report
        .kill
        .plan
        .configurations
        .iter()
        .map(|(mode, ipam)| format!("{mode}{}", if *ipam { "+IPAM" } else { "" }))
        .collect();
    let _ = writeln!(
        out,
        "kill rounds used {} at versions {}",
        configurations.join(", "),
        report
            .kill
            .plan
            .versions
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for excluded in &report.kill.plan.excluded {
        let _ = writeln!(out, "  left out of kill rounds: {}", clip(excluded, 200));
    }
    let _ = writeln!(
        out,
        "{} distinct fuzz findings, {} kill-round findings",
        report.findings.len(),
        report.kill.findings.len()
    );
    for (index, f) in report.findings.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n[{}] {} — {} cases, first case {}, shrunk in {} steps",
            index + 1,
            f.signature,
            f.occurrences,
            f.first_case,
            f.shrink_steps
        );
        let _ = writeln!(out, "    {}", indent(&f.problem.detail));
        if let Some(first) = f.executions.first() {
            let env: Vec<String> = first
                .env
                .iter()
                .filter(|(k, _)| k.starts_with("CNI_") && k.as_str() != "CNI_PATH")
                .map(|(k, v)| format!("{k}={}", clip(v, 60)))
                .collect();
            let _ = writeln!(out, "    env: {}", env.join(" "));
            let _ = writeln!(
                out,
                "    stdin: {}",
                clip(&first.stdin.to_string_lossy(), 300)
            );
            let _ = writeln!(
                out,
                "    stdout: {}",
                clip(&first.stdout.to_string_lossy(), 300)
            );
            let _ = writeln!(out, "    exit: {}", first.exit);
        }
        if let Some(script) = &f.reproducer {
            let _ = writeln!(out, "    reproducer: {}", script.display());
        }
    }
    for f in &report.kill.findings {
        let kinds: Vec<String> = f.problems.iter().map(|p| p.kind.to_string()).collect();
        let _ = writeln!(
            out,
            "\n[kill round {}] {} ({} mode{}, IPAM {}, {} {:.1} ms)",
            f.round,
            kinds.join(", "),
            f.case.mode,
            match f.case.mode {
                super::input::Mode::Minimal => String::new(),
                _ => format!(", vlan {}", f.case.vlan_id),
            },
            f.case.ipam,
            if f.killed {
                "killed after"
            } else {
                "finished within"
            },
            f.delay_ms
        );
        for problem in &f.problems {
            let _ = writeln!(out, "    {}: {}", problem.step, indent(&problem.detail));
        }
        if let Some(script) = &f.reproducer {
            let _ = writeln!(out, "    reproducer: {}", script.display());
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n    ")
}

fn clip(text: &str, width: usize) -> String {
    let one_line = text.replace('\n', "\\n");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let kept: String = one_line.chars().take(width).collect();
    format!("{kept}… ({} bytes)", text.len())
}
