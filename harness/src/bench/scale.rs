//! How ADD and DEL cost grows with the VLANs already on the master (the curve), how long the
//! kernel takes to fill a master in-process, and how long the plugin itself takes to fill one.

use std::time::Instant;

use serde::Serialize;

use super::Plan;
use super::paired::{Contender, Metric, Row, Unit, alternate, rows};
use super::vlan_fill::add_vlans;
use super::world::{Ipam, MASTER, World, host_master_list, millis, succeeded};
use crate::topology::{Endpoint, NODE};

const POD: &str = "pod";
/// The plugin's VLAN at every point: the fillers take 1..=N, so 0 stays free up to 4094.
const PLUGIN_VLAN_ID: u16 = 0;
/// The master the plugin fills, fresh for each contender, and its veth peer.
const FILL_MASTER: &str = "fillmaster";
const FILL_PEER: &str = "fillpeer";

const ADD_DEL: [Metric; 2] = [
    Metric {
        name: "ADD",
        unit: Unit::Millis,
    },
    Metric {
        name: "DEL",
        unit: Unit::Millis,
    },
];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScaleReport {
    pub curve: Vec<ScalePoint>,
    /// The in-process fill, step by step from one point to the next.
    pub fill_in_process: Vec<FillStep>,
    /// Each contender ADDing VLANs 1..=N on a fresh master, one process after the other.
    pub fill_with_plugin: Vec<PluginFill>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalePoint {
    /// VLANs on the master before the plugin's ADD.
    pub vlans: u16,
    pub add: Row,
    pub del: Row,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillStep {
    pub from_vlans: u16,
    pub to_vlans: u16,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginFill {
    pub plugin: &'static str,
    pub vlans: u16,
    pub seconds: f64,
    pub adds_per_second: f64,
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

impl ScaleReport {
    /// Seconds the in-process fill took from 0 to the last point.
    pub fn fill_total_seconds(&self) -> f64 {
        self.fill_in_process.iter().map(|s| s.seconds).sum()
    }
}

pub fn pods() -> Vec<String> {
    vec![POD.to_string()]
}

/// `plan.scale_points` must be sorted and at most 4094 (checked by the caller).
pub fn run(
    world: &World,
    contenders: &[Contender],
    plan: &Plan,
    progress: &dyn Fn(&str),
) -> Result<ScaleReport, String> {
    let attachment = world.attachment(POD, "bench-scale", "eth0");
    let list = host_master_list(MASTER, PLUGIN_VLAN_ID, Ipam::Conform, "10.79.0.2/24");
    let mut curve = Vec::new();
    let mut fill_in_process = Vec::new();
    let mut on_master = 0;
    for &point in &plan.scale_points {
        if point > on_master {
            let took = add_vlans(&world.sandbox, NODE, MASTER, on_master + 1..=point)
                .map_err(|e| format!("filling {MASTER} to {point} VLANs: {e}"))?;
            fill_in_process.push(FillStep {
                from_vlans: on_master,
                to_vlans: point,
                seconds: took.as_secs_f64(),
            });
            on_master = point;
        }
        progress(&format!("scale: {point} VLANs on the master"));
        let series = alternate(contenders, plan.warmups, plan.runs, ADD_DEL.len(), |c| {
            world.guarded(|| {
                let runtime = world.runtime(c);
                let add = runtime.add(&list, &attachment);
                let del = runtime.del(&list, &attachment);
                let add = succeeded(&add)?;
                let del = succeeded(&del)?;
                Ok(vec![millis(add), millis(del)])
            })
        });
        let [add, del]: [Row; 2] = rows(Ipam::Conform.label(), &ADD_DEL, &series)
            .try_into()
            .expect("one row per metric");
        curve.push(ScalePoint {
            vlans: point,
            add,
            del,
        });
    }
    // `--plugin-fill 0` leaves the measurement out.
    let fillers = if plan.plugin_fill == 0 {
        &[][..]
    } else {
        contenders
    };
    let fill_with_plugin = fillers
        .iter()
        .map(|c| {
            progress(&format!(
                "scale: {} fills a master with {} VLANs",
                c.label, plan.plugin_fill
            ));
            fill_with_plugin(world, c, plan.plugin_fill)
        })
        .collect::<Result<_, _>>()?;
    Ok(ScaleReport {
        curve,
        fill_in_process,
        fill_with_plugin,
    })
}

/// ADDs of VLANs 1..=`vlans` on a fresh master, as interfaces `f<id>` of the pod, each with
/// its own address. Deleting the master afterwards takes every VLAN on it along.
fn fill_with_plugin(
    world: &World,
    contender: &Contender,
    vlans: u16,
) -> Result<PluginFill, String> {
    let sandbox = &world.sandbox;
    sandbox
        .add_veth(
            &Endpoint::new(NODE, FILL_MASTER),
            &Endpoint::new(NODE, FILL_PEER),
        )
        .map_err(|e| format!("creating the fill master: {e}"))?;
    let runtime = world.runtime(contender);
    let mut failed = 0;
    let mut first_failure = None;
    let started = Instant::now();
    for id in 1..=vlans {
        let address = format!("10.{}.{}.1/24", 100 + id / 256, id % 256);
        let list = host_master_list(FILL_MASTER, id, Ipam::Conform, &address);
        let attachment = world.attachment(POD, &format!("bench-fill-{id}"), &format!("f{id}"));
        if let Err(e) = &runtime.add(&list, &attachment).outcome {
            failed += 1;
            first_failure.get_or_insert_with(|| e.to_string());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    sandbox
        .delete_link(NODE, FILL_MASTER)
        .map_err(|e| format!("deleting the fill master: {e}"))?;
    Ok(PluginFill {
        plugin: contender.label,
        vlans,
        seconds,
        adds_per_second: f64::from(vlans) / seconds.max(f64::EPSILON),
        failed,
        first_failure,
    })
}
