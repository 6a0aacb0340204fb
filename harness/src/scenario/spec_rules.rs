//! The CNI SPEC's rules the suite judges itself, on every step where they apply, in every
//! scenario, whatever the scenario's own clauses are about: prevResult passthrough on every ADD
//! that got one, CHECK right after an unchanged ADD (with or without later plugins having
//! changed things), DEL when resources are gone, and a code 4 naming its variable. A scenario's
//! own clause is left for what only it knows, so a MUST of the SPEC never hides under a contract
//! clause, and one defect is reported once, under the rule it breaks.

use cni_types::{CniResult, CniVersion};
use serde_json::Value;

use super::builtin_clauses::{
    CHECK_AFTER_ADD, CHECK_LATER_PLUGINS, DEL_MISSING_RESOURCES, INVALID_ENVIRONMENT_CODE,
    INVALID_VARIABLES_NAMED, PREV_RESULT_PASSTHROUGH,
};
use super::expect::names_a_cni_variable;
use crate::runtime::{CniCommand, Execution, Outcome, SuccessOutput};

/// What happened to the attachment since its last successful ADD, as far as the SPEC's rules
/// for CHECK and DEL care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SinceAdd {
    /// No successful ADD yet, or the last step's effect is unknown (a direct execution, a
    /// failed DEL).
    #[default]
    Unknown,
    /// Right after a successful ADD, nothing changed since (CHECK and STATUS change nothing).
    Unchanged,
    /// A DEL succeeded, or the pod's link or netns was deleted: resources are missing, and
    /// "Plugins MUST accept multiple DEL calls ... and return success if the interface in
    /// question, or any modifications added, are missing".
    ResourcesGone,
    /// Something was changed behind the plugin's back (an address removed, an MTU set): CHECK
    /// may rightly fail.
    Changed,
}

/// A rule of the SPEC broken by one execution, with what shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub clause: &'static str,
    pub message: String,
}

/// Whether members after `position` added interfaces, addresses or routes to what the member
/// at `position` returned from ADD: only then can its CHECK have failed for their changes,
/// which the SPEC says it "must allow for".
pub fn later_members_added(member_results: &[Value], position: usize, version: CniVersion) -> bool {
    let parse = |v: &Value| CniResult::parse(v, version).ok().map(|(_, r)| r);
    let (Some(own), Some(last)) = (
        member_results.get(position).and_then(parse),
        member_results.last().and_then(parse),
    ) else {
        return false;
    };
    position + 1 < member_results.len()
        && (last.interfaces.len() > own.interfaces.len()
            || last.ips.iter().any(|ip| !own.ips.contains(ip))
            || last.routes.iter().any(|r| !own.routes.contains(r)))
}

/// The SPEC's CHECK rule a member's failed CHECK right after an unchanged ADD breaks, given
/// whether the same CHECK with only its own ADD result as prevResult succeeded: then what it
/// refused is what later plugins added ("must allow for a later chained plugin to have modified
/// networking resources"); otherwise it fails CHECK right after ADD ("must handle CHECK being
/// called immediately after an ADD").
pub fn check_failure_clause(own_result_passes: bool) -> &'static str {
    if own_result_passes {
        CHECK_LATER_PLUGINS
    } else {
        CHECK_AFTER_ADD
    }
}

/// What a failure of `clause` adds to its message: how the suite knows.
pub fn how_known(clause: &str) -> &'static str {
    if clause == CHECK_LATER_PLUGINS {
        " (asked again with only its own ADD result as prevResult, its CHECK succeeds: what it \
         refuses is what later plugins added)"
    } else {
        ""
    }
}

/// The clause a chain DEL that failed breaks when the SPEC says it must succeed.
pub fn del_failure_clause(since_add: SinceAdd) -> Option<&'static str> {
    (since_add == SinceAdd::ResourcesGone).then_some(DEL_MISSING_RESOURCES)
}

/// The SPEC's rules one execution breaks on its own: a successful ADD that got a prevResult
/// must output it with its own changes added (1.0.0 on; 0.3.x and 0.4.0 allowed suppressing it
/// explicitly), and a code 4 error must name the invalid variables.
pub fn broken_by(execution: &Execution, version: CniVersion) -> Vec<Broken> {
    let mut broken = Vec::new();
    match &execution.outcome {
        Outcome::Success(SuccessOutput::Result(result))
            if execution.command == CniCommand::Add && version >= CniVersion::V1_0_0 =>
        {
            if let Some(prev) = prev_result(execution.stdin.as_bytes(), version) {
                let missing = passthrough_problems(&prev, &result.result);
                if !missing.is_empty() {
                    broken.push(Broken {
                        clause: PREV_RESULT_PASSTHROUGH,
                        message: format!(
                            "the ADD result drops or changes what its prevResult held: {}",
                            missing.join("; ")
                        ),
                    });
                }
            }
        }
        Outcome::Error(e) if e.code == INVALID_ENVIRONMENT_CODE && !names_a_cni_variable(e) => {
            broken.push(Broken {
                clause: INVALID_VARIABLES_NAMED,
                message: format!(
                    "code 4 (invalid environment variables), but the message names no CNI \
                     variable: {:?}",
                    e.msg
                ),
            });
        }
        _ => {}
    }
    broken
}

/// The prevResult on a plugin's stdin, when it holds anything to pass through.
fn prev_result(stdin: &[u8], version: CniVersion) -> Option<CniResult> {
    let stdin: Value = serde_json::from_slice(stdin).ok()?;
    let (_, prev) = CniResult::parse(stdin.get("prevResult")?, version).ok()?;
    (!prev.interfaces.is_empty() || !prev.ips.is_empty() || !prev.routes.is_empty()).then_some(prev)
}

/// What of `prev` is not in `result` unchanged: every interface (by name, with its MAC and
/// sandbox), every address (pointing at the interface of the same name, when it pointed at
/// one), every route.
/// DNS is not compared: a plugin may rightly replace it (the reference's `dns` setting does).
pub fn passthrough_problems(prev: &CniResult, result: &CniResult) -> Vec<String> {
    let mut problems = Vec::new();
    for interface in &prev.interfaces {
        match result.interfaces.iter().find(|i| i.name == interface.name) {
            None => problems.push(format!("interface {} is missing", interface.name)),
            Some(kept) if kept.sandbox != interface.sandbox => problems.push(format!(
                "interface {} moved from sandbox {:?} to {:?}",
                interface.name, interface.sandbox, kept.sandbox
            )),
            Some(kept) if interface.mac.is_some() && kept.mac != interface.mac => {
                problems.push(format!(
                    "interface {} changed its mac from {:?} to {:?}",
                    interface.name, interface.mac, kept.mac
                ))
            }
            Some(_) => {}
        }
    }
    let name_of = |r: &CniResult, index: Option<usize>| {
        index
            .and_then(|i| r.interfaces.get(i))
            .map(|i| i.name.clone())
    };
    for ip in &prev.ips {
        match result.ips.iter().find(|kept| kept.address == ip.address) {
            None => problems.push(format!("address {} is missing", ip.address)),
            // An address that pointed at no interface (an IPAM-only result) may be bound to the
            // interface this plugin made: the SPEC's `interface` is where the address "should be
            // applied", which is what this plugin decides.
            Some(kept)
                if ip.interface.is_some()
                    && name_of(result, kept.interface) != name_of(prev, ip.interface) =>
            {
                problems.push(format!(
                    "address {} points at {:?} instead of {:?}",
                    ip.address,
                    name_of(result, kept.interface),
                    name_of(prev, ip.interface)
                ))
            }
            Some(_) => {}
        }
    }
    for route in &prev.routes {
        if !result
            .routes
            .iter()
            .any(|r| r.dst == route.dst && r.gw == route.gw)
        {
            let via = route.gw.map(|g| format!(" via {g}")).unwrap_or_default();
            problems.push(format!("route {}{via} is missing", route.dst));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(v: Value) -> CniResult {
        CniResult::parse(&v, CniVersion::V1_0_0).unwrap().1
    }

    fn seed_prev() -> Value {
        json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "veth-pod"}, {"name": "eth0", "sandbox": "/ns/pod", "mac": "02:00:00:00:00:01"}],
            "ips": [{"address": "10.0.0.2/24", "interface": 1}],
            "routes": [{"dst": "10.98.0.0/16", "gw": "10.0.0.1"}]})
    }

    #[test]
    fn a_result_that_keeps_prev_result_and_appends_passes() {
        let mut kept = seed_prev();
        kept["interfaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "eth0.3", "sandbox": "/ns/pod"}));
        kept["ips"]
            .as_array_mut()
            .unwrap()
            .push(json!({"address": "192.168.3.10/24", "interface": 2}));
        assert!(passthrough_problems(&result(seed_prev()), &result(kept)).is_empty());
    }

    #[test]
    fn a_result_that_drops_prev_result_names_everything_it_lost() {
        let dropped = json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0.3", "sandbox": "/ns/pod"}],
            "ips": [{"address": "192.168.3.10/24", "interface": 0}]});
        let problems = passthrough_problems(&result(seed_prev()), &result(dropped));
        assert_eq!(
            problems,
            [
                "interface veth-pod is missing",
                "interface eth0 is missing",
                "address 10.0.0.2/24 is missing",
                "route 10.98.0.0/16 via 10.0.0.1 is missing"
            ]
        );
    }

    #[test]
    fn an_address_moved_to_another_interface_is_a_change() {
        let mut moved = seed_prev();
        moved["ips"][0]["interface"] = 0.into();
        let problems = passthrough_problems(&result(seed_prev()), &result(moved));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("points at"), "{problems:?}");
    }

    #[test]
    fn an_address_without_an_interface_may_be_bound_to_the_plugins_interface() {
        let ipam_only = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.10.0.2/24"}]});
        let bound = json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "sandbox": "/ns/pod"}],
            "ips": [{"address": "10.10.0.2/24", "interface": 0}]});
        assert!(passthrough_problems(&result(ipam_only), &result(bound)).is_empty());
    }

    #[test]
    fn only_what_later_members_added_can_explain_a_failed_check() {
        let main = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
            "ips": [{"address": "10.1.0.2/24", "interface": 0}]});
        let mut chained = main.clone();
        chained["interfaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "eth0.3"}));
        chained["ips"]
            .as_array_mut()
            .unwrap()
            .push(json!({"address": "192.168.3.10/24", "interface": 1}));
        let v = CniVersion::V1_0_0;
        let results = [main.clone(), chained];
        assert!(later_members_added(&results, 0, v));
        assert!(!later_members_added(&results, 1, v), "the last member");
        assert!(
            !later_members_added(&[main.clone(), main], 0, v),
            "passed through"
        );
        assert_eq!(check_failure_clause(true), CHECK_LATER_PLUGINS);
        assert_eq!(check_failure_clause(false), CHECK_AFTER_ADD);
    }
}
