//! The reference plugin against every scenario in `scenarios/`, at every version it applies
//! to. Expected states are checked through insta against `fixtures/states/*.snap` — the same
//! files `cni-conform run` compares any other plugin with — so a changed state is reviewed
//! with `cargo insta review`, and a missing or changed one fails under CI=true.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use cni_conform::report::table;
use cni_conform::runtime::reference_plugin;
use cni_conform::scenario::{Judgement, Library, Progress, StateOracle, SuiteOptions, run_suite};
use cni_conform::snapshot::Snapshot;

struct InstaStates {
    dir: PathBuf,
}

impl StateOracle for InstaStates {
    fn check(&self, name: &str, actual: &Snapshot) -> Result<(), String> {
        catch_unwind(AssertUnwindSafe(|| {
            insta::with_settings!({
                snapshot_path => &self.dir,
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_yaml_snapshot!(name, actual);
            });
        }))
        .map_err(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("insta: {text} (the diff is printed above; review with `cargo insta review`)")
        })
    }
}

#[test]
fn reference_plugin_passes_every_scenario() {
    cni_conform::kernel::require_vlan();
    let library = Library::bundled().unwrap();
    let plugin = reference_plugin().unwrap_or_else(|e| panic!("{e}"));
    let options = SuiteOptions {
        filter: std::env::var("CONFORM_FILTER").ok(),
        ..SuiteOptions::reference(plugin)
    };
    let states = InstaStates {
        dir: library.states_dir(),
    };
    let progress = |p: Progress| {
        if let Progress::Finished { done, of, case } = p {
            eprintln!(
                "[{done}/{of}] {} @ {}: {:?}",
                case.scenario, case.version, case.status
            );
        }
    };
    let report = run_suite(&library, &options, &states, &progress).expect("suite runs");
    let rendered = table::render(&report);
    eprintln!("{rendered}");
    assert!(report.cases.len() > 1, "no scenarios ran:\n{rendered}");
    assert!(
        report.passed(),
        "the reference plugin fails the suite:\n{rendered}"
    );
    // The spec profile asks less of a plugin, never more: it passes there too.
    let report = report.judged(Judgement::default());
    assert!(
        report.passed(),
        "the reference plugin fails under profile spec:\n{}",
        table::render(&report)
    );
}
