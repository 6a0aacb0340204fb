//! Judging a step against its expectation. Each broken expectation becomes a [`Failure`] tied
//! to a clause, so a report says which rule a plugin broke, at which step, expected vs actual.

use cni_types::{CniError, CniVersion};
use serde::Serialize;

use super::builtin_clauses::{
    CNI_VARIABLES, ERROR_CODE, HARNESS, INTERFACE_MTU, INVALID_ENVIRONMENT_CODE,
    INVALID_VARIABLES_NAMED, MESSAGE, PROTOCOL, builtin,
};
use super::model::{Expect, Expectation, Level, ResultExpect, Scenario};
use super::source::Source;
use crate::runtime::{ChainError, ChainRun, Execution, Outcome, PluginResult, SuccessOutput};

/// One broken expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub clause: String,
    /// Read off the clause id: which rule book the broken clause is from.
    pub source: Source,
    /// The CNI SPEC section, for `spec` clauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    pub level: Level,
    /// 1-based step number and its kind, e.g. `3 (del)`.
    pub step: String,
    pub message: String,
    /// Expected-vs-actual, when there is more to show than the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Index into the case's executions of the plugin run that shows the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<usize>,
    /// The member of the network configuration list whose execution produced the failure, when
    /// it was judged on one execution (an outcome, an error message, a result it printed);
    /// `None` for what the plugin under test answers for as a whole (states, links, leaks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<ChainMember>,
}

/// A plugin of the network configuration list, as a report names it: `ptp (position 1)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainMember {
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// 1-based, as a reader counts the list's plugins.
    pub position: usize,
    /// Whether this member is the plugin under test. Only the plugin under test's failures
    /// decide a case: another member's (an upstream main plugin, a fixture) are reported as
    /// that member's.
    pub under_test: bool,
}

impl std::fmt::Display for ChainMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (position {})", self.plugin_type, self.position)
    }
}

impl Failure {
    /// Whether the failure belongs to the plugin under test (and so may decide the case).
    pub fn is_plugin_under_test(&self) -> bool {
        self.member.as_ref().is_none_or(|m| m.under_test)
    }
}

impl Failure {
    /// A failure of `clause`, its source read off the id and, for the suite's built-in spec
    /// clauses, its section filled in.
    pub fn new(clause: &str, level: Level, step: &str, message: impl Into<String>) -> Failure {
        Failure {
            clause: clause.to_string(),
            source: Source::of_clause(clause).unwrap_or(Source::Reference),
            section: builtin(clause).and_then(|c| c.section).map(str::to_string),
            level,
            step: step.to_string(),
            message: message.into(),
            diff: None,
            execution: None,
            member: None,
        }
    }
}

/// What a plugin-running step came to, in the terms expectations speak.
#[derive(Debug, Default)]
pub struct StepOutcome {
    pub success: bool,
    pub error: Option<CniError>,
    /// A protocol violation, described.
    pub violation: Option<String>,
    /// The step could not run a plugin at all (not found, cache failure, ...).
    pub harness_error: Option<String>,
    pub result: Option<PluginResult>,
}

impl StepOutcome {
    pub fn of_chain<T>(run: &ChainRun<T>, result: impl FnOnce(&T) -> Option<PluginResult>) -> Self {
        match &run.outcome {
            Ok(value) => StepOutcome {
                success: true,
                result: result(value),
                ..StepOutcome::default()
            },
            Err(e) => StepOutcome::of_chain_error(e),
        }
    }

    /// One execution's outcome.
    pub fn of_execution(execution: &Execution) -> Self {
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

    pub fn of_chain_error(e: &ChainError) -> Self {
        if let Some(cni) = e.cni_error() {
            StepOutcome {
                error: Some(cni.clone()),
                ..StepOutcome::default()
            }
        } else if let Some(v) = e.violation() {
            StepOutcome {
                violation: Some(v.to_string()),
                ..StepOutcome::default()
            }
        } else {
            StepOutcome {
                harness_error: Some(e.to_string()),
                ..StepOutcome::default()
            }
        }
    }
}

/// Judges `outcome` against `expect`. `step` labels failures; `netns_path` is what `CNI_NETNS`
/// was (for `sandboxed`).
pub struct Judge<'a> {
    pub scenario: &'a Scenario,
    pub version: CniVersion,
    pub step: String,
    pub netns_path: &'a str,
    pub failures: Vec<Failure>,
    /// The execution that represents this step in reports (the last one it made).
    pub execution: Option<usize>,
    /// While set, failures belong to this member (judging one member's execution).
    pub member: Option<ChainMember>,
    /// The result's expected facts are not judged: a SPEC rule the result broke (it dropped
    /// its prevResult) already says what is wrong with it.
    pub result_superseded: bool,
}

impl<'a> Judge<'a> {
    pub fn fail(&mut self, clause: &str, message: impl Into<String>, diff: Option<String>) {
        let level = self.level_of(clause);
        let declared = self.scenario.clauses.iter().find(|c| c.id == clause);
        let mut failure = Failure::new(clause, level, &self.step, message);
        if let Some(section) = declared.and_then(|c| c.section.clone()) {
            failure.section = Some(section);
        }
        self.failures.push(Failure {
            diff,
            execution: self.execution,
            member: self.member.clone(),
            ..failure
        });
    }

    fn level_of(&self, clause: &str) -> Level {
        match builtin(clause) {
            Some(builtin) => builtin.level,
            None => self
                .scenario
                .clauses
                .iter()
                .find(|c| c.id == clause)
                .map_or(Level::Must, |c| c.level),
        }
    }

    pub fn clause_of(&self, expect: &Expect) -> String {
        expect
            .clause
            .clone()
            .unwrap_or_else(|| self.scenario.clauses[0].id.clone())
    }

    /// The clause one kind of expectation breaks: its own when the step names one in
    /// `clauses`, the step's `clause` otherwise.
    pub fn clause_for(&self, expect: &Expect, expectation: Expectation) -> String {
        expect
            .clauses
            .of(expectation)
            .map_or_else(|| self.clause_of(expect), str::to_string)
    }

    /// The clause a wrong error code breaks: [`ERROR_CODE`] where the step's clause is the
    /// SPEC's (the spec requires no particular code), the step's clause otherwise.
    fn code_clause_of(&self, expect: &Expect) -> String {
        let clause = self.clause_of(expect);
        if Source::of_clause(&clause) == Some(Source::Spec) {
            ERROR_CODE.to_string()
        } else {
            clause
        }
    }

    /// Success or failure, the code, the message.
    pub fn outcome(&mut self, expect: &Expect, outcome: &StepOutcome) {
        let outcome_clause = self.clause_for(expect, Expectation::Outcome);
        if let Some(e) = &outcome.harness_error {
            self.fail(HARNESS, format!("the step could not run: {e}"), None);
            return;
        }
        if let Some(v) = &outcome.violation {
            self.fail(PROTOCOL, format!("protocol violation: {v}"), None);
            return;
        }
        let want_failure = expect.wants_failure();
        match (&outcome.error, want_failure) {
            (None, false) => {}
            (Some(e), false) => self.fail(
                &outcome_clause,
                format!("expected success, got error code {}: {}", e.code, e.msg),
                None,
            ),
            (None, true) => self.fail(
                &outcome_clause,
                format!(
                    "expected an error{}, but the operation succeeded",
                    describe_code(expect)
                ),
                None,
            ),
            (Some(e), true) => {
                let code_ok = expect.code.is_none_or(|c| c == e.code)
                    && expect.code_at_least.is_none_or(|c| e.code >= c);
                if !code_ok {
                    let code_clause = self.code_clause_of(expect);
                    self.fail(
                        &code_clause,
                        format!(
                            "expected error{}, got code {}: {}",
                            describe_code(expect),
                            e.code,
                            e.msg
                        ),
                        None,
                    );
                }
                let text = format!("{} {}", e.msg, e.details.as_deref().unwrap_or(""));
                for needle in &expect.msg_contains {
                    // A code 4 naming no variable at all is judged once, on every step.
                    let judged_everywhere = e.code == INVALID_ENVIRONMENT_CODE
                        && CNI_VARIABLES.contains(&needle.as_str())
                        && !names_a_cni_variable(e);
                    if !text.contains(needle.as_str()) && !judged_everywhere {
                        self.fail(
                            message_clause(e.code, needle),
                            format!("error message {:?} does not mention {needle:?}", e.msg),
                            None,
                        );
                    }
                }
            }
        }
        self.member = None;
        if self.result_superseded {
            return;
        }
        let clause = self.clause_for(expect, Expectation::Result);
        if let (Some(want), Some(got)) = (&expect.result, &outcome.result) {
            self.result(&clause, want, got);
        } else if expect.result.is_some() && outcome.success {
            self.fail(&clause, "expected a result, the step returned none", None);
        }
    }

    fn result(&mut self, clause: &str, want: &ResultExpect, got: &PluginResult) {
        let r = &got.result;
        let legacy = self.version.has_legacy_result();
        let json = serde_json::to_string_pretty(&got.json).unwrap_or_default();
        let mut problems = Vec::new();
        if let Some(names) = &want.interfaces
            && !legacy
        {
            let actual: Vec<&str> = r.interfaces.iter().map(|i| i.name.as_str()).collect();
            if actual != names.iter().map(String::as_str).collect::<Vec<_>>() {
                problems.push(format!("interfaces are {actual:?}, expected {names:?}"));
            }
        }
        for spec in want.ips.iter().flatten() {
            let (address, ifname) = match spec.split_once('@') {
                Some((a, i)) => (a, Some(i)),
                None => (spec.as_str(), None),
            };
            // Legacy results carry one address per family only.
            let Some(ip) = r.ips.iter().find(|ip| ip.address.to_string() == address) else {
                if !legacy {
                    problems.push(format!("address {address} is missing from ips"));
                }
                continue;
            };
            if let Some(ifname) = ifname
                && !legacy
            {
                let pointed = ip
                    .interface
                    .and_then(|i| r.interfaces.get(i))
                    .map(|i| i.name.as_str());
                if pointed != Some(ifname) {
                    problems.push(format!(
                        "address {address} points at interface {pointed:?}, expected {ifname:?}"
                    ));
                }
            }
        }
        for spec in want.routes.iter().flatten() {
            let (dst, gw) = match spec.split_once(" via ") {
                Some((d, g)) => (d, Some(g)),
                None => (spec.as_str(), None),
            };
            let found = r.routes.iter().any(|route| {
                route.dst.to_string() == dst
                    && gw.is_none_or(|g| route.gw.map(|x| x.to_string()).as_deref() == Some(g))
            });
            if !found {
                problems.push(format!("route {spec} is missing"));
            }
        }
        if let Some(ns) = &want.dns_nameservers
            && &r.dns.nameservers != ns
        {
            problems.push(format!(
                "dns nameservers are {:?}, expected {ns:?}",
                r.dns.nameservers
            ));
        }
        if self.version.has_interface_mtu() {
            for (name, mtu) in &want.interface_mtu {
                let actual = r
                    .interfaces
                    .iter()
                    .find(|i| &i.name == name)
                    .and_then(|i| i.mtu);
                if actual != Some(*mtu) {
                    let actual = actual.map_or("absent".to_string(), |m| m.to_string());
                    self.fail(
                        INTERFACE_MTU,
                        format!("result: interface {name} mtu is {actual}, expected {mtu}"),
                        Some(json.clone()),
                    );
                }
            }
        }
        if !legacy {
            for name in &want.sandboxed {
                let sandbox = r
                    .interfaces
                    .iter()
                    .find(|i| &i.name == name)
                    .and_then(|i| i.sandbox.as_deref());
                if sandbox != Some(self.netns_path) {
                    problems.push(format!(
                        "interface {name} has sandbox {sandbox:?}, expected CNI_NETNS {:?}",
                        self.netns_path
                    ));
                }
            }
        }
        for p in problems {
            self.fail(clause, format!("result: {p}"), Some(json.clone()));
        }
    }
}

/// Whether a code 4 error names one of the CNI variables, as the SPEC requires of its message.
pub fn names_a_cni_variable(e: &CniError) -> bool {
    let text = format!("{} {}", e.msg, e.details.as_deref().unwrap_or(""));
    CNI_VARIABLES.iter().any(|v| text.contains(v))
}

/// The clause an error message that lacks `needle` breaks: the SPEC's when the plugin answered
/// code 4 and `needle` is the name of one of the CNI variables (code 4's message "must contain
/// the names of invalid variables"), the advisory [`MESSAGE`] otherwise (values, other codes).
pub fn message_clause(code: u32, needle: &str) -> &'static str {
    if code == INVALID_ENVIRONMENT_CODE && CNI_VARIABLES.contains(&needle) {
        INVALID_VARIABLES_NAMED
    } else {
        MESSAGE
    }
}

fn describe_code(expect: &Expect) -> String {
    match (expect.code, expect.code_at_least) {
        (Some(c), _) => format!(" with code {c}"),
        (None, Some(c)) => format!(" with a code >= {c}"),
        _ => String::new(),
    }
}
