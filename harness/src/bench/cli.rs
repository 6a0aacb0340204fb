//! The `cni-conform bench` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use super::world::Subject;
use super::{
    BenchOptions, Plan, Section, UPSTREAM_DIR, report, run_bench, world::is_file, write_reports,
};
use crate::fixtures::preflight::check_harness;
use crate::runtime::plugin_argument;
use crate::scenario::load::bundled_type_pack;
use crate::uml::{KernelChoice, ensure_link_kinds, ensure_namespace_kernel};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Plugin A (default: `vlan` next to this binary, else /opt/cni/bin/vlan, else the first
    /// `vlan` in CNI_PATH).
    #[arg(long, value_name = "PATH")]
    plugin: Option<PathBuf>,
    /// The type of A and B: vlan, macvlan, ipvlan, bridge, ptp, host-device, tap, dummy.
    /// Default: A's file name, when it is one of those (`vlan` for the default plugin). A vlan
    /// is measured by every section; any other type with its pack's minimal configuration on its
    /// pack's node by start, host-master (its lifecycle: ADD, CHECK, DEL, with each IPAM) and
    /// concurrency (not host-device: its node has one device); chained and scale measure
    /// VLAN-only things and are refused for it.
    #[arg(long, value_name = "TYPE")]
    plugin_type: Option<String>,
    /// Plugin B, measured in turn with A (default: /usr/lib/cni/TYPE when it exists).
    #[arg(long = "vs", value_name = "PATH")]
    versus: Option<PathBuf>,
    /// Measure A alone, even when /usr/lib/cni/TYPE exists.
    #[arg(long, conflicts_with = "versus")]
    alone: bool,
    /// Recorded A/B pairs per measurement, after one warm-up pair (default 20; --quick: 3).
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// Where bench.json and bench.svg go.
    #[arg(long, value_name = "DIR", default_value = "bench-report")]
    report_dir: PathBuf,
    /// VLANs already on the master at each point of the scale curve (default 0,64,512,4094;
    /// --quick: 0,64).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    scale_points: Option<Vec<u16>>,
    /// VLANs each plugin creates itself, one ADD after the other, in the fill measurement
    /// (default: the last scale point; 0 leaves it out).
    #[arg(long, value_name = "N")]
    plugin_fill: Option<u16>,
    /// Fewer runs and scale points: a smoke run for tests.
    #[arg(long)]
    quick: bool,
    /// Measure only these sections (comma-separated; default: all the type has). `--only
    /// start` makes no links, so with `--kernel auto` it runs on this kernel.
    #[arg(long, value_enum, value_name = "SECTIONS", value_delimiter = ',')]
    only: Option<Vec<Section>>,
    /// Which kernel runs the benchmark: auto (native if it makes the type's links, e.g. 802.1Q,
    /// else UML), native, uml.
    #[arg(long, value_enum, default_value_t = KernelChoice::Auto, env = "CNI_CONFORM_KERNEL")]
    kernel: KernelChoice,
}

pub fn run(args: BenchArgs) -> Result<ExitCode, String> {
    let pack = bundled_type_pack(args.plugin_type, args.plugin.as_deref())?;
    let subject = Subject::from_pack(&pack);
    let versus = match args.versus {
        Some(path) => Some(path),
        None if args.alone => None,
        None => Some(PathBuf::from(UPSTREAM_DIR).join(&subject.plugin_type)).filter(|p| is_file(p)),
    };
    let canonical = |flag: &str, path: PathBuf| {
        std::fs::canonicalize(&path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let options = BenchOptions {
        plugin: plugin_argument(args.plugin)?,
        subject,
        versus: versus.map(|p| canonical("--vs", p)).transpose()?,
        runs: args.runs,
        scale_points: args.scale_points,
        plugin_fill: args.plugin_fill,
        quick: args.quick,
        sections: args.only,
    };
    let plan = Plan::new(&options)?;
    check_harness()?;
    std::fs::create_dir_all(&args.report_dir)
        .map_err(|e| format!("--report-dir {}: {e}", args.report_dir.display()))?;
    if plan.sections.iter().any(|s| s.makes_links()) {
        ensure_link_kinds(args.kernel, &pack.kernel)?;
    } else {
        ensure_namespace_kernel(args.kernel)?;
    }

    let progress = |step: &str| eprintln!("cni-conform bench: {step}");
    let report = run_bench(&options, &progress)?;
    print!("{}", report::render(&report));
    let written = write_reports(&report, &args.report_dir)?;
    for path in written {
        eprintln!("cni-conform bench: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
