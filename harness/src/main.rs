//! `cni-conform`: the conformance suite for CNI VLAN plugins.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use cni_conform::fixtures::personality::Personality;
use cni_conform::fixtures::preflight::check_harness;
use cni_conform::report;
use cni_conform::runtime::plugin_argument;
use cni_conform::scenario::{
    Feature, Judgement, Level, Library, Profile, Progress, Source, StateOracle, StoredStates,
    SuiteOptions,
    builtin_clauses::{BUILTIN_CLAUSES, builtin},
    run::applicable_versions,
    run_suite,
};
use cni_conform::snapshot::Snapshot;
use cni_conform::uml::{KernelChoice, ensure_vlan_kernel};
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
    },
    /// Print the kernel this would run on (native or User-Mode Linux) and whether it makes VLANs.
    Kernel,
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
    /// The VLAN plugin binary under test (default: `vlan` next to this binary, else
    /// /opt/cni/bin/vlan, else the first `vlan` in CNI_PATH).
    #[arg(long, value_name = "PATH")]
    plugin: Option<PathBuf>,
    /// The `type` the scenario configurations use for the plugin under test.
    #[arg(long, default_value = "vlan", value_name = "TYPE")]
    plugin_type: String,
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
        } => library(scenarios).and_then(|l| explain(&l, &scenario)),
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
    if args.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    let plugin = plugin_argument(args.plugin)?;
    if let Some(dir) = args.scenarios.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!("--scenarios {}: not a folder", dir.display()));
    }
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
    ensure_vlan_kernel(args.kernel)?;
    // After a re-run under UML, which exits without unwinding: the bundled files' folder is
    // removed when `library` goes.
    let library = library(args.scenarios)?;

    let options = SuiteOptions {
        plugin,
        plugin_type: args.plugin_type,
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
    };
    let stored = StoredStates::new(&library.states_dir());
    let printing = PrintingStates(&stored);
    let states: &dyn StateOracle = if args.print_states {
        &printing
    } else {
        &stored
    };
    let progress = |p: Progress| match p {
        Progress::Planned { cases } => eprintln!("cni-conform: {cases} cases"),
        Progress::Finished { done, of, case } => eprintln!(
            "[{done}/{of}] {} @ {}: {:?}",
            case.scenario, case.version, case.status
        ),
    };
    let report = run_suite(&library, &options, states, &progress)?;
    print!("{}", report::table::render(&report));
    if let Some(dir) = &args.report_dir {
        let written = report::write_all(&report, dir)
            .map_err(|e| format!("writing reports to {}: {e}", dir.display()))?;
        eprintln!(
            "cni-conform: reports in {} ({} files)",
            dir.display(),
            written.len()
        );
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
    let (scenarios, errors) = library.load_all();
    for s in &scenarios {
        let versions: Vec<&str> = applicable_versions(s).iter().map(|v| v.as_str()).collect();
        let features: Vec<&str> = s.features.iter().map(|f| f.name()).collect();
        println!("{}\n  {}", s.id, s.description);
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
        Some(section) => println!("  clause {id} ({source}, {section}, {level:?})"),
        None => println!("  clause {id} ({source}, {level:?})"),
    }
}

fn explain(library: &Library, id: &str) -> Result<ExitCode, String> {
    if Source::of_clause(id).is_some() {
        return explain_clause(library, id);
    }
    let path = library.scenarios_dir.join(format!("{id}.yaml"));
    let scenario = library.load(&path).map_err(|e| e.to_string())?;
    println!("{}: {}", scenario.id, scenario.description);
    for c in &scenario.clauses {
        println!("  tests {} ({:?}) {}", c.id, c.level, c.text);
    }
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
    println!(
        "  network:\n{}",
        indent(
            &serde_yaml_ng::to_string(&scenario.network).unwrap_or_default(),
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
