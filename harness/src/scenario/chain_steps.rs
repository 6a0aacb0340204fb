//! The list operations of a case (ADD, CHECK, DEL through the chain runtime), judged member by
//! member: a failure belongs to the member of the list that produced it, and when that member is
//! not the plugin under test (an upstream main plugin, a fixture) the suite does what a runtime
//! may skip: it goes on with the rest of the list's CHECK or DEL, so the plugin under test is
//! still judged, and says so.

use std::time::Duration;

use serde_json::Value;

use super::builtin_clauses::{HARNESS, PROTOCOL};
use super::case::{Case, World, snapshot};
use super::expect::{Failure, StepOutcome};
use super::judging::PluginStep;
use super::model::{Expect, Expectation, Level};
use super::spec_rules::{self, SinceAdd};
use crate::runtime::{
    ChainError, CniCommand, Execution, Outcome, PluginConfig, PluginResult, SuccessOutput,
};

impl Case<'_> {
    pub(super) fn chain_add(
        &mut self,
        world: &mut World,
        expect: &Expect,
        label: &str,
    ) -> Result<(), String> {
        let before = snapshot(world)?;
        let run = world
            .runtime(self.options.timeout)
            .add(&world.list, &world.attachment);
        let result = run.outcome.as_ref().ok().cloned();
        let error = run.outcome.err();
        match &result {
            Some(result) => {
                world.last_result = Some(result.json.clone());
                world.member_results = run.executions.iter().filter_map(result_of).collect();
                self.since_add = SinceAdd::Unchanged;
            }
            None => self.since_add = SinceAdd::Unknown,
        }
        let mut step = self.blamed(
            world,
            run.executions,
            error.as_ref(),
            result.clone(),
            expect,
            label,
            None,
        );
        if step.outcome.error.is_none()
            && result.is_none()
            && !step.executions.iter().any(|e| self.is_under_test(e))
        {
            let culprit = step.executions.last().and_then(|e| self.member_of(e));
            step.failures.push(Failure::new(
                HARNESS,
                Level::Must,
                label,
                format!(
                    "the list's ADD stopped at {} before the plugin under test ran: nothing of \
                     it could be judged here",
                    culprit.map_or_else(|| "another plugin".to_string(), |m| m.to_string())
                ),
            ));
        }
        self.judge_plugin_step(world, label, expect, step)?;
        if error.is_some() {
            self.leftovers(world, label, &before, false)?;
        }
        if let Some(result) = &result {
            let last = self.executions.len().checked_sub(1);
            self.result_interfaces(world, label, &result.json, last)?;
        }
        Ok(())
    }

    pub(super) fn chain_check(
        &mut self,
        world: &mut World,
        expect: &Expect,
        label: &str,
    ) -> Result<(), String> {
        let run = world
            .runtime(self.options.timeout)
            .check(&world.list, &world.attachment);
        let error = run.outcome.err();
        let mut diagnostics = Vec::new();
        // Another member's failure is judged here; the plugin under test's below, as the
        // step's deciding execution (once: asking a member again is an execution of its own).
        let culprit_clause = match error
            .as_ref()
            .and(run.executions.last())
            .filter(|failed| !self.is_under_test(failed))
        {
            Some(failed) => self.check_rule(world, failed, &mut diagnostics)?,
            None => None,
        };
        let mut step = self.blamed(
            world,
            run.executions,
            error.as_ref(),
            None,
            expect,
            label,
            culprit_clause,
        );
        self.go_on_after_another_member(world, CniCommand::Check, &mut step, label)?;
        if let Some(failed) = step.deciding().cloned() {
            step.spec_outcome = self.check_rule(world, &failed, &mut diagnostics)?;
        }
        step.executions.extend(diagnostics);
        self.judge_plugin_step(world, label, expect, step)
    }

    /// The SPEC's CHECK rule `failed` (a member's failed CHECK) breaks, if it ran right after
    /// an unchanged ADD. Where later members added to what it returned, the suite asks it again
    /// with only its own ADD result as prevResult (CHECK changes nothing): if that passes, the
    /// later plugins' changes are what it refused. That execution goes to `diagnostics`.
    fn check_rule(
        &self,
        world: &World,
        failed: &Execution,
        diagnostics: &mut Vec<Execution>,
    ) -> Result<Option<&'static str>, String> {
        let Some(position) = failed
            .member
            .filter(|_| self.since_add == SinceAdd::Unchanged)
        else {
            return Ok(None);
        };
        if !spec_rules::later_members_added(&world.member_results, position, self.version) {
            return Ok(Some(spec_rules::check_failure_clause(false)));
        }
        let own = run_member(
            world,
            &world.list.plugins[position],
            CniCommand::Check,
            world.member_results.get(position),
            self.options.timeout,
        )?;
        let passes = matches!(own.outcome, Outcome::Success(_));
        diagnostics.push(own);
        Ok(Some(spec_rules::check_failure_clause(passes)))
    }

    pub(super) fn chain_del(
        &mut self,
        world: &mut World,
        expect: &Expect,
        label: &str,
    ) -> Result<(), String> {
        let run = world
            .runtime(self.options.timeout)
            .del(&world.list, &world.attachment);
        let error = run.outcome.err();
        let spec_outcome = spec_rules::del_failure_clause(self.since_add);
        let mut step = self.blamed(
            world,
            run.executions,
            error.as_ref(),
            None,
            expect,
            label,
            spec_outcome,
        );
        self.go_on_after_another_member(world, CniCommand::Del, &mut step, label)?;
        step.spec_outcome = spec_outcome;
        let succeeded = step.outcome.success;
        self.since_add = if succeeded {
            SinceAdd::ResourcesGone
        } else {
            SinceAdd::Unknown
        };
        self.judge_plugin_step(world, label, expect, step)?;
        if succeeded {
            // This DEL settles what an earlier failed ADD left: the case sends none of its own
            // at the end (after a failing one it does, as a runtime retries).
            self.failed_add_left = None;
            let baseline = world.baseline.clone();
            self.leftovers(world, label, &baseline, true)?;
        }
        Ok(())
    }

    /// The list operation's executions, and what they came to for the plugin under test. A
    /// failure of another member, where the step was to succeed, is that member's (its own
    /// failure record, which does not decide the case) and leaves the step's outcome a success
    /// as far as the plugin under test is concerned.
    #[allow(clippy::too_many_arguments)]
    fn blamed(
        &self,
        world: &World,
        executions: Vec<Execution>,
        error: Option<&ChainError>,
        result: Option<PluginResult>,
        expect: &Expect,
        label: &str,
        spec_outcome: Option<&'static str>,
    ) -> PluginStep {
        let Some(error) = error else {
            return PluginStep {
                executions,
                outcome: StepOutcome {
                    success: true,
                    result,
                    ..StepOutcome::default()
                },
                ..PluginStep::default()
            };
        };
        let outcome = StepOutcome::of_chain_error(error);
        let culprit = executions
            .last()
            .filter(|e| !matches!(e.outcome, Outcome::Success(_)))
            .and_then(|e| self.member_of(e));
        let Some(culprit) = culprit.filter(|m| !m.under_test && !expect.wants_failure()) else {
            return PluginStep {
                executions,
                outcome,
                ..PluginStep::default()
            };
        };
        let mut judge = self.judge(world, label);
        let (clause, what) = match (&outcome.error, &outcome.violation) {
            (Some(e), _) => (
                spec_outcome.map_or_else(
                    || judge.clause_for(expect, Expectation::Outcome),
                    str::to_string,
                ),
                format!("code {}: {}", e.code, e.msg),
            ),
            (None, Some(v)) => (PROTOCOL.to_string(), format!("protocol violation: {v}")),
            (None, None) => (HARNESS.to_string(), error.to_string()),
        };
        judge.execution = Some(self.executions.len() + executions.len() - 1);
        judge.member = Some(culprit.clone());
        judge.fail(
            &clause,
            format!(
                "failed where the step was to succeed: {what}{}",
                spec_rules::how_known(&clause)
            ),
            None,
        );
        PluginStep {
            executions,
            outcome: StepOutcome {
                success: true,
                ..StepOutcome::default()
            },
            failures: judge.failures,
            ..PluginStep::default()
        }
    }

    /// After another member failed a CHECK or DEL, a runtime may stop (libcni does); the suite
    /// runs the members the runtime would have run next (CHECK: the later ones, DEL: the
    /// earlier ones, in reverse), as the runtime would have, so the plugin under test is judged,
    /// and notes it on the failure. The first of their errors decides the step's outcome.
    fn go_on_after_another_member(
        &self,
        world: &World,
        command: CniCommand,
        step: &mut PluginStep,
        label: &str,
    ) -> Result<(), String> {
        let Some(failure) = step.failures.first_mut() else {
            return Ok(());
        };
        let Some(failed) = failure.member.as_ref().map(|m| m.position - 1) else {
            return Ok(());
        };
        let plugins = &world.list.plugins;
        let rest: Vec<_> = match command {
            CniCommand::Del => plugins[..failed].iter().rev().collect(),
            _ => plugins
                .get(failed + 1..)
                .unwrap_or_default()
                .iter()
                .collect(),
        };
        if rest.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = rest
            .iter()
            .map(|p| format!("{} (position {})", p.plugin_type, p.position + 1))
            .collect();
        failure.message.push_str(&format!(
            " (a runtime may stop here; the suite went on with {} to judge the plugin under \
             test)",
            names.join(", ")
        ));
        let prev = world
            .last_result
            .as_ref()
            .filter(|_| command != CniCommand::Del || self.version.has_prev_result_on_del());
        for plugin in rest {
            let execution = run_member(world, plugin, command, prev, self.options.timeout)
                .map_err(|e| format!("{label}: {e}"))?;
            let failed = !matches!(execution.outcome, Outcome::Success(_));
            let index = step.executions.len();
            if failed && step.outcome.success {
                step.outcome = StepOutcome::of_execution(&execution);
                step.deciding_execution = Some(index);
            }
            step.executions.push(execution);
        }
        Ok(())
    }

    fn is_under_test(&self, execution: &Execution) -> bool {
        execution.plugin == self.options.plugin_type
    }
}

/// One member of the list run on its own, as the runtime would run it within the list
/// operation `command`, with `prev` as its prevResult.
fn run_member(
    world: &World,
    plugin: &PluginConfig,
    command: CniCommand,
    prev: Option<&Value>,
    timeout: Duration,
) -> Result<Execution, String> {
    let runtime = world.runtime(timeout);
    let stdin = world
        .list
        .plugin_request(plugin, prev, &world.attachment.capability_args);
    let request = runtime
        .request(
            &plugin.plugin_type,
            command,
            runtime.env(command, &world.attachment),
            stdin.to_string().into_bytes(),
        )
        .map_err(|e| e.to_string())?;
    let mut execution = runtime.exec(&request).map_err(|e| e.to_string())?;
    execution.member = Some(plugin.position);
    Ok(execution)
}

/// The result one ADD execution printed.
fn result_of(execution: &Execution) -> Option<Value> {
    match &execution.outcome {
        Outcome::Success(SuccessOutput::Result(r)) => Some(r.json.clone()),
        _ => None,
    }
}
