//! Single-attachment costs: process start (VERSION), ADD / CHECK / DEL of a host-master VLAN
//! (another type: its pack's minimal configuration) with each IPAM choice, and (`vlan` only) a
//! chained ADD / DEL behind `conform-veth`.
//!
//! Peak RSS is the plugin process alone (a delegate's memory is the delegate's), measured in an
//! extra run of its own under ptrace ([`MemoryAccounting::PluginOnly`]) so the timed runs carry
//! no tracing.

use super::Plan;
use super::paired::{Contender, Metric, Row, Unit, alternate, rows};
use super::world::{Ipam, Subject, World, chain_millis, chained_list, millis, succeeded};
use crate::runtime::{Attachment, MemoryAccounting, NetworkConfigList, Runtime};

const POD: &str = "pod";
const VLAN_ID: u16 = 100;
const ADDRESS: &str = "10.77.0.2/24";

const START: [Metric; 2] = [
    Metric {
        name: "VERSION",
        unit: Unit::Millis,
    },
    Metric {
        name: "VERSION peak RSS",
        unit: Unit::Kib,
    },
];

const HOST_MASTER: [Metric; 4] = [
    Metric {
        name: "ADD",
        unit: Unit::Millis,
    },
    Metric {
        name: "CHECK",
        unit: Unit::Millis,
    },
    Metric {
        name: "DEL",
        unit: Unit::Millis,
    },
    Metric {
        name: "ADD peak RSS",
        unit: Unit::Kib,
    },
];

const CHAINED: [Metric; 4] = [
    Metric {
        name: "chain ADD, veth + vlan",
        unit: Unit::Millis,
    },
    Metric {
        name: "chain ADD, vlan step",
        unit: Unit::Millis,
    },
    Metric {
        name: "chain DEL, vlan + veth",
        unit: Unit::Millis,
    },
    Metric {
        name: "chain DEL, vlan step",
        unit: Unit::Millis,
    },
];

/// The pods this section attaches to.
pub fn pods() -> Vec<String> {
    vec![POD.to_string()]
}

/// `CNI_COMMAND=VERSION`: the cost of starting the plugin at all, and its footprint.
pub fn process_start(
    world: &World,
    subject: &Subject,
    contenders: &[Contender],
    plan: &Plan,
) -> Vec<Row> {
    let list = subject.list(VLAN_ID, Ipam::None, ADDRESS);
    let version = |runtime: Runtime| {
        let run = runtime.versions(&list);
        if let Err(errors) = &run.outcome {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(messages.join("; "));
        }
        run.executions
            .into_iter()
            .next()
            .ok_or_else(|| "the plugin was not run".to_string())
    };
    let series = alternate(contenders, plan.warmups, plan.runs, START.len(), |c| {
        let timed = version(world.runtime(c))?;
        let traced = version(world.runtime(c).with_memory(MemoryAccounting::PluginOnly))?;
        Ok(vec![millis(&timed), traced.peak_rss_kib as f64])
    });
    rows("", &START, &series)
}

/// ADD, CHECK and DEL of a VLAN on the node's master (another type: its minimal
/// configuration), without IPAM and with each delegate.
pub fn host_master(
    world: &World,
    subject: &Subject,
    contenders: &[Contender],
    plan: &Plan,
) -> Vec<Row> {
    let attachment = world.attachment(POD, "bench-host", "eth0");
    [Ipam::None, Ipam::Conform, Ipam::Static]
        .into_iter()
        .flat_map(|ipam| {
            let list = subject.list(VLAN_ID, ipam, ADDRESS);
            let series = alternate(
                contenders,
                plan.warmups,
                plan.runs,
                HOST_MASTER.len(),
                |c| world.guarded(|| add_check_del(world.runtime(c), &list, &attachment)),
            );
            rows(ipam.label(), &HOST_MASTER, &series)
        })
        .collect()
}

/// Timed ADD, CHECK, DEL, then a traced ADD and its DEL for the peak RSS. DEL runs whatever ADD
/// and CHECK did, so a failing plugin leaves the sandbox clean.
fn add_check_del(
    runtime: Runtime,
    list: &NetworkConfigList,
    attachment: &Attachment,
) -> Result<Vec<f64>, String> {
    let add_and_check = add_and_check(&runtime, list, attachment);
    let del = runtime.del(list, attachment);
    let [add_ms, check_ms] = add_and_check?;
    let del_ms = millis(succeeded(&del)?);
    let traced = runtime.with_memory(MemoryAccounting::PluginOnly);
    let add = traced.add(list, attachment);
    let del = traced.del(list, attachment);
    let add_rss = succeeded(&add)?.peak_rss_kib as f64;
    succeeded(&del)?;
    Ok(vec![add_ms, check_ms, del_ms, add_rss])
}

/// ADD ms, CHECK ms.
fn add_and_check(
    runtime: &Runtime,
    list: &NetworkConfigList,
    attachment: &Attachment,
) -> Result<[f64; 2], String> {
    let add = runtime.add(list, attachment);
    let add = succeeded(&add)?;
    let check = runtime.check(list, attachment);
    let check = succeeded(&check)?;
    Ok([millis(add), millis(check)])
}

/// `conform-veth` then the plugin with `linkInContainer` and no master, both through the
/// runtime: the chain's total and the plugin's own step, for ADD and DEL.
pub fn chained(world: &World, contenders: &[Contender], plan: &Plan) -> Vec<Row> {
    let attachment = world.attachment(POD, "bench-chain", "eth0");
    let list = chained_list(VLAN_ID, Ipam::Conform, ADDRESS);
    let series = alternate(contenders, plan.warmups, plan.runs, CHAINED.len(), |c| {
        world.guarded(|| {
            let runtime = world.runtime(c);
            let add = runtime.add(&list, &attachment);
            let del = runtime.del(&list, &attachment);
            let add_step = succeeded(&add)?;
            let del_step = succeeded(&del)?;
            Ok(vec![
                chain_millis(&add),
                millis(add_step),
                chain_millis(&del),
                millis(del_step),
            ])
        })
    });
    rows(Ipam::Conform.label(), &CHAINED, &series)
}
