//! Throughput with many plugin processes at once on one master: a fixed batch of attachments
//! (one per pod, each its own VLAN id; another type: its minimal configuration, each its own
//! address) is ADDed by `n` workers running side by side, then DELed
//! the same way; ADDs and DELs per second, and how many failed.

use std::sync::Barrier;
use std::time::Instant;

use serde::Serialize;

use super::Plan;
use super::paired::{Contender, Row, Unit, alternate, row};
use super::world::{Ipam, Subject, World};
use crate::runtime::{Attachment, NetworkConfigList};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelReport {
    /// Plugin processes running at once.
    pub processes: usize,
    /// ADDs (and DELs) per batch, whatever the number of processes.
    pub operations: usize,
    pub add_throughput: Row,
    pub del_throughput: Row,
    /// Per contender, over every recorded batch.
    pub failures: Vec<Failures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failures {
    pub plugin: &'static str,
    pub add_failed: usize,
    pub del_failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

/// One pod per attachment of a batch.
pub fn pods(batch: usize) -> Vec<String> {
    (0..batch).map(pod).collect()
}

fn pod(index: usize) -> String {
    format!("p{index}")
}

/// One batch per round per contender, `plan.warmups` rounds unrecorded.
pub fn run(
    world: &World,
    subject: &Subject,
    contenders: &[Contender],
    plan: &Plan,
) -> Vec<LevelReport> {
    let work: Vec<(NetworkConfigList, Attachment)> = (0..plan.batch)
        .map(|i| {
            let vlan_id = u16::try_from(i + 1).expect("a batch is far smaller than 4094");
            let address = format!("10.78.{i}.2/24");
            let list = subject.list(vlan_id, Ipam::Conform, &address);
            let attachment = world.attachment(&pod(i), &format!("bench-conc-{i}"), "eth0");
            (list, attachment)
        })
        .collect();
    plan.concurrency
        .iter()
        .map(|&processes| {
            let mut failures: Vec<Failures> = contenders
                .iter()
                .map(|c| Failures {
                    plugin: c.label,
                    add_failed: 0,
                    del_failed: 0,
                    first_failure: None,
                })
                .collect();
            let series = alternate(contenders, plan.warmups, plan.runs_concurrency, 2, |c| {
                let batch = batch(world, c, &work, processes);
                if batch.add_failed + batch.del_failed > 0 {
                    world
                        .clear_pods()
                        .map_err(|e| format!("cleaning up after failures: {e}"))?;
                }
                let tally = failures
                    .iter_mut()
                    .find(|f| f.plugin == c.label)
                    .expect("one tally per contender");
                tally.add_failed += batch.add_failed;
                tally.del_failed += batch.del_failed;
                if tally.first_failure.is_none() {
                    tally.first_failure = batch.first_failure;
                }
                Ok(vec![batch.add_per_second, batch.del_per_second])
            });
            let name = |what: &str| format!("{what} with {processes} at once");
            LevelReport {
                processes,
                operations: plan.batch,
                add_throughput: row(name("ADDs"), Unit::PerSecond, &series, |s| &s[0]),
                del_throughput: row(name("DELs"), Unit::PerSecond, &series, |s| &s[1]),
                failures,
            }
        })
        .collect()
}

struct Batch {
    add_per_second: f64,
    del_per_second: f64,
    add_failed: usize,
    del_failed: usize,
    first_failure: Option<String>,
}

/// Successful operations per second of wall time, from the moment every worker is released.
fn batch(
    world: &World,
    contender: &Contender,
    work: &[(NetworkConfigList, Attachment)],
    workers: usize,
) -> Batch {
    let add = phase(
        world,
        contender,
        work,
        workers,
        |runtime, (list, attachment)| {
            runtime
                .add(list, attachment)
                .outcome
                .err()
                .map(|e| e.to_string())
        },
    );
    let del = phase(
        world,
        contender,
        work,
        workers,
        |runtime, (list, attachment)| {
            runtime
                .del(list, attachment)
                .outcome
                .err()
                .map(|e| e.to_string())
        },
    );
    Batch {
        add_per_second: add.per_second,
        del_per_second: del.per_second,
        add_failed: add.failures.len(),
        del_failed: del.failures.len(),
        first_failure: add.failures.into_iter().chain(del.failures).next(),
    }
}

struct Phase {
    per_second: f64,
    failures: Vec<String>,
}

/// Worker `w` takes items `w`, `w + workers`, ...; `operation` returns the failure, if any.
fn phase<F>(
    world: &World,
    contender: &Contender,
    work: &[(NetworkConfigList, Attachment)],
    workers: usize,
    operation: F,
) -> Phase
where
    F: Fn(&crate::runtime::Runtime, &(NetworkConfigList, Attachment)) -> Option<String> + Sync,
{
    let start = Barrier::new(workers + 1);
    let (failures, elapsed) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (start, operation) = (&start, &operation);
                scope.spawn(move || {
                    let runtime = world.runtime(contender);
                    start.wait();
                    work.iter()
                        .skip(w)
                        .step_by(workers)
                        .filter_map(|item| operation(&runtime, item))
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let failures: Vec<String> = handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect();
        (failures, started.elapsed())
    });
    let succeeded = work.len() - failures.len().min(work.len());
    Phase {
        per_second: succeeded as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        failures,
    }
}
