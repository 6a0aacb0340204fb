//! Crash consistency: a valid ADD is killed with SIGKILL (its whole process group, delegates
//! included, as a runtime's timeout would) after a random delay; then DEL of the same
//! attachment, without `prevResult` (the runtime never got a result), must succeed and leave
//! the sandbox exactly as it was, IPAM reservations included.

use std::time::Duration;

use cni_types::CniVersion;
use proptest::prelude::*;
use proptest::sample::select;
use serde::Serialize;

use super::arena::Arena;
use super::input::{CommandValue, ConfigCase, Encoding, EnvCase, FuzzCase, Mode, NetnsValue, Var};
use super::judge::{Problem, ProblemKind, Signature, exec, judge, left_behind};
use crate::runtime::{CniCommand, Execution, Outcome};

/// One round: which valid configuration, and when the ADD dies, in thousandths of
/// [`KillPlan::window`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillCase {
    pub version: CniVersion,
    pub mode: Mode,
    pub vlan_id: u16,
    pub ipam: bool,
    pub delay_permille: u16,
}

/// Delays range over `window`: a little longer than one complete ADD, so some rounds kill
/// nothing (the ADD finished) and DEL undoes a complete ADD.
#[derive(Debug, Clone, Copy)]
pub struct KillPlan {
    pub window: Duration,
    pub timeout: Duration,
}

pub fn kill_case() -> impl Strategy<Value = KillCase> {
    (
        select(vec![CniVersion::V1_0_0, CniVersion::V1_1_0, CniVersion::V0_4_0, CniVersion::V0_3_1]),
        prop_oneof![3 => Just(Mode::HostMaster), 1 => Just(Mode::ContainerMaster), 1 => Just(Mode::Chained)],
        0u16..=4094,
        prop_oneof![3 => Just(true), 1 => Just(false)],
        0u16..=1000,
    )
        .prop_map(|(version, mode, vlan_id, ipam, delay_permille)| KillCase {
            version,
            mode,
            vlan_id,
            ipam,
            delay_permille,
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
