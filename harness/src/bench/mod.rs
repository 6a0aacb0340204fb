//! `cni-conform bench`: what a plugin costs, measured against another build of its type on the
//! same kernel and sandbox, the two taking turns (A B A B ...) after a warm-up.
//!
//! A `vlan` is measured by every section. Any other type ([`world::Subject`], from its pack) by
//! process start, the lifecycle (the host-master section, with the pack's minimal configuration
//! on the pack's node) and concurrency (but `host-device`: its node has one device to move);
//! the chained and scale sections measure VLAN-only things and are refused for it
//! ([`Section::refused_for`]).
//!
//! - [`lifecycle`]: process start (VERSION: wall time, peak RSS), ADD / CHECK / DEL of a
//!   host-master VLAN without IPAM, with `conform-ipam` and with upstream `static`, peak RSS of
//!   ADD, and the chained ADD / DEL behind `conform-veth`;
//! - [`scale`]: ADD / DEL latency with 0 .. 4094 VLANs already on the master, the in-process
//!   fill time and the plugin's own fill time;
//! - [`concurrency`]: ADDs and DELs per second with 1, 8 and 64 processes at once.
//!
//! `--only` picks sections; process start alone needs no 802.1Q, so it runs on this kernel.
//!
//! `--quick` (for tests) measures 3 pairs, scale points 0 and 64, a plugin fill of 16, and
//! concurrency 1 and 8 over batches of 8.
//!
//! A plugin that cannot do something (upstream `vlan` requires IPAM and knows no chaining) gets
//! "fails: <its message>" in that row; the run goes on. Benchmarks report, they never judge:
//! nothing here compares a time with a threshold.
//!
//! Output: [`report::render`] (terminal table), `bench.json` and `bench.svg` ([`write_reports`]).

pub mod chart;
pub mod cli;
pub mod concurrency;
pub mod lifecycle;
pub mod paired;
pub mod report;
pub mod scale;
pub mod stats;
pub mod vlan_fill;
pub mod world;

use std::path::{Path, PathBuf};
use std::time::Instant;

use paired::Contender;
use report::{BenchReport, PluginInfo};
use scale::ScaleReport;
use world::{Subject, World};

/// Where distributions install upstream's plugins: the default `--vs` is the type's file there.
pub const UPSTREAM_DIR: &str = "/usr/lib/cni";

/// The default cap of the plugin's own fill: in User-Mode Linux one ADD with IPAM costs
/// ~0.2 s, so filling all 4094 takes a quarter of an hour per plugin (`--plugin-fill 4094`).
pub const DEFAULT_PLUGIN_FILL: u16 = 512;

/// The highest 802.1Q id; also how many VLANs a master can carry (1..=4094).
pub const MAX_VLAN_ID: u16 = 4094;

/// A part of the benchmark (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// VERSION: process start and exit, peak RSS.
    Start,
    /// ADD / CHECK / DEL of a host-master VLAN (another type: its pack's minimal
    /// configuration) with each IPAM, ADD's peak RSS.
    #[value(alias = "lifecycle")]
    HostMaster,
    /// ADD / DEL chained behind conform-veth.
    Chained,
    /// ADD / DEL with 0 .. 4094 VLANs on the master, and the fills.
    Scale,
    /// ADDs and DELs per second with 1, 8, 64 at once.
    Concurrency,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Start,
        Section::HostMaster,
        Section::Chained,
        Section::Scale,
        Section::Concurrency,
    ];

    /// Whether the section creates links (and so needs a kernel that makes the type's kinds).
    pub fn makes_links(self) -> bool {
        self != Section::Start
    }

    /// Its `--only` name.
    pub fn name(self) -> &'static str {
        match self {
            Section::Start => "start",
            Section::HostMaster => "host-master",
            Section::Chained => "chained",
            Section::Scale => "scale",
            Section::Concurrency => "concurrency",
        }
    }

    /// Why this section cannot measure a plugin of `subject`'s type, if it cannot.
    pub fn refused_for(self, subject: &Subject) -> Option<String> {
        let why = self.refusal(subject)?;
        Some(format!(
            "the {} benchmark {why}; a {} plugin is measured by {}",
            self.name(),
            subject.plugin_type,
            Section::ALL
                .iter()
                .filter(|s| s.refusal(subject).is_none())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    fn refusal(self, subject: &Subject) -> Option<&'static str> {
        if subject.is_vlan() {
            return None;
        }
        match self {
            Section::Start | Section::HostMaster => None,
            Section::Concurrency if subject.plugin_type != "host-device" => None,
            Section::Concurrency => Some(
                "moves the one device of its node into many pods at once, and a host-device \
                 plugin can move a device into one pod only",
            ),
            Section::Chained => Some(
                "measures a VLAN made in the pod on the link conform-veth made (vlan's \
                 linkInContainer without master), which is VLAN-only",
            ),
            Section::Scale => Some(
                "measures ADD and DEL with up to 4094 VLANs already on the master, which is \
                 VLAN-only",
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Plugin A.
    pub plugin: PathBuf,
    /// The type A and B are (both are linked under its name).
    pub subject: Subject,
    /// Plugin B, if any.
    pub versus: Option<PathBuf>,
    /// Recorded pairs per measurement (default 20, quick 3).
    pub runs: Option<usize>,
    /// VLANs on the master at each point of the scale curve (default 0,64,512,4094; quick 0,64).
    pub scale_points: Option<Vec<u16>>,
    /// VLANs each plugin creates itself in the fill measurement (default: the last scale point,
    /// at most [`DEFAULT_PLUGIN_FILL`]).
    pub plugin_fill: Option<u16>,
    /// Fewer runs and points, for tests.
    pub quick: bool,
    /// What to measure (default: every section).
    pub sections: Option<Vec<Section>>,
}

/// What will be measured, from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub warmups: usize,
    pub runs: usize,
    /// Batches per contender and level in the concurrency section.
    pub runs_concurrency: usize,
    /// Attachments per batch in the concurrency section: at least the highest level.
    pub batch: usize,
    /// Ascending, distinct, at most [`MAX_VLAN_ID`].
    pub scale_points: Vec<u16>,
    pub plugin_fill: u16,
    /// Processes at once.
    pub concurrency: Vec<usize>,
    pub sections: Vec<Section>,
}

impl Plan {
    pub fn new(options: &BenchOptions) -> Result<Plan, String> {
        let runs = options.runs.unwrap_or(if options.quick { 3 } else { 20 });
        if runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        let mut scale_points = options.scale_points.clone().unwrap_or_else(|| {
            if options.quick {
                vec![0, 64]
            } else {
                vec![0, 64, 512, MAX_VLAN_ID]
            }
        });
        if let Some(point) = scale_points.iter().find(|p| **p > MAX_VLAN_ID) {
            return Err(format!(
                "--scale-points: {point} VLANs do not fit on a master (ids 1..={MAX_VLAN_ID})"
            ));
        }
        if scale_points.is_empty() {
            return Err("--scale-points needs at least one point".into());
        }
        scale_points.sort_unstable();
        scale_points.dedup();
        let last_point = *scale_points.last().expect("checked non-empty");
        let fill_cap = if options.quick {
            16
        } else {
            DEFAULT_PLUGIN_FILL
        };
        let plugin_fill = options.plugin_fill.unwrap_or(last_point.min(fill_cap));
        if plugin_fill > MAX_VLAN_ID {
            return Err(format!(
                "--plugin-fill: {plugin_fill} VLANs do not fit on a master (ids 1..={MAX_VLAN_ID})"
            ));
        }
        let subject = &options.subject;
        let sections = match &options.sections {
            Some(sections) => {
                if let Some(why) = sections.iter().find_map(|s| s.refused_for(subject)) {
                    return Err(format!("--only: {why}"));
                }
                sections.clone()
            }
            None => Section::ALL
                .into_iter()
                .filter(|s| s.refused_for(subject).is_none())
                .collect(),
        };
        if sections.is_empty() {
            return Err("--only needs at least one section".into());
        }
        if !subject.is_vlan() {
            let scale = Section::Scale.refused_for(subject).expect("VLAN-only");
            for (flag, given) in [
                ("--scale-points", options.scale_points.is_some()),
                ("--plugin-fill", options.plugin_fill.is_some()),
            ] {
                if given {
                    return Err(format!("{flag}: {scale}"));
                }
            }
        }
        Ok(Plan {
            sections,
            warmups: 1,
            runs,
            runs_concurrency: if options.quick { 1 } else { 2 },
            batch: if options.quick { 8 } else { 64 },
            scale_points,
            plugin_fill,
            concurrency: if options.quick {
                vec![1, 8]
            } else {
                vec![1, 8, 64]
            },
        })
    }
}

/// Runs every section. Err only when the harness itself cannot go on (no sandbox, a kernel
/// refusal while filling); a plugin's failures are in the report.
pub fn run_bench(options: &BenchOptions, progress: &dyn Fn(&str)) -> Result<BenchReport, String> {
    let plan = Plan::new(options)?;
    let started = Instant::now();
    let contenders: Vec<Contender> = std::iter::once(&options.plugin)
        .chain(&options.versus)
        .zip(["A", "B"])
        .map(|(binary, label)| Contender {
            label,
            binary: binary.clone(),
        })
        .collect();

    let wanted = |section| plan.sections.contains(&section);

    let (mut process_start, mut host_master, mut chained) = (Vec::new(), Vec::new(), Vec::new());
    if [Section::Start, Section::HostMaster, Section::Chained]
        .into_iter()
        .any(wanted)
    {
        let subject = &options.subject;
        let world = World::new(&contenders, &lifecycle::pods(), subject)?;
        if wanted(Section::Start) {
            progress("process start");
            process_start = lifecycle::process_start(&world, subject, &contenders, &plan);
        }
        if wanted(Section::HostMaster) {
            let title =
                report::lifecycle_title(&subject.plugin_type, subject.configuration().as_ref());
            progress(&format!("{title} lifecycle"));
            host_master = lifecycle::host_master(&world, subject, &contenders, &plan);
        }
        if wanted(Section::Chained) {
            progress("chained");
            chained = lifecycle::chained(&world, &contenders, &plan);
        }
    }

    let mut scale = ScaleReport::default();
    if wanted(Section::Scale) {
        let world = World::new(&contenders, &scale::pods(), &options.subject)?;
        scale = scale::run(&world, &contenders, &plan, progress)?;
    }

    let mut concurrency = Vec::new();
    if wanted(Section::Concurrency) {
        progress("concurrency");
        let world = World::new(
            &contenders,
            &concurrency::pods(plan.batch),
            &options.subject,
        )?;
        concurrency = concurrency::run(&world, &options.subject, &contenders, &plan);
    }

    Ok(BenchReport {
        kernel: crate::kernel::current(),
        plugin_type: options.subject.plugin_type.clone(),
        configuration: options.subject.configuration(),
        plugins: contenders
            .iter()
            .map(|c| PluginInfo {
                label: c.label,
                path: c.binary.display().to_string(),
            })
            .collect(),
        runs: plan.runs,
        warmups: plan.warmups,
        quick: options.quick,
        process_start,
        lifecycle: host_master,
        chained,
        scale,
        concurrency,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes `bench.json` and `bench.svg` into `dir`; returns their paths.
pub fn write_reports(report: &BenchReport, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).expect("the report is plain data");
    let svg = chart::render(report).map_err(|e| format!("drawing bench.svg: {e}"))?;
    [("bench.json", json), ("bench.svg", svg)]
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map(|()| path.clone())
                .map_err(|e| format!("writing {}: {e}", path.display()))
        })
        .collect()
}
