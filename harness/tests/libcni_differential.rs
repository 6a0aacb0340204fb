//! The differential proof that our runtime calls plugins the way libcni does: every scenario at
//! every version runs under our runtime and under libcni itself (through the driver
//! `ci/libcni-build` makes), and for each case the plugin executions (binary, command,
//! environment, stdin, in order) must be identical after normalising what differs between any
//! two runs (the sandbox's folder, MAC addresses, generated interface names). A case that differs
//! must be listed, with one line of explanation, in `libcni-known-differences.txt` beside this
//! file; a listed case that no longer differs fails too, so the list stays true.
//!
//! The same runs also hold libcni to the suite: under libcni the reference plugin passes every
//! expressible case, judged by both profiles, and every other case is reported as not
//! expressible, with its reason.
//!
//! Needs the driver: without one the test fails saying how to build it (ci/setup does).

use std::collections::{BTreeMap, BTreeSet};

use cni_conform::runtime::{Execution, RuntimeChoice, reference_plugin};
use cni_conform::scenario::{
    CaseReport, CaseStatus, Judgement, Library, Profile, StoredStates, SuiteOptions, SuiteReport,
    run_suite, verdict,
};
use serde_json::Value;

const KNOWN_DIFFERENCES: &str = include_str!("libcni-known-differences.txt");

#[test]
fn our_runtime_runs_plugins_exactly_as_libcni_does() {
    cni_conform::kernel::require_vlan();
    let libcni = RuntimeChoice::from_name("libcni").unwrap_or_else(|e| panic!("{e}"));
    let ours = suite(RuntimeChoice::Ours);
    let theirs = suite(libcni);
    assert_eq!(ours.cases.len(), theirs.cases.len());

    let known = known_differences();
    let mut unexplained = Vec::new();
    let mut differing = BTreeSet::new();
    let mut compared = 0;
    let mut ran = BTreeSet::new();
    for (our_case, their_case) in ours.cases.iter().zip(&theirs.cases) {
        assert_eq!(
            (&our_case.scenario, our_case.version),
            (&their_case.scenario, their_case.version)
        );
        let key = (our_case.scenario.clone(), our_case.version.to_string());
        if let CaseStatus::Skip { reason } = &their_case.status {
            assert!(
                reason.starts_with("not expressible through libcni") || !our_case.ran(),
                "{key:?} skipped under libcni only, without saying libcni cannot express it: {reason}"
            );
            continue;
        }
        compared += 1;
        ran.insert(key.clone());
        let ours_n = normalised(our_case);
        let theirs_n = normalised(their_case);
        if ours_n != theirs_n {
            differing.insert(key.clone());
            if !known.contains_key(&key) {
                unexplained.push(first_difference(&key, &ours_n, &theirs_n));
            }
        }
    }
    // Under CONFORM_FILTER only the cases that ran can be stale.
    let filtered = std::env::var_os("CONFORM_FILTER").is_some();
    let stale: Vec<_> = known
        .keys()
        .filter(|k| !differing.contains(*k))
        .filter(|k| !filtered || ran.contains(*k))
        .collect();
    assert!(compared > 0, "no case ran under libcni");
    assert!(
        unexplained.is_empty(),
        "{} of {compared} cases call plugins differently under libcni and under our runtime, and \
         libcni-known-differences.txt does not explain them:\n\n{}",
        unexplained.len(),
        unexplained.join("\n\n")
    );
    assert!(
        stale.is_empty(),
        "libcni-known-differences.txt lists cases that no longer differ (remove them): {stale:?}"
    );

    // libcni as the runtime: every expressible case passes, by either profile.
    for profile in [Profile::Reference, Profile::Spec] {
        let judgement = Judgement {
            profile,
            required_features: vec![],
        };
        let failed: Vec<String> = theirs
            .cases
            .iter()
            .filter(|c| c.ran())
            .filter(|c| {
                verdict::status(&c.failures, c.declined.as_ref(), &judgement) == CaseStatus::Fail
            })
            .map(|c| format!("{} @ {}: {:?}", c.scenario, c.version, c.failures))
            .collect();
        assert!(
            failed.is_empty(),
            "under libcni, profile {}: {failed:#?}",
            profile.name()
        );
    }
    eprintln!(
        "{compared} cases compared, {} known differences, {} cases not expressible through libcni",
        differing.len(),
        theirs.cases.len() - compared
    );
}

fn suite(runtime: RuntimeChoice) -> SuiteReport {
    let library = Library::bundled().unwrap();
    let plugin = reference_plugin().unwrap_or_else(|e| panic!("{e}"));
    let options = SuiteOptions {
        filter: std::env::var("CONFORM_FILTER").ok(),
        runtime,
        ..SuiteOptions::reference(plugin)
    };
    let states = StoredStates::new(&library.states_dir());
    run_suite(&library, &options, &states, &|_| {}).expect("suite runs")
}

/// `scenario version explanation` lines; `#` starts a comment.
fn known_differences() -> BTreeMap<(String, String), String> {
    KNOWN_DIFFERENCES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(scenario), Some(version), Some(why)) =
                (parts.next(), parts.next(), parts.next())
            else {
                panic!("libcni-known-differences.txt: {line:?} is not `scenario version why`");
            };
            assert!(
                why.trim().len() > 10,
                "libcni-known-differences.txt: {line:?} needs its explanation"
            );
            ((scenario.to_string(), version.to_string()), why.to_string())
        })
        .collect()
}

/// One execution as compared: what a runtime decides (binary, command, environment, stdin),
/// none of what the plugin or the clock decide.
#[derive(Debug, PartialEq)]
struct Call {
    binary: String,
    command: String,
    env: BTreeMap<String, String>,
    stdin: Value,
}

fn normalised(case: &CaseReport) -> Vec<Call> {
    let sandbox = case
        .sandbox_dir
        .as_deref()
        .map(|d| d.to_string_lossy().into_owned());
    let unsandbox = |s: &str| match &sandbox {
        Some(dir) => s.replace(dir.as_str(), "${SANDBOX}"),
        None => s.to_string(),
    };
    case.executions
        .iter()
        .map(|e: &Execution| Call {
            binary: unsandbox(&e.binary.to_string_lossy()),
            command: e.command.to_string(),
            env: e
                .env
                .iter()
                .map(|(k, v)| (k.clone(), unsandbox(v)))
                .collect(),
            stdin: match serde_json::from_slice::<Value>(e.stdin.as_bytes()) {
                Ok(v) => stable(v, &unsandbox),
                Err(_) => Value::String(unsandbox(&e.stdin.to_string_lossy())),
            },
        })
        .collect()
}

/// Values that differ between any two runs of the same case, whoever runs it: MAC addresses
/// (the kernel draws them) and the host ends of veths that IPAM-less plugins name at random.
fn stable(value: Value, unsandbox: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = if k == "mac" && v.is_string() {
                        Value::String("<mac>".into())
                    } else {
                        stable(v, unsandbox)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| stable(v, unsandbox)).collect()),
        Value::String(s) if is_random_veth(&s) => Value::String("<veth>".into()),
        Value::String(s) => Value::String(unsandbox(&s)),
        other => other,
    }
}

fn is_random_veth(name: &str) -> bool {
    name.strip_prefix("veth")
        .is_some_and(|rest| rest.len() == 8 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

fn first_difference(key: &(String, String), ours: &[Call], theirs: &[Call]) -> String {
    let head = format!("{} @ {}:", key.0, key.1);
    if ours.len() != theirs.len() {
        return format!(
            "{head} {} executions under our runtime, {} under libcni:\n  ours:   {:?}\n  libcni: {:?}",
            ours.len(),
            theirs.len(),
            ours.iter()
                .map(|c| (&c.binary, &c.command))
                .collect::<Vec<_>>(),
            theirs
                .iter()
                .map(|c| (&c.binary, &c.command))
                .collect::<Vec<_>>()
        );
    }
    let (i, (a, b)) = ours
        .iter()
        .zip(theirs)
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .expect("some execution differs");
    let mut lines = vec![format!(
        "{head} execution {i} ({} {}) differs",
        a.command, a.binary
    )];
    if a.binary != b.binary || a.command != b.command {
        lines.push(format!(
            "  ours runs {} {}, libcni {} {}",
            a.command, a.binary, b.command, b.binary
        ));
    }
    for k in a.env.keys().chain(b.env.keys()).collect::<BTreeSet<_>>() {
        if a.env.get(k) != b.env.get(k) {
            lines.push(format!(
                "  env {k}: ours {:?}, libcni {:?}",
                a.env.get(k),
                b.env.get(k)
            ));
        }
    }
    if a.stdin != b.stdin {
        lines.push(format!("  stdin ours:   {}", a.stdin));
        lines.push(format!("  stdin libcni: {}", b.stdin));
    }
    lines.join("\n")
}
