//! The `cni-conform fuzz` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::arena::Target;
use super::{FuzzOptions, Progress, report, run_fuzz};
use crate::fixtures::preflight::check_harness;
use crate::runtime::plugin_argument;
use crate::scenario::load::bundled_type_pack;
use crate::uml::{KernelChoice, ensure_link_kinds};

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// The plugin under test (default: `vlan` next to this binary, else /opt/cni/bin/vlan, else
    /// the first `vlan` in CNI_PATH).
    #[arg(long, value_name = "PATH")]
    plugin: Option<PathBuf>,
    /// The plugin's type: vlan, macvlan, ipvlan, bridge, ptp, host-device, tap, dummy. Default:
    /// the plugin's file name, when it is one of those (`vlan` for the default plugin). A vlan's
    /// cases start from its three modes (master on the node, in the pod, chained); any other
    /// type's from its pack's minimal configuration, on its pack's node (`cni-conform list`).
    #[arg(long, value_name = "TYPE")]
    plugin_type: Option<String>,
    /// Generated cases.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    cases: usize,
    /// Seed of the generator: the same seed gives the same cases (default: from the clock,
    /// printed so the run can be repeated).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Crash-consistency rounds: ADD killed with SIGKILL after a random delay, then DEL.
    #[arg(long, default_value_t = 100, value_name = "K")]
    kill_rounds: usize,
    /// Where fuzz.json and one reproducer folder per finding go.
    #[arg(long, value_name = "DIR", default_value = "fuzz-report")]
    report_dir: PathBuf,
    /// Seconds one plugin execution may take before it counts as a hang.
    #[arg(long, default_value_t = 10, value_name = "S")]
    timeout: u64,
    /// Cases one sandbox serves before a fresh one is built (always after a leftover).
    #[arg(long, default_value_t = 25, value_name = "N")]
    sandbox_reuse: usize,
    /// Candidate cases tried while shrinking one finding.
    #[arg(long, default_value_t = 200, value_name = "N")]
    shrink_iterations: usize,
    /// Which kernel runs the fuzzer: auto (native if it makes the type's links, e.g. 802.1Q,
    /// else UML), native, uml.
    #[arg(long, value_enum, default_value_t = KernelChoice::Auto, env = "CNI_CONFORM_KERNEL")]
    kernel: KernelChoice,
}

pub fn run(args: FuzzArgs) -> Result<ExitCode, String> {
    let pack = bundled_type_pack(args.plugin_type, args.plugin.as_deref())?;
    let target = Target::from_pack(&pack)?;
    let plugin = plugin_argument(args.plugin)?;
    if args.sandbox_reuse == 0 {
        return Err("--sandbox-reuse must be at least 1".into());
    }
    if args.timeout == 0 {
        return Err("--timeout must be at least 1 second".into());
    }
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    check_harness()?;
    std::fs::create_dir_all(&args.report_dir)
        .map_err(|e| format!("--report-dir {}: {e}", args.report_dir.display()))?;
    ensure_link_kinds(args.kernel, &target.kernel)?;
    // After a re-run under UML this is the guest's seed: the one the cases come from.
    eprintln!("cni-conform fuzz: seed {seed}, type {}", target.plugin_type);

    let options = FuzzOptions {
        plugin,
        target,
        cases: args.cases,
        seed,
        kill_rounds: args.kill_rounds,
        timeout: Duration::from_secs(args.timeout),
        sandbox_reuse: args.sandbox_reuse,
        max_shrink_iterations: args.shrink_iterations,
        report_dir: Some(args.report_dir.clone()),
    };
    let every = (args.cases / 20).max(1);
    let progress = |p: Progress| match p {
        Progress::Case { done, of, findings } if done % every == 0 || done == of => {
            eprintln!("cni-conform fuzz: {done}/{of} cases, {findings} findings")
        }
        Progress::Case { .. } => {}
        Progress::Found { signature, case } => {
            eprintln!("cni-conform fuzz: case {case}: {signature}; shrinking")
        }
        Progress::Shrunk { signature, steps } => {
            eprintln!("cni-conform fuzz: {signature}: shrunk in {steps} steps")
        }
        Progress::KillRound { done, of, findings } if done % 10 == 0 || done == of => {
            eprintln!("cni-conform fuzz: {done}/{of} kill rounds, {findings} findings")
        }
        Progress::KillRound { .. } => {}
    };
    let report = run_fuzz(&options, &progress)?;
    print!("{}", report::render(&report));
    eprintln!(
        "cni-conform fuzz: report in {}",
        args.report_dir.join("fuzz.json").display()
    );
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
