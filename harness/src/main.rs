//! `cni-conform`: the conformance suite for CNI VLAN plugins.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use cni_conform::fixtures::personality::Personality;
use cni_conform::fixtures::preflight::check_harness;
use cni_conform::report;
use cni_conform::report::table::{RenderOptions, level_name};
use cni_conform::runtime::plugin_lookup::DEFAULT_PLUGIN_NAME;
use cni_conform::runtime::{RuntimeChoice, plugin_argument};
use cni_conform::scenario::{
    Feature, Judgement, Level, Library, Profile, Progress, Source, StateOracle, StoredStates,
    SuiteOptions,
    builtin_clauses::{BUILTIN_CLAUSES, builtin},
    model::NetworkSource,
    run::applicable_versions,
    run_suite,
};
use cni_conform::snapshot::Snapshot;
use cni_conform::uml::{KernelChoice, ensure_link_kinds, ensure_vlan_kernel};
use cni_types::CniVersion;

#[derive(Parser)]
#[command(
    name = "cni-conform",
    version,
    about = "Conformance suite for CNI VLAN plugins: runs chained network configurations against \
             a plugin binary in throwaway network namespaces and checks links, addresses, routes \
             and results against stored expectations."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios against a plugin and print a scenario x version table.
    Run(RunArgs),
    /// List scenarios with their clauses and features.
    List {
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
    },
    /// Show what a scenario does, step by step; or, given a clause id (e.g.
    /// suite.no-leftovers), what the clause says, its source and which scenarios check it.
    Explain {
        #[arg(value_name = "SCENARIO|CLAUSE")]
        scenario: String,
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
        /// The type a pack's scenario is shown for: its network and node as `run` makes
        /// them for that type (a core scenario runs for every type).
        #[arg(long, default_value = DEFAULT_PLUGIN_NAME, value_name = "TYPE")]
        plugin_type: String,
    },
    /// Print the kernel this would run on (native or User-Mode Linux) and whether it makes VLANs.
    Kernel,
    /// Run a command on a kernel that makes 802.1Q links: this one when it can, otherwise
    /// inside User-Mode Linux (as `run` does); what reproducers use where the kernel lacks
    /// 802.1Q. The command's exit status is this one's.
    KernelRun {
        /// Which kernel: auto (this one if it makes 802.1Q links, else UML), native, uml.
        #[arg(long, value_enum, default_value_t = KernelChoice::Auto, env = "CNI_CONFORM_KERNEL")]
        kernel: KernelChoice,
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Fetch the User-Mode Linux kernel used where this kernel has no 802.1Q (Debian unstable's
    /// user-mode-linux, into /var/cache/cni-conform; what ci/setup does). Fetches nothing when
    /// one is cached.
    FetchUml {
        /// Fetch unstable's newest even when a version is cached.
        #[arg(long)]
        refresh: bool,
    },
    /// Measure a plugin against another one (A B A B ...): process start, ADD/CHECK/DEL,
    /// chaining, VLANs-on-master scale curve, concurrency; table, bench.json and bench.svg.
    Bench(cni_conform::bench::cli::BenchArgs),
    /// Fuzz a plugin: mutated configurations and environments, each judged for crashes, bad
    /// output, bad error codes and leftovers (shrunk, with reproducers), plus ADDs killed with
    /// SIGKILL followed by DEL.
    Fuzz(cni_conform::fuzz::cli::FuzzArgs),
    /// Print a completion script for SHELL on stdout (e.g. `cni-conform completions bash >
    /// /usr/share/bash-completion/completions/cni-conform`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (cni-conform.1 and one per command) into DIR: what the release
    /// packages, generated from these very definitions.
    #[command(hide = true)]
    Manpages {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The plugin binary under test (default: `vlan` next to this binary, else
    /// /opt/cni/bin/vlan, else the first `vlan` in CNI_PATH).
    #[arg(long, value_name = "PATH")]
    plugin: Option<PathBuf>,
    /// The plugin's type, which picks the packs that run (the core pack and the type's own;
    /// `cni-conform list` shows them): vlan, macvlan, ipvlan, bridge, ptp, host-device, tap,
    /// dummy. Default: the plugin's file name, when it is one of those.
    #[arg(long, value_name = "TYPE")]
    plugin_type: Option<String>,
    /// Test every plugin of DIR (e.g. /usr/lib/cni) whose file name is a type with a pack, one
    /// type after another in this one command: a table each, then a line per type.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["plugin", "plugin_type"])]
    plugin_dir: Option<PathBuf>,
    /// Extra plugin folders searched before the fixture and system folders (colon-separated).
    #[arg(long, value_name = "DIRS")]
    cni_path: Option<String>,
    /// Scenario folder; its fixtures are the sibling `fixtures/` folder.
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Only scenarios whose id matches (substring, or a glob with * and ?).
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Only these CNI versions (comma-separated, e.g. 0.4.0,1.1.0).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    versions: Option<Vec<String>>,
    /// Leave out scenarios needing this feature (repeatable): chaining, link-in-container,
    /// check, gc, status, vlan-protocol, ipam-optional, upstream-plugins, concurrency.
    #[arg(long = "skip-feature", value_name = "F")]
    skip_features: Vec<String>,
    /// What decides pass and fail: spec (the CNI SPEC and the suite's invariants; failures of
    /// the reference contract are listed as differences) or reference (everything).
    #[arg(long, value_enum, default_value_t = Profile::Spec, value_name = "PROFILE")]
    profile: Profile,
    /// Under --profile spec, a plugin declining this optional capability (chaining,
    /// link-in-container, vlan-protocol, ipam-optional, gc, status) fails instead of being
    /// `unsupported` (repeatable).
    #[arg(long = "require-feature", value_name = "F")]
    require_features: Vec<String>,
    /// Cases run at once, each in its own sandbox.
    #[arg(long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Write JUnit XML, JSON, Markdown and failure reproducers here.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Seconds one plugin execution may take before it is killed (a finding).
    #[arg(long, default_value_t = 30, value_name = "S")]
    timeout: u64,
    /// Also print the sandbox's state (links, addresses, routes of every netns) wherever a step
    /// compares it with a stored state.
    #[arg(long)]
    print_states: bool,
    /// Show every failure of every case (each CNI version), every difference from the
    /// reference and every warning, not only the failing clauses grouped.
    #[arg(long, short)]
    verbose: bool,
    /// What performs every list operation (ADD, CHECK, DEL, GC, STATUS): cni-conform (its own
    /// model of libcni) or libcni (libcni itself through the driver ci/libcni-build makes, found
    /// at $CNI_CONFORM_LIBCNI_DRIVER or in the cache; see docs/libcni-runtime.md).
    #[arg(long, default_value = "cni-conform", value_name = "RUNTIME")]
    runtime: String,
    /// Which kernel runs the suite: auto (native if it makes 802.1Q links, else UML), native, uml.
    #[arg(long, value_enum, default_value_t = KernelChoice::Auto, env = "CNI_CONFORM_KERNEL")]
    kernel: KernelChoice,
}

fn main() -> ExitCode {
    if let Some(fixture) = Personality::of_this_process() {
        return fixture.run();
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::List { scenarios } => library(scenarios).and_then(|l| list(&l)),
        Command::Explain {
            scenario,
            scenarios,
            plugin_type,
        } => library(scenarios).and_then(|l| explain(&l, &scenario, &plugin_type)),
        Command::Bench(args) => cni_conform::bench::cli::run(args),
        Command::Fuzz(args) => cni_conform::fuzz::cli::run(args),
        Command::FetchUml { refresh } => cni_conform::uml::fetch_uml(refresh),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cni-conform", &mut script);
            std::io::stdout()
                .write_all(&script)
                .map(|()| ExitCode::SUCCESS)
                .map_err(|e| format!("writing the completion script: {e}"))
        }
        Command::Manpages { dir } => clap_mangen::generate_to(Cli::command(), &dir)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| format!("writing man pages into {}: {e}", dir.display())),
        Command::KernelRun { kernel, command } => kernel_run(kernel, &command),
        Command::Kernel => {
            println!("{}", cni_conform::kernel::current());
            match cni_conform::kernel::probe_vlan() {
                Ok(()) => println!("802.1Q: yes"),
                Err(e) => println!("802.1Q: no ({e})"),
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    outcome.unwrap_or_else(|message| {
        eprintln!("cni-conform: {message}");
        ExitCode::from(2)
    })
}

/// `--scenarios`, else the scenarios embedded in this binary.
fn library(dir: Option<PathBuf>) -> Result<Library, String> {
    dir.as_deref()
        .map_or_else(Library::bundled, |d| Ok(Library::at(d)))
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    // Validate every argument before booting anything.
    let versions = args
        .versions
        .map(|list| {
            list.iter()
                .map(|v| {
                    v.parse::<CniVersion>()
                        .map_err(|e| format!("--versions: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let skip_features = args
        .skip_features
        .iter()
        .map(|f| {
            Feature::by_name(f).ok_or_else(|| {
                let names: Vec<&str> = Feature::ALL.iter().map(|x| x.name()).collect();
                format!(
                    "--skip-feature {f:?}: unknown feature; one of {}",
                    names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let required_features = args
        .require_features
        .iter()
        .map(|f| {
            Feature::by_name(f)
                .filter(|x| x.is_capability())
                .ok_or_else(|| {
                    let names: Vec<&str> = Feature::ALL
                        .iter()
                        .filter(|x| x.is_capability())
                        .map(|x| x.name())
                        .collect();
                    format!(
                        "--require-feature {f:?}: not an optional capability; one of {}",
                        names.join(", ")
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = RuntimeChoice::from_name(&args.runtime).map_err(|e| format!("--runtime: {e}"))?;
    if args.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    if let Some(dir) = args.scenarios.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!("--scenarios {}: not a folder", dir.display()));
    }
    let targets: Vec<(PathBuf, PluginType)> = {
        let library = library(args.scenarios.clone())?;
        match &args.plugin_dir {
            Some(dir) => plugins_in(dir, &library)?,
            None => {
                // A plugin that is not there is named as such before its type is asked for.
                let plugin = plugin_argument(args.plugin.clone())?;
                let plugin_type = plugin_type(args.plugin_type, args.plugin.as_deref(), &library)?;
                vec![(plugin, plugin_type)]
            }
        }
    };
    let extra_cni_path: Vec<PathBuf> = args
        .cni_path
        .iter()
        .flat_map(|dirs| dirs.split(':'))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    if let Some(missing) = extra_cni_path.iter().find(|d| !d.is_dir()) {
        return Err(format!("--cni-path: {} is not a folder", missing.display()));
    }
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("--report-dir {}: {e}", dir.display()))?;
    }
    check_harness()?;
    let mut kinds: Vec<_> = targets.iter().flat_map(|(_, t)| t.kernel.clone()).collect();
    kinds.sort();
    kinds.dedup();
    ensure_link_kinds(args.kernel, &kinds)?;
    // After a re-run under UML, which exits without unwinding: the bundled files' folder is
    // removed when `library` goes.
    let library = library(args.scenarios)?;

    let options = SuiteOptions {
        plugin: PathBuf::new(),
        plugin_type: String::new(),
        extra_cni_path,
        filter: args.filter,
        versions,
        skip_features,
        jobs: args.jobs,
        timeout: Duration::from_secs(args.timeout),
        judgement: Judgement {
            profile: args.profile,
            required_features,
        },
        runtime,
    };
    let stored = StoredStates::new(&library.states_dir());
    let printing = PrintingStates(&stored);
    let states: &dyn StateOracle = if args.print_states {
        &printing
    } else {
        &stored
    };
    let progress = |p: Progress| match p {
        Progress::Planned { cases } => eprintln!(
            "cni-conform: {cases} case{}",
            if cases == 1 { "" } else { "s" }
        ),
        Progress::Finished { done, of, case } => eprintln!(
            "[{done}/{of}] {} @ {}: {}",
            case.scenario, case.version, case.status
        ),
    };
    let several = targets.len() > 1;
    let mut lines = Vec::new();
    let mut passed = true;
    for (plugin, plugin_type) in targets {
        let options = SuiteOptions {
            plugin,
            plugin_type: plugin_type.name,
            ..options.clone()
        };
        if several {
            println!("== {} ({})", options.plugin_type, options.plugin.display());
        }
        let report = run_suite(&library, &options, states, &progress)?;
        // Several types: a report folder each, named by type.
        let report_dir = args.report_dir.as_ref().map(|d| {
            if several {
                d.join(&options.plugin_type)
            } else {
                d.clone()
            }
        });
        if let Some(dir) = &report_dir {
            let written = report::write_all(&report, dir)
                .map_err(|e| format!("writing reports to {}: {e}", dir.display()))?;
            eprintln!(
                "cni-conform: reports in {} ({} files)",
                dir.display(),
                written.len()
            );
        }
        let render = RenderOptions {
            verbose: args.verbose,
            report_dir: report_dir.as_deref(),
        };
        let text = report::table::render_with(&report, &render);
        print!("{text}");
        if several {
            println!();
            lines.push(format!(
                "{:<12} {}",
                options.plugin_type,
                text.lines().last().unwrap_or_default()
            ));
        }
        passed &= report.passed();
    }
    if several {
        println!("every type ({}):", lines.len());
        for line in lines {
            println!("  {line}");
        }
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--plugin-dir`: each file of `dir` named like a type with a pack, with that type.
fn plugins_in(
    dir: &std::path::Path,
    library: &Library,
) -> Result<Vec<(PathBuf, PluginType)>, String> {
    if !dir.is_dir() {
        return Err(format!("--plugin-dir {}: not a folder", dir.display()));
    }
    let (packs, _) = library.packs();
    let found: Vec<(PathBuf, PluginType)> = packs
        .types
        .values()
        .filter(|pack| dir.join(&pack.plugin_type).is_file())
        .map(|pack| {
            (
                dir.join(&pack.plugin_type),
                PluginType {
                    name: pack.plugin_type.clone(),
                    kernel: pack.kernel.clone(),
                },
            )
        })
        .collect();
    if found.is_empty() {
        return Err(format!(
            "--plugin-dir {}: no plugin named like a type with a pack ({})",
            dir.display(),
            packs.type_names().join(", ")
        ));
    }
    found
        .into_iter()
        .map(|(path, t)| {
            std::fs::canonicalize(&path)
                .map(|p| (p, t))
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// The type `run` tests, and the link kinds its kernel must make.
struct PluginType {
    name: String,
    kernel: Vec<cni_conform::kernel::LinkKind>,
}

/// `--plugin-type`, else the plugin's file name (as given, before symlinks are followed: a
/// `vlan` that links to a versioned file is still a vlan), else `vlan` for the default plugin;
/// a type must have a pack unless the scenarios folder has none.
fn plugin_type(
    given: Option<String>,
    plugin: Option<&std::path::Path>,
    library: &Library,
) -> Result<PluginType, String> {
    let (packs, _) = library.packs();
    let name = cni_conform::scenario::load::resolve_type(given, plugin, &packs)?;
    let kernel = packs
        .types
        .get(&name)
        .map(|p| p.kernel.clone())
        .unwrap_or_default();
    Ok(PluginType { name, kernel })
}

/// `kernel-run`: the command on a kernel that makes 802.1Q links, with
/// `CNI_CONFORM_KERNEL_RUN=1` so a reproducer knows not to ask again.
fn kernel_run(kernel: KernelChoice, command: &[std::ffi::OsString]) -> Result<ExitCode, String> {
    ensure_vlan_kernel(kernel)?;
    // Inside User-Mode Linux already (this command re-ran there, or a test runs there): the
    // guest must make VLANs itself, or the command would run on a kernel that refuses them.
    cni_conform::kernel::probe_vlan().map_err(|e| {
        format!(
            "this kernel ({}) cannot make 802.1Q links ({e}): not running {}",
            cni_conform::kernel::current(),
            command[0].to_string_lossy()
        )
    })?;
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .env("CNI_CONFORM_KERNEL_RUN", "1")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", command[0].to_string_lossy()))?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Shows each state as it is compared (`--print-states`).
struct PrintingStates<'a>(&'a StoredStates);

impl StateOracle for PrintingStates<'_> {
    fn check(&self, name: &str, actual: &Snapshot) -> Result<(), String> {
        println!("--- state {name}:\n{}", actual.to_yaml());
        self.0.check(name, actual)
    }
}

fn list(library: &Library) -> Result<ExitCode, String> {
    let (packs, _) = library.packs();
    let (scenarios, errors) = library.load_all();
    let count = |pack: &str| scenarios.iter().filter(|s| s.pack == pack).count();
    if !packs.types.is_empty() {
        println!("packs (`run` runs the core pack and the plugin type's own)");
        if let Some(core) = &packs.core {
            println!("  {core}: {} scenarios, every type", count(core));
        }
        for pack in packs.types.values() {
            let kernel: Vec<String> = pack
                .kernel
                .iter()
                .map(|k| format!("{} (module {})", k.name(), k.module()))
                .collect();
            println!(
                "  {}: {} scenarios; kernel: {}; reference contract: {}\n    {}",
                pack.plugin_type,
                count(&pack.plugin_type),
                if kernel.is_empty() {
                    "-".into()
                } else {
                    kernel.join(", ")
                },
                pack.reference_contract
                    .as_deref()
                    .unwrap_or("none (spec and suite clauses only)"),
                pack.description.trim()
            );
        }
    }
    for s in &scenarios {
        let versions: Vec<&str> = applicable_versions(s).iter().map(|v| v.as_str()).collect();
        let features: Vec<&str> = s.features.iter().map(|f| f.name()).collect();
        let pack = if s.pack.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.pack)
        };
        println!("{}{pack}\n  {}", s.id, s.description);
        for c in &s.clauses {
            print_clause(&c.id, c.level, c.section.as_deref());
        }
        println!(
            "  features: {}",
            if features.is_empty() {
                "-".into()
            } else {
                features.join(", ")
            }
        );
        println!("  versions: {}", versions.join(", "));
    }
    println!("built-in clauses (every scenario, whatever it declares)");
    for c in BUILTIN_CLAUSES {
        print_clause(c.id, c.level, c.section);
        println!("    {}", c.text);
    }
    for e in &errors {
        eprintln!("SCENARIO FILE ERROR {e}");
    }
    println!(
        "{} scenarios, {} file errors",
        scenarios.len(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A clause a report names: what it says, where it comes from, which scenarios declare it.
fn explain_clause(library: &Library, id: &str) -> Result<ExitCode, String> {
    let (scenarios, _) = library.load_all();
    let declaring: Vec<&str> = scenarios
        .iter()
        .filter(|s| s.clauses.iter().any(|c| c.id == id))
        .map(|s| s.id.as_str())
        .collect();
    let declared = scenarios
        .iter()
        .flat_map(|s| &s.clauses)
        .find(|c| c.id == id);
    match (builtin(id), declared) {
        (Some(c), _) => {
            print_clause(c.id, c.level, c.section);
            println!("    {}", c.text);
            println!("  built in: the suite applies it to every scenario");
        }
        (None, Some(c)) => {
            print_clause(&c.id, c.level, c.section.as_deref());
            println!("    {}", c.text.trim());
        }
        (None, None) => {
            return Err(format!(
                "no clause {id:?} in any scenario or among the built-in ones \
                 (cni-conform list shows them all)"
            ));
        }
    }
    if !declaring.is_empty() {
        println!("  declared by: {}", declaring.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `  clause ID (SOURCE[, SECTION], LEVEL)`, as `list` shows every clause.
fn print_clause(id: &str, level: Level, section: Option<&str>) {
    let source = Source::of_clause(id).map_or("?", Source::name);
    match section {
        Some(section) => println!("  clause {id} ({source}, {section}, {})", level_name(level)),
        None => println!("  clause {id} ({source}, {})", level_name(level)),
    }
}

/// `explain SCENARIO`, `explain SCENARIO@VERSION` (the form report lines use) or
/// `explain CLAUSE`: from the scenarios built into this binary (or `--scenarios`).
fn explain(library: &Library, id: &str, plugin_type: &str) -> Result<ExitCode, String> {
    if Source::of_clause(id).is_some() {
        return explain_clause(library, id);
    }
    let (name, version) = match id.split_once('@') {
        Some((name, version)) => {
            let version = version.parse::<CniVersion>().map_err(|e| {
                format!("{id:?}: {e} (write SCENARIO@VERSION, e.g. del-twice@1.0.0)")
            })?;
            (name, Some(version))
        }
        None => (id, None),
    };
    let selection = library.load_for(plugin_type)?;
    let Some(scenario) = selection.scenarios.into_iter().find(|s| s.id == name) else {
        if library.load_all().0.iter().any(|s| s.id == name) {
            return Err(format!(
                "{name} is in another type's pack; explain it with that --plugin-type"
            ));
        }
        return Err(format!(
            "no scenario {name:?} and no clause of that name (cni-conform list shows both)"
        ));
    };
    let applies = applicable_versions(&scenario);
    if let Some(version) = version.filter(|v| !applies.contains(v)) {
        let applies: Vec<&str> = applies.iter().map(|v| v.as_str()).collect();
        return Err(format!(
            "{name} does not run at {version}; it runs at {}",
            applies.join(", ")
        ));
    }
    println!("{}: {}", scenario.id, scenario.description.trim());
    for c in &scenario.clauses {
        println!(
            "  tests {} ({}) {}",
            c.id,
            level_name(c.level),
            c.text.trim()
        );
    }
    let versions: Vec<&str> = applies.iter().map(|v| v.as_str()).collect();
    println!("  runs at CNI versions {}", versions.join(", "));
    println!(
        "  pod netns {:?}, CNI_IFNAME {:?}, CNI_CONTAINERID {:?}",
        scenario.pod, scenario.ifname, scenario.container_id
    );
    println!(
        "  topology:\n{}",
        indent(
            &serde_yaml_ng::to_string(&scenario.topology).unwrap_or_default(),
            4
        )
    );
    let network = match &scenario.network {
        NetworkSource::Inline(value) => value.clone(),
        NetworkSource::File(file) => {
            let path = library.fixtures_dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?
        }
    };
    let mut network = network;
    if let Some(version) = version {
        // As the case runs it: the list at the case's version.
        network["cniVersion"] = version.as_str().into();
    }
    let source = match &scenario.network {
        NetworkSource::File(file) => format!(" (fixtures/{file})"),
        NetworkSource::Inline(_) => String::new(),
    };
    println!(
        "  network{source}:\n{}",
        indent(
            &serde_json::to_string_pretty(&network).unwrap_or_default(),
            4
        )
    );
    for (i, step) in scenario.steps.iter().enumerate() {
        // Through JSON: a step prints as the one-key map the file uses, without unset fields.
        let value = serde_json::to_value(step)
            .map(without_empty)
            .unwrap_or_default();
        let text = serde_yaml_ng::to_string(&value).unwrap_or_default();
        println!("  step {}:\n{}", i + 1, indent(&text, 4));
    }
    let stored = StoredStates::new(&library.states_dir());
    for name in scenario
        .steps
        .iter()
        .filter_map(|s| s.expect()?.state.clone())
    {
        let path = stored.path_of(&name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("stored state {name} (fixtures/states/{name}.snap): {e}"))?;
        println!("  stored state {name}:\n{}", indent(&text, 4));
    }
    Ok(ExitCode::SUCCESS)
}

/// Drops nulls, empty lists and empty maps, so `explain` shows what a step sets.
fn without_empty(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, without_empty(v)))
                .filter(|(_, v)| match v {
                    Value::Null => false,
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    _ => true,
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_empty).collect()),
        other => other,
    }
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}", " ".repeat(n)))
        .collect::<Vec<_>>()
        .join("\n")
}
