//! Crash consistency: a valid ADD is killed with SIGKILL (its whole process group, delegates
//! included, as a runtime's timeout would) after a random delay; then DEL of the same
//! attachment, without `prevResult` (the runtime never got a result), must succeed and leave
//! the sandbox exactly as it was, IPAM reservations included.

use std::time::Duration;

use cni_types::CniVersion;
use proptest::prelude::*;
use proptest::sample::select;
use serde::Serialize;
use serde_json::{Map, Value};

use super::arena::Arena;
use super::input::{CommandValue, ConfigCase, Encoding, EnvCase, FuzzCase, Mode, NetnsValue, Var};
use super::judge::{Problem, ProblemKind, Signature, exec, judge, left_behind};
use crate::runtime::{CniCommand, Execution, Outcome, SuccessOutput};

/// One round: which valid configuration, and when the ADD dies, in thousandths of
/// [`KillPlan::window`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillCase {
    pub version: CniVersion,
    pub mode: Mode,
    pub vlan_id: u16,
    pub ipam: bool,
    pub delay_permille: u16,
    /// [`Mode::Minimal`]'s plugin entry (see [`ConfigCase::plugin`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Map<String, Value>>,
}

/// What the rounds draw from. Only configurations the plugin handles when nothing kills it
/// are used: a round tests what an interruption does, not what the plugin does not support.
/// Delays range over `window`: a little longer than one complete ADD, so some rounds kill
/// nothing (the ADD finished) and DEL undoes a complete ADD.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KillPlan {
    #[serde(skip)]
    pub window: Duration,
    #[serde(skip)]
    pub timeout: Duration,
    /// (mode, IPAM) pairs the plugin handled in an uninterrupted ADD and DEL.
    pub configurations: Vec<(Mode, bool)>,
    /// Versions the plugin says it supports.
    pub versions: Vec<CniVersion>,
    /// The pairs left out, and why.
    pub excluded: Vec<String>,
    /// The pack's minimal plugin entry every round starts from (a type other than `vlan`).
    #[serde(skip)]
    pub plugin: Option<Map<String, Value>>,
}

pub fn kill_case(plan: &KillPlan) -> impl Strategy<Value = KillCase> + use<> {
    let plugin = plan.plugin.clone();
    (
        select(plan.versions.clone()),
        select(plan.configurations.clone()),
        0u16..=4094,
        0u16..=1000,
    )
        .prop_map(
            move |(version, (mode, ipam), vlan_id, delay_permille)| KillCase {
                version,
                mode,
                vlan_id,
                ipam,
                delay_permille,
                plugin: plugin.clone(),
            },
        )
}

impl KillPlan {
    /// Rounds draw from these; the window is set by [`KillPlan::admit`].
    pub fn new(
        versions: Vec<CniVersion>,
        timeout: Duration,
        plugin: Option<Map<String, Value>>,
    ) -> KillPlan {
        KillPlan {
            window: timeout,
            timeout,
            configurations: Vec::new(),
            versions,
            excluded: Vec::new(),
            plugin,
        }
    }

    /// The modes the probes try: a VLAN plugin's three, or the pack's minimal configuration.
    pub fn modes(&self) -> Vec<Mode> {
        match self.plugin {
            None => vec![Mode::HostMaster, Mode::ContainerMaster, Mode::Chained],
            Some(_) => vec![Mode::Minimal],
        }
    }

    /// The probe for a (mode, IPAM) pair: an ADD nothing interrupts, at the newest version.
    pub fn probe(&self, mode: Mode, ipam: bool) -> KillCase {
        KillCase {
            version: *self.versions.last().unwrap_or(&CniVersion::LATEST),
            mode,
            vlan_id: 1,
            ipam,
            delay_permille: 1000,
            plugin: self.plugin.clone(),
        }
    }

    /// Takes the pair of `probe` in when its uninterrupted round had no problem, and widens the
    /// window to a quarter more than its ADD took.
    pub fn admit(&mut self, probe: &KillCase, run: &KillRun) {
        let add = &run.executions[0];
        let pair = format!("{}, IPAM {}", probe.mode, probe.ipam);
        match (run.problems.first(), &add.outcome) {
            (None, Outcome::Success(_)) => {
                let window = add.wall_time * 5 / 4;
                if self.configurations.is_empty() || window > self.window {
                    self.window = window;
                }
                self.configurations.push((probe.mode, probe.ipam));
            }
            (Some((problem, _)), _) => self
                .excluded
                .push(format!("{pair}: {}: {}", problem.kind, problem.detail)),
            (None, Outcome::Error(e)) => self.excluded.push(format!("{pair}: ADD fails: {e}")),
            (None, other) => self.excluded.push(format!("{pair}: ADD: {other:?}")),
        }
    }
}

/// The versions the plugin's VERSION reply lists that this harness knows, oldest first; the
/// newest known one when the reply is unusable.
pub fn supported_versions(arena: &Arena, timeout: Duration) -> Result<Vec<CniVersion>, String> {
    let env = [
        ("CNI_COMMAND".to_string(), "VERSION".to_string()),
        ("PATH".to_string(), arena.places.path.clone()),
    ]
    .into();
    let reply = exec(
        arena,
        CniCommand::Version,
        env,
        br#"{"cniVersion":"1.0.0"}"#.to_vec(),
        timeout,
    )?;
    let versions: Vec<CniVersion> = match &reply.outcome {
        Outcome::Success(SuccessOutput::Version(info)) => CniVersion::ALL
            .into_iter()
            .filter(|v| info.supported_versions.iter().any(|s| s == v.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    Ok(if versions.is_empty() {
        vec![CniVersion::LATEST]
    } else {
        versions
    })
}

impl KillCase {
    /// The valid request the round sends (ADD, then DEL).
    pub fn request(&self) -> FuzzCase {
        FuzzCase {
            command: CommandValue::Known(CniCommand::Add),
            env: EnvCase {
                container_id: Var::Standard,
                netns: NetnsValue::Pod,
                ifname: Var::Standard,
                args: Var::Standard,
                cni_path: Var::Standard,
            },
            config: ConfigCase {
                version: self.version,
                mode: self.mode,
                vlan_id: self.vlan_id,
                ipam: self.ipam,
                mutations: Vec::new(),
                encoding: Encoding::Json,
                plugin: self.plugin.clone(),
            },
        }
    }

    pub fn delay(&self, plan: &KillPlan) -> Duration {
        plan.window * u32::from(self.delay_permille) / 1000
    }
}

/// What one round did.
#[derive(Debug, Clone)]
pub struct KillRun {
    /// The ADD was still running when the signal came.
    pub killed: bool,
    pub executions: Vec<Execution>,
    pub problems: Vec<(Problem, Signature)>,
}

pub fn run_round(arena: &Arena, round: &KillCase, plan: &KillPlan) -> Result<KillRun, String> {
    arena.clear_ipam_log()?;
    let request = round.request();
    let places = &arena.places;
    let add = exec(
        arena,
        CniCommand::Add,
        request.env(places, None),
        request.stdin(places, None),
        round.delay(plan),
    )?;
    let killed = add.timed_out;
    let mut problems = if killed {
        Vec::new()
    } else {
        judge(&add, "ADD (finished before the signal)")
    };
    let del = exec(
        arena,
        CniCommand::Del,
        request.env(places, Some(CniCommand::Del)),
        request.stdin(places, None),
        plan.timeout,
    )?;
    problems.extend(judge(&del, "DEL after the ADD"));
    if !matches!(del.outcome, Outcome::Success(_)) && problems.is_empty() {
        let detail = match &del.outcome {
            Outcome::Error(e) => e.to_string(),
            other => format!("{other:?}"),
        };
        problems.push((
            Problem {
                kind: ProblemKind::DelFailed,
                step: "DEL after the ADD".into(),
                detail,
            },
            Signature {
                kind: ProblemKind::DelFailed,
                step: "DEL after the ADD".into(),
                what: String::new(),
            },
        ));
    }
    let leftovers = arena.leftovers()?;
    if !leftovers.is_empty() {
        problems.push(left_behind(leftovers));
    }
    Ok(KillRun {
        killed,
        executions: vec![add, del],
        problems,
    })
}
