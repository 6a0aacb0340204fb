//! The suite's power to tell plugins apart, itself tested: upstream's interface plugins of two
//! releases, Debian 12's (1.1.1, /usr/lib/cni) and the current one (Debian unstable's,
//! fetched by ci/upstream-fetch into the cache), are run through the core pack and their type's
//! pack, and each outcome per (scenario, version) must be exactly the stored one:
//! `fixtures/upstream/<release>/<type>.outcomes` (profile spec; for `vlan`, the type with a
//! reference contract, also `vlan.reference.outcomes`). A scenario that stops catching one of
//! upstream's defects, or starts failing a plugin for a new reason, shows up here as a diff.
//! Re-record after a deliberate change with UPDATE_UPSTREAM_OUTCOMES=1 and explain the diff in
//! the commit. `-- --nocapture` prints each type's table (docs/upstream/ is made from them).
//!
//! Speed: ci/kernel-runner runs this binary on the host's kernel. A type whose link kinds this
//! kernel makes runs here (natively, fast); the others run in a copy of the same test inside
//! User-Mode Linux (`cni-conform kernel-run`), one guest per release, so both releases' guests
//! use a core each while the native types run.

#[path = "support/upstream_release.rs"]
mod upstream_release;

use std::path::{Path, PathBuf};
use std::process::Command;

use cni_conform::report::table;
use cni_conform::scenario::{
    CaseStatus, Judgement, Library, Profile, StoredStates, SuiteOptions, SuiteReport, run_suite,
    verdict,
};

/// Every interface plugin type the suite has a pack for.
const TYPES: [&str; 8] = [
    "vlan",
    "macvlan",
    "ipvlan",
    "bridge",
    "ptp",
    "host-device",
    "tap",
    "dummy",
];

/// The types Debian 12's 1.1.1 has no binary of (upstream added them later).
const NOT_IN_1_1_1: [&str; 2] = ["tap", "dummy"];

#[test]
fn debian_12_release_gets_exactly_the_recorded_outcomes() {
    let bin = PathBuf::from("/usr/lib/cni");
    assert!(
        bin.join("host-local").exists(),
        "{} has no upstream plugins: apt-get install -y containernetworking-plugins (ci/setup does)",
        bin.display()
    );
    let version = debian_12_version();
    for missing in NOT_IN_1_1_1 {
        assert!(
            !bin.join(missing).exists() || version != "1.1.1",
            "1.1.1 has no {missing}: a changed package?"
        );
    }
    judge_release(&bin, &version);
}

#[test]
fn current_release_gets_exactly_the_recorded_outcomes() {
    let bin = upstream_release::current_bin();
    assert!(
        bin.join("vlan").exists(),
        "{} has no upstream plugins: ci/upstream-fetch provides the current release (ci/setup runs it)",
        bin.display()
    );
    let version_file = bin.join("../VERSION");
    let text = std::fs::read_to_string(&version_file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (written by ci/upstream-fetch)",
            version_file.display()
        )
    });
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("upstream-version:"))
        .expect("VERSION names the upstream version")
        .trim()
        .to_string();
    judge_release(&bin, &version);
}

/// `1.1.1` for Debian's `1.1.1+ds1-3+b5`.
fn debian_12_version() -> String {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "containernetworking-plugins"])
        .output()
        .expect("dpkg-query runs");
    let full = String::from_utf8_lossy(&out.stdout).to_string();
    full.split(['+', '-', '~'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Runs every type the release has and compares each with its recorded outcomes; all
/// mismatches are reported together.
fn judge_release(bin: &Path, version: &str) {
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/upstream")
        .join(version);
    if std::env::var_os("UPDATE_UPSTREAM_OUTCOMES").is_some() {
        std::fs::create_dir_all(&recorded).unwrap();
    }
    assert!(
        recorded.is_dir(),
        "no outcomes recorded for upstream {version} ({}): a new upstream release; record them \
         with UPDATE_UPSTREAM_OUTCOMES=1 and review what changed",
        recorded.display()
    );
    let library = Library::bundled().unwrap();
    let states = StoredStates::new(&library.states_dir());
    let present: Vec<&str> = TYPES
        .into_iter()
        .filter(|plugin_type| {
            let exists = bin.join(plugin_type).exists();
            assert!(
                exists || (NOT_IN_1_1_1.contains(plugin_type) && version == "1.1.1"),
                "{} is missing",
                bin.join(plugin_type).display()
            );
            exists
        })
        .collect();
    // Inside the guest: only the types the parent handed over.
    let handed_over = std::env::var(TYPES_VAR).ok();
    let (here, in_guest): (Vec<&str>, Vec<&str>) = match &handed_over {
        Some(list) => (
            present
                .into_iter()
                .filter(|t| list.split(',').any(|l| l == *t))
                .collect(),
            vec![],
        ),
        None => {
            let (packs, _) = library.packs();
            present
                .into_iter()
                .partition(|t| native(&packs.types[*t].kernel))
        }
    };
    let guest = (!in_guest.is_empty()).then(|| in_guest_copy(&in_guest));
    let mut mismatches = Vec::new();
    for plugin_type in here {
        let plugin = bin.join(plugin_type);
        let mut options = SuiteOptions::reference(&plugin);
        options.plugin_type = plugin_type.to_string();
        options.jobs = 4;
        let report = run_suite(&library, &options, &states, &|_| {}).expect("suite runs");
        let spec = report.judged(Judgement::default());
        eprintln!("upstream {version} {plugin_type}\n{}", table::render(&spec));
        let mut profiles = vec![(Profile::Spec, format!("{plugin_type}.outcomes"))];
        if plugin_type == "vlan" {
            profiles.push((Profile::Reference, "vlan.reference.outcomes".into()));
        }
        for (profile, file) in profiles {
            let judged = outcomes_under(&spec, profile);
            let header = format!(
                "# cni-conform outcomes of upstream {plugin_type} {version} under --profile {}, one\n\
                 # line per case: scenario version status. Recorded by harness/tests/upstream_outcomes.rs.\n",
                profile.name()
            );
            mismatches.extend(compare(&header, &judged, &recorded.join(file)));
        }
    }
    if let Some(guest) = guest {
        let out = guest.join().expect("the guest's thread");
        if !out.status.success() {
            mismatches.push(format!(
                "inside User-Mode Linux ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The types a guest copy of this test is to judge (comma-separated).
const TYPES_VAR: &str = "CNI_CONFORM_OUTCOMES_TYPES";

/// Whether this kernel makes every link kind of a type (inside the guest: always).
fn native(kinds: &[cni_conform::kernel::LinkKind]) -> bool {
    cni_conform::kernel::inside_uml()
        || cni_conform::kernel::missing_link_kinds(kinds).is_ok_and(|m| m.is_empty())
}

/// This very test, for `types` only, inside User-Mode Linux, on a thread of its own.
fn in_guest_copy(types: &[&str]) -> std::thread::JoinHandle<std::process::Output> {
    let test = std::thread::current()
        .name()
        .expect("a test thread is named after its test")
        .to_string();
    let exe = std::env::current_exe().expect("the test binary");
    let types = types.join(",");
    std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_cni-conform"))
            .args(["kernel-run", "--kernel", "uml", "--"])
            .arg(exe)
            .args([test.as_str(), "--exact", "--nocapture"])
            .env(TYPES_VAR, types)
            .output()
            .expect("cni-conform kernel-run starts")
    })
}

/// `(scenario, version, status)` of every case, judged by `profile` (the same judging as
/// `SuiteReport::judged`, without consuming the report).
fn outcomes_under(report: &SuiteReport, profile: Profile) -> Vec<(String, String, String)> {
    let judgement = Judgement {
        profile,
        required_features: vec![],
    };
    report
        .cases
        .iter()
        .map(|case| {
            let status = if case.ran() {
                verdict::status(&case.failures, case.declined.as_ref(), &judgement)
            } else {
                case.status.clone()
            };
            let word = match &status {
                CaseStatus::Pass if case.warnings().next().is_some() => "warn",
                CaseStatus::Pass => "pass",
                CaseStatus::Fail => "fail",
                CaseStatus::Differs => "differs",
                CaseStatus::Unsupported { .. } => "unsupported",
                CaseStatus::Skip { .. } => "skip",
            };
            (
                case.scenario.clone(),
                case.version.to_string(),
                word.to_string(),
            )
        })
        .collect()
}

/// `None` when the outcomes equal the stored ones (or were just recorded), else the diff.
fn compare(
    header: &str,
    outcomes: &[(String, String, String)],
    stored_path: &Path,
) -> Option<String> {
    let mut actual = header.to_string();
    for (scenario, version, status) in outcomes {
        actual.push_str(&format!("{scenario} {version} {status}\n"));
    }
    if std::env::var_os("UPDATE_UPSTREAM_OUTCOMES").is_some() {
        std::fs::write(stored_path, &actual).expect("write the outcomes");
        return None;
    }
    let stored = std::fs::read_to_string(stored_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with UPDATE_UPSTREAM_OUTCOMES=1",
            stored_path.display()
        )
    });
    (stored != actual).then(|| {
        let diff = similar::TextDiff::from_lines(&stored, &actual)
            .unified_diff()
            .header("recorded", "now")
            .to_string();
        format!(
            "the outcomes in {} changed (a scenario lost or gained power, or another upstream \
             build is installed):\n{diff}",
            stored_path.display()
        )
    })
}
