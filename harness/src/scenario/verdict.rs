//! From a case's failures to its verdict. Every clause has a source: the CNI SPEC, the suite's
//! own invariants any plugin must keep, or this project's reference contract where the spec
//! leaves room. A profile says which sources decide pass and fail: `spec` (the default) holds a
//! plugin to the spec and the suite and lists reference failures as differences; `reference`
//! holds it to everything. A plugin that declines an optional capability cleanly (a well-formed
//! CNI error at ADD, nothing left behind) is `unsupported` there under `spec`.

use serde::Serialize;
use serde_json::Value;

use super::builtin_clauses::{NO_LEFTOVERS, PROTOCOL, UNDO_ON_FAILURE};
use super::expect::Failure;
use super::model::{Expect, Feature, Level, Scenario};
use super::source::Source;
use crate::runtime::{CniCommand, Execution, Outcome};

/// What a case came to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CaseStatus {
    Pass,
    /// At least one MUST clause the profile decides on failed.
    Fail,
    /// Only reference clauses failed, under the spec profile: the plugin differs from the
    /// reference plugin there, which is information, not failure.
    Differs,
    /// The plugin declined one of the scenario's optional capabilities cleanly (spec profile,
    /// capability not required); or, with no features, the kernel cannot make a link kind the
    /// type needs (`reason`: `kernel: no dummy (...)`), so nothing of the case was judged.
    Unsupported {
        features: Vec<Feature>,
        /// The plugin's error.
        reason: String,
    },
    Skip {
        reason: String,
    },
}

impl std::fmt::Display for CaseStatus {
    /// As the progress lines and reports word it: `pass`, `FAIL`, `differs`,
    /// `unsupported (chaining): <the plugin's error>`, `skip: <why>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseStatus::Pass => f.write_str("pass"),
            CaseStatus::Fail => f.write_str("FAIL"),
            CaseStatus::Differs => f.write_str("differs"),
            CaseStatus::Unsupported { features, reason } if features.is_empty() => {
                write!(f, "unsupported ({reason})")
            }
            CaseStatus::Unsupported { features, reason } => {
                let names: Vec<&str> = features.iter().map(|x| x.name()).collect();
                write!(f, "unsupported ({}): {reason}", names.join(", "))
            }
            CaseStatus::Skip { reason } => write!(f, "skip: {reason}"),
        }
    }
}

/// Which sources decide whether a case fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The CNI SPEC and the suite's invariants; reference failures are differences.
    #[default]
    Spec,
    /// Everything, the reference contract included.
    Reference,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Spec => "spec",
            Profile::Reference => "reference",
        }
    }

    /// Whether a MUST failure of `source` fails the case under this profile.
    pub fn decides(self, source: Source) -> bool {
        self == Profile::Reference || source != Source::Reference
    }
}

/// How a run is judged: the profile, and the capabilities a plugin must not decline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Judgement {
    pub profile: Profile,
    /// `--require-feature`: declining one of these fails under `spec` too.
    pub required_features: Vec<Feature>,
}

/// A plugin declined an optional capability: it refused the configuration with a
/// well-formed CNI error where success was expected, and left nothing behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declined {
    /// The scenario's optional capabilities that the refused call asked for (see
    /// [`asked_capabilities`]); all of the scenario's when the call shows none of them.
    pub features: Vec<Feature>,
    /// The plugin's error: `code N: msg`.
    pub message: String,
}

/// Whether the case shows the plugin declining one of the scenario's capabilities: its first
/// MUST failure is an ADD, GC or STATUS of the plugin under test that was expected to succeed
/// and answered with a CNI error object, and no failure anywhere says it left something behind
/// (`suite.no-leftovers`, or `contract.add.undo-on-failure` even when the runtime's DEL then
/// removed it) or broke the output protocol (declining by leaving state is no clean refusal). Later steps
/// that could not run (tampering with a link the refusal never made: `suite.harness`) are
/// consequences of the refusal, not reasons against it.
pub fn declined<'a>(
    scenario: &Scenario,
    failures: &[Failure],
    executions: &[Execution],
    expect_of_step: &dyn Fn(&str) -> Option<&'a Expect>,
    plugin_type: &str,
) -> Option<Declined> {
    let features: Vec<Feature> = scenario
        .features
        .iter()
        .copied()
        .filter(|f| f.is_capability())
        .collect();
    if features.is_empty()
        || failures
            .iter()
            .any(|f| [NO_LEFTOVERS, UNDO_ON_FAILURE, PROTOCOL].contains(&f.clause.as_str()))
    {
        return None;
    }
    let first = failures
        .iter()
        .find(|f| f.level == Level::Must && f.is_plugin_under_test())?;
    let expected_success = expect_of_step(&first.step).is_some_and(|e| !e.wants_failure());
    let execution = executions.get(first.execution?)?;
    let refusing_command = matches!(
        execution.command,
        CniCommand::Add | CniCommand::Gc | CniCommand::Status
    );
    match &execution.outcome {
        Outcome::Error(e)
            if expected_success && refusing_command && execution.plugin == plugin_type =>
        {
            let asked = asked_capabilities(execution.command, execution.stdin.as_bytes());
            let named: Vec<Feature> = features
                .iter()
                .copied()
                .filter(|f| asked.contains(f))
                .collect();
            Some(Declined {
                features: if named.is_empty() { features } else { named },
                message: format!("code {}: {}", e.code, e.msg),
            })
        }
        _ => None,
    }
}

/// The optional capabilities one call asks of a VLAN plugin, read from its command and the
/// configuration on its stdin, so a refusal names what was refused rather than everything
/// the scenario exercises elsewhere: GC and STATUS are capabilities of their own;
/// `linkInContainer: true` asks for link-in-container, and with no `master` for chaining too;
/// no `ipam` (or `{}`) for an L2-only VLAN; any `vlanProtocol` for the protocol choice.
pub fn asked_capabilities(command: CniCommand, stdin: &[u8]) -> Vec<Feature> {
    match command {
        CniCommand::Gc => return vec![Feature::Gc],
        CniCommand::Status => return vec![Feature::Status],
        _ => {}
    }
    let Ok(Value::Object(config)) = serde_json::from_slice::<Value>(stdin) else {
        return vec![];
    };
    let mut asked = Vec::new();
    if config.get("linkInContainer") == Some(&Value::Bool(true)) {
        asked.push(Feature::LinkInContainer);
        if config.get("master").is_none_or(|m| m == "") {
            asked.push(Feature::Chaining);
        }
    }
    let l2_only = match config.get("ipam") {
        None | Some(Value::Null) => true,
        Some(Value::Object(settings)) => settings.is_empty(),
        Some(_) => false,
    };
    if l2_only {
        asked.push(Feature::IpamOptional);
    }
    if config.contains_key("vlanProtocol") {
        asked.push(Feature::VlanProtocol);
    }
    asked
}

/// The case's status under `judgement` (never a skip: skipped cases ran nothing to judge).
pub fn status(
    failures: &[Failure],
    declined: Option<&Declined>,
    judgement: &Judgement,
) -> CaseStatus {
    if let Some(d) = declined {
        let required = d
            .features
            .iter()
            .any(|f| judgement.required_features.contains(f));
        // Declining is a failure wherever the capability is asked for, even when the clause
        // the refusal broke is a reference one.
        return if judgement.profile == Profile::Spec && !required {
            CaseStatus::Unsupported {
                features: d.features.clone(),
                reason: d.message.clone(),
            }
        } else {
            CaseStatus::Fail
        };
    }
    let musts = || must_failures_of_the_plugin_under_test(failures);
    if musts().any(|f| judgement.profile.decides(f.source)) {
        CaseStatus::Fail
    } else if musts().next().is_some() {
        CaseStatus::Differs
    } else {
        CaseStatus::Pass
    }
}

/// The MUST failures that may decide a case: the plugin under test's, not those of another
/// member of its chain.
fn must_failures_of_the_plugin_under_test(failures: &[Failure]) -> impl Iterator<Item = &Failure> {
    failures
        .iter()
        .filter(|f| f.level == Level::Must && f.is_plugin_under_test())
}

/// The source a failed case is counted under: that of its first deciding MUST failure, or,
/// for a required capability declined, of the clause the refusal broke.
pub fn failing_source(failures: &[Failure], profile: Profile) -> Option<Source> {
    let musts = || must_failures_of_the_plugin_under_test(failures);
    musts()
        .find(|f| profile.decides(f.source))
        .or_else(|| musts().next())
        .map(|f| f.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn must(clause: &str) -> Failure {
        Failure::new(clause, Level::Must, "1 (add)", "broken")
    }

    fn judged(profile: Profile, required: &[Feature]) -> Judgement {
        Judgement {
            profile,
            required_features: required.to_vec(),
        }
    }

    #[test]
    fn reference_failures_differ_under_spec_and_fail_under_reference() {
        let failures = [must("contract.mode.host-master")];
        let spec = judged(Profile::Spec, &[]);
        let reference = judged(Profile::Reference, &[]);
        assert_eq!(status(&failures, None, &spec), CaseStatus::Differs);
        assert_eq!(status(&failures, None, &reference), CaseStatus::Fail);
        for clause in ["spec.del.cleanup", "suite.no-leftovers"] {
            let failures = [must("contract.mode.host-master"), must(clause)];
            assert_eq!(status(&failures, None, &spec), CaseStatus::Fail, "{clause}");
            assert_eq!(
                failing_source(&failures, Profile::Spec),
                Source::of_clause(clause)
            );
        }
        let warning = [Failure::new("spec.x", Level::Should, "1 (add)", "vague")];
        assert_eq!(status(&warning, None, &reference), CaseStatus::Pass);
    }

    #[test]
    fn a_refusal_names_the_capabilities_its_call_asked_for() {
        use Feature::*;
        let add = |config: serde_json::Value| {
            asked_capabilities(CniCommand::Add, config.to_string().as_bytes())
        };
        let vlan = |extra: serde_json::Value| {
            let mut config =
                serde_json::json!({"type": "vlan", "vlanId": 3, "ipam": {"type": "static"}});
            config
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            config
        };
        assert_eq!(add(vlan(serde_json::json!({"master": "eth0"}))), []);
        assert_eq!(
            add(vlan(
                serde_json::json!({"master": "eth1", "linkInContainer": true})
            )),
            [LinkInContainer]
        );
        for master in [serde_json::json!({}), serde_json::json!({"master": ""})] {
            let mut config = vlan(master);
            config["linkInContainer"] = true.into();
            assert_eq!(add(config), [LinkInContainer, Chaining]);
        }
        for ipam in [serde_json::json!(null), serde_json::json!({})] {
            let mut config = vlan(serde_json::json!({"master": "eth0", "vlanProtocol": "802.1ad"}));
            config["ipam"] = ipam;
            assert_eq!(add(config), [IpamOptional, VlanProtocol]);
        }
        assert_eq!(asked_capabilities(CniCommand::Gc, b"{}"), [Gc]);
        assert_eq!(asked_capabilities(CniCommand::Status, b"{}"), [Status]);
        assert_eq!(asked_capabilities(CniCommand::Add, b"not json"), []);
    }

    #[test]
    fn a_declined_capability_is_unsupported_only_under_spec_and_unless_required() {
        let failures = [must("contract.mode.chained")];
        let declined = Declined {
            features: vec![Feature::Chaining, Feature::LinkInContainer],
            message: "code 7: no".into(),
        };
        assert_eq!(
            status(&failures, Some(&declined), &judged(Profile::Spec, &[])),
            CaseStatus::Unsupported {
                features: declined.features.clone(),
                reason: "code 7: no".into()
            }
        );
        for judgement in [
            judged(Profile::Reference, &[]),
            judged(Profile::Spec, &[Feature::Chaining]),
        ] {
            assert_eq!(
                status(&failures, Some(&declined), &judgement),
                CaseStatus::Fail,
                "{judgement:?}"
            );
        }
    }
}
