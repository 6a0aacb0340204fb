//! The steps of a case: CNI operations through the chain runtime, direct executions of one
//! plugin, concurrent executions, and changes made behind the plugin's back.

use serde_json::{Map, Value};

use super::builtin_clauses::PROTOCOL;
use super::case::{Case, World, snapshot};
use super::expect::StepOutcome;
use super::judging::PluginStep;
use super::model::{Concurrent, Exec, PrevResult, Step};
use super::spec_rules::SinceAdd;
use crate::runtime::{AttachmentKey, CniCommand, Execution};
use crate::topology::{Endpoint, VlanProtocol, VlanTag};

impl Case<'_> {
    /// Runs one step. `Err` means the scenario could not go on (a harness problem).
    pub(super) fn step(
        &mut self,
        world: &mut World,
        step: &Step,
        label: &str,
    ) -> Result<(), String> {
        let timeout = self.options.timeout;
        match step {
            Step::Add(invoke) => self.chain_add(world, &invoke.expect, label)?,
            Step::Check(invoke) => {
                if !self.version.has_check() {
                    return Ok(()); // libcni refuses CHECK below 0.4.0: nothing to judge
                }
                self.chain_check(world, &invoke.expect, label)?
            }
            Step::Del(invoke) => self.chain_del(world, &invoke.expect, label)?,
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
                if !valid.contains(&world.attachment.key()) {
                    self.since_add = SinceAdd::ResourcesGone; // GC deletes it as stale
                }
                let run = world.runtime(timeout).gc(&world.list, Some(&valid));
                let outcome = match &run.outcome {
                    Ok(()) => StepOutcome {
                        success: true,
                        ..StepOutcome::default()
                    },
                    Err(errors) => StepOutcome::of_chain_error(&errors[0]),
                };
                let step = PluginStep {
                    executions: run.executions,
                    outcome,
                    ..PluginStep::default()
                };
                self.judge_plugin_step(world, label, &gc.expect, step)?;
            }
            Step::Status(invoke) => {
                let run = world.runtime(timeout).status(&world.list);
                let step = PluginStep {
                    outcome: StepOutcome::of_chain(&run, |_| None),
                    executions: run.executions,
                    ..PluginStep::default()
                };
                self.judge_plugin_step(world, label, &invoke.expect, step)?;
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
        self.since_add = match step {
            Step::DeleteLink(_) | Step::DeleteNetns(_) => SinceAdd::ResourcesGone,
            Step::SetMtu(_) | Step::SetDown(_) | Step::RemoveAddress(_) | Step::AddVlan(_)
                if self.since_add != SinceAdd::ResourcesGone =>
            {
                SinceAdd::Changed
            }
            Step::Concurrent(_) => SinceAdd::Unknown,
            _ => self.since_add,
        };
        Ok(())
    }
}

impl Case<'_> {
    /// One plugin of the list, run directly with the step's stdin and environment.
    pub(super) fn exec(
        &mut self,
        world: &mut World,
        exec: &Exec,
        label: &str,
    ) -> Result<(), String> {
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
                    json_patch::merge(&mut config, patch);
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
        let mut execution = runtime.exec(&request).map_err(|e| e.to_string())?;
        execution.member = Some(plugin.position);
        let step = PluginStep::single(execution);
        let outcome = StepOutcome {
            result: step.outcome.result.clone(),
            ..StepOutcome::default()
        };
        let failed_add = command == CniCommand::Add && !step.outcome.success;
        self.since_add = match command {
            CniCommand::Check | CniCommand::Status | CniCommand::Version => self.since_add,
            CniCommand::Del if step.outcome.success => SinceAdd::ResourcesGone,
            _ => SinceAdd::Unknown,
        };
        self.judge_plugin_step(world, label, &exec.expect, step)?;
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
    pub(super) fn concurrent(
        &mut self,
        world: &mut World,
        c: &Concurrent,
        label: &str,
    ) -> Result<(), String> {
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
                if let Some(first) = c.first_vlan_id {
                    config["vlanId"] = (usize::from(first) + id).into();
                }
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
        let outcomes: Vec<StepOutcome> = executions.iter().map(StepOutcome::of_execution).collect();
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

    pub(super) fn plugin_of(
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
}
