//! Judging a step that ran plugins against its expectation (outcome, state, links, delegate
//! calls), and what the suite checks after every step whatever it expects: the result's
//! interfaces and leftovers.

use std::collections::BTreeSet;

use serde_json::Value;

use super::builtin_clauses::PREV_RESULT_PASSTHROUGH;
use super::builtin_clauses::{NO_LEFTOVERS, RESULT_INTERFACES, UNDO_ON_FAILURE};
use super::case::{Case, World, snapshot};
use super::expect::ChainMember;
use super::expect::{Failure, StepOutcome};
use super::link_facts;
use super::model::Expect;
use super::model::Expectation;
use super::spec_rules;
use crate::fixtures::call_log;
use crate::runtime::Execution;
use crate::snapshot::{Snapshot, missing_result_interfaces};

/// What a step that ran plugins came to, seen from the plugin under test.
#[derive(Default)]
pub(super) struct PluginStep {
    pub executions: Vec<Execution>,
    /// What the step's expectations are judged against.
    pub outcome: StepOutcome,
    /// Index into `executions` of the one that decided the outcome (the failing one), when
    /// not the last.
    pub deciding_execution: Option<usize>,
    /// The SPEC's clause a failed outcome breaks, whatever the scenario expected, when the SPEC
    /// says how this step must end (CHECK right after ADD, DEL with resources gone).
    pub spec_outcome: Option<&'static str>,
    /// Failures already found while running the step (another member's).
    pub failures: Vec<Failure>,
}

impl PluginStep {
    /// The execution that decided the outcome, when it failed.
    pub fn deciding(&self) -> Option<&Execution> {
        if self.outcome.success {
            return None;
        }
        match self.deciding_execution {
            Some(i) => self.executions.get(i),
            None => self.executions.last(),
        }
    }

    /// One execution, judged as the step's outcome.
    pub fn single(execution: Execution) -> PluginStep {
        PluginStep {
            outcome: StepOutcome::of_execution(&execution),
            executions: vec![execution],
            ..PluginStep::default()
        }
    }
}

impl Case<'_> {
    /// Judges a step that ran plugins: the SPEC's own rules on each execution, then the
    /// step's expectations (outcome, state, links, delegate calls), each under its clause.
    pub(super) fn judge_plugin_step(
        &mut self,
        world: &World,
        label: &str,
        expect: &Expect,
        step: PluginStep,
    ) -> Result<(), String> {
        let ipam_calls_before = self.ipam_calls_seen;
        let first = self.executions.len();
        self.executions.extend(step.executions);
        let mut judge = self.judge(world, label);
        judge.failures = step.failures;
        for index in first..self.executions.len() {
            for broken in spec_rules::broken_by(&self.executions[index], self.version) {
                judge.execution = Some(index);
                judge.member = self.member_of(&self.executions[index]);
                // The result's own facts follow from what it dropped: one defect, one report.
                judge.result_superseded |= broken.clause == PREV_RESULT_PASSTHROUGH;
                judge.fail(broken.clause, broken.message, None);
            }
        }
        judge.execution = step
            .deciding_execution
            .map(|i| first + i)
            .or_else(|| self.executions.len().checked_sub(1).filter(|i| *i >= first));
        judge.member = judge
            .execution
            .and_then(|i| self.member_of(&self.executions[i]));
        match (step.spec_outcome, &step.outcome.error) {
            (Some(clause), Some(e)) => judge.fail(
                clause,
                format!(
                    "expected success, got error code {}: {}{}",
                    e.code,
                    e.msg,
                    spec_rules::how_known(clause)
                ),
                None,
            ),
            _ => judge.outcome(expect, &step.outcome),
        }
        judge.member = None;
        if let Some(name) = &expect.state {
            let now = snapshot(world)?;
            if let Err(diff) = self.states.check(name, &now) {
                judge.fail(
                    &judge.clause_for(expect, Expectation::State),
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
                let clause = judge.clause_for(expect, Expectation::Links);
                judge.fail(&clause, format!("link {spec} is {verb}"), None);
            }
        }
        if !expect.link_facts.is_empty() {
            let now = snapshot(world)?;
            let clause = judge.clause_for(expect, Expectation::Links);
            for (spec, want) in &expect.link_facts {
                for problem in link_facts::problems(&now, spec, want)? {
                    judge.fail(&clause, problem, None);
                }
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
                let clause = judge.clause_for(expect, Expectation::IpamCalls);
                judge.fail(
                    &clause,
                    format!(
                        "IPAM delegate calls were [{}], expected [{}]",
                        got.join(", "),
                        want.join(", ")
                    ),
                    None,
                );
            }
        }
        if expect.ipam_stdin_unchanged {
            let clause = judge.clause_for(expect, Expectation::IpamStdinUnchanged);
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
    /// The member of the list `execution` ran as, if it ran as one.
    pub(super) fn member_of(&self, execution: &Execution) -> Option<ChainMember> {
        Some(ChainMember {
            plugin_type: execution.plugin.clone(),
            position: execution.member? + 1,
            under_test: execution.plugin == self.options.plugin_type,
        })
    }

    /// After a successful ADD (`execution` printed `result`): every interface the result places
    /// in a namespace of the sandbox must be there under exactly its name (and MAC).
    pub(super) fn result_interfaces(
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
    pub(super) fn leftovers(
        &mut self,
        world: &World,
        label: &str,
        reference: &Snapshot,
        after_del: bool,
    ) -> Result<(), String> {
        let found = self.leftover_list(world, reference, after_del)?;
        if found.is_empty() {
            return Ok(());
        }
        let (clause, what) = if after_del {
            (NO_LEFTOVERS, "DEL")
        } else {
            self.failed_add_left = Some(self.current_step);
            (UNDO_ON_FAILURE, "the failed ADD")
        };
        self.fail_leftovers(world, label, clause, what, found);
        Ok(())
    }

    /// One failure of `clause` per member that left something: a link (or an address on it)
    /// that another member of the list made, as its ADD result shows, is that member's (an
    /// upstream bridge keeps its bridge's gateway address, by design); the rest is the plugin
    /// under test's.
    pub(super) fn fail_leftovers(
        &mut self,
        world: &World,
        label: &str,
        clause: &str,
        what: &str,
        found: Vec<Leftover>,
    ) {
        let mut by_member: Vec<(Option<ChainMember>, Vec<String>)> = Vec::new();
        for leftover in found {
            let owner = leftover
                .link
                .as_deref()
                .and_then(|link| self.maker_of(world, link));
            match by_member.iter_mut().find(|(m, _)| *m == owner) {
                Some((_, items)) => items.push(leftover.text),
                None => by_member.push((owner, vec![leftover.text])),
            }
        }
        let mut judge = self.judge(world, label);
        judge.execution = self.executions.len().checked_sub(1);
        for (member, items) in by_member {
            judge.member = member;
            judge.fail(
                clause,
                format!("left behind after {what}: {}", items.join(", ")),
                None,
            );
        }
        self.failures.extend(judge.failures);
    }

    /// The member other than the plugin under test whose ADD result first named `link`.
    fn maker_of(&self, world: &World, link: &str) -> Option<ChainMember> {
        let position = world.member_results.iter().position(|result| {
            result["interfaces"]
                .as_array()
                .is_some_and(|all| all.iter().any(|i| i["name"] == link))
        })?;
        let plugin_type = &world.list.plugins.get(position)?.plugin_type;
        (plugin_type != &self.options.plugin_type).then(|| ChainMember {
            plugin_type: plugin_type.clone(),
            position: position + 1,
            under_test: false,
        })
    }

    /// What [`Case::leftovers`] finds, described.
    pub(super) fn leftover_list(
        &self,
        world: &World,
        reference: &Snapshot,
        after_del: bool,
    ) -> Result<Vec<Leftover>, String> {
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
        let kept = |netns: &str, link: &str| {
            self.scenario
                .kept_by_design
                .iter()
                .any(|k| k.split_once('/') == Some((netns, link)))
        };
        let theirs = |link: &str| earlier_plugins.contains(link);
        let mut found: Vec<Leftover> = Vec::new();
        let known_links = link_set(reference);
        for (netns, link) in link_set(&now).difference(&known_links) {
            if !world.own_links.contains(&(netns.clone(), link.clone()))
                && !theirs(link)
                && !kept(netns, link)
            {
                found.push(Leftover {
                    link: Some(link.clone()),
                    text: format!("link {netns}/{link}"),
                });
            }
        }
        let known_addresses = address_set(reference);
        for (netns, link, cidr) in address_set(&now).difference(&known_addresses) {
            if !theirs(link) && !kept(netns, link) {
                found.push(Leftover {
                    link: Some(link.clone()),
                    text: format!("address {cidr} on {netns}/{link}"),
                });
            }
        }
        if after_del {
            let calls = call_log::read(&world.ipam_log()).map_err(|e| e.to_string())?;
            for call in call_log::outstanding_reservations(&calls) {
                let (container, ifname) = call.attachment();
                found.push(Leftover {
                    link: None,
                    text: format!(
                        "IPAM reservation of ({container}, {ifname}) never released by a DEL"
                    ),
                });
            }
        }
        Ok(found)
    }
}

/// Something a step left behind, described; with the link it is (or is on).
pub(super) struct Leftover {
    pub link: Option<String>,
    pub text: String,
}

/// Interface names in the `prevResult` of a plugin's stdin.
pub(super) fn prev_result_interfaces(stdin: &[u8]) -> BTreeSet<String> {
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

pub(super) fn link_set(s: &Snapshot) -> BTreeSet<(String, String)> {
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

pub(super) fn address_set(s: &Snapshot) -> BTreeSet<(String, String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
