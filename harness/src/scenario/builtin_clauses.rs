//! The clauses the suite applies to every scenario, whatever the scenario declares: leaks,
//! the output protocol, error codes and messages, result interfaces. One table gives each its
//! level, SPEC section and text, for the judge, `cni-conform list` and the reports alike.

use super::model::Level;

/// The clause every leak breaks, whatever the scenario is about: what is left (link, address,
/// IPAM reservation) after a DEL, the scenario's or, after a failed ADD that left something, the
/// one the harness sends as the runtime at the end of the case (the CNI SPEC, Section 3: "A
/// delete must still be executed even if the add fails"). A runtime retries and garbage-collects
/// by calling DEL, so what survives DEL leaks.
pub const NO_LEFTOVERS: &str = "suite.no-leftovers";
/// The clause a failed ADD breaks when it leaves a link or address behind: the reference
/// contract's "an ADD that fails undoes what it made before it returns". The SPEC does not
/// require it (the runtime must send DEL after a failed ADD, Section 3), so whether it is a leak
/// is [`NO_LEFTOVERS`]'s, after that DEL.
pub const UNDO_ON_FAILURE: &str = "contract.add.undo-on-failure";
/// The clause a successful ADD breaks when its result places an interface in a sandbox
/// namespace that has no link of exactly that name (or another MAC), whatever the scenario is
/// about: the spec's "if the plugin is unable to use this interface name it must return an
/// error", seen from the result.
pub const RESULT_INTERFACES: &str = "suite.result-interfaces-exist";
/// The clause every protocol violation breaks (stdout neither a result nor an error object,
/// signal, timeout).
pub const PROTOCOL: &str = "spec.output.protocol";
/// The clause for error message wording: advisory.
pub const MESSAGE: &str = "contract.errors.message-names-the-problem";
/// A problem of the harness or the scenario itself, not of the plugin.
pub const HARNESS: &str = "suite.harness";
/// The `mtu` of a result's interface (CNI 1.1.0): optional in the spec, always reported by the
/// reference plugin. Its own clause, so a mode's scenario does not fail for a missing `mtu`.
pub const INTERFACE_MTU: &str = "contract.result.interface-mtu";
/// The error code a failing step expects, when the step's clause is a `spec.` one: the CNI SPEC
/// says what its well-known codes mean ("Error codes 0-99 are reserved for well-known errors.
/// Values of 100+ can be freely used for plugin specific errors", Section 5: Error) but never
/// requires a plugin to answer a particular one, so which code a failure gets is the reference
/// contract's (docs/error-codes.md). The spec clause still fails if the step does not fail.
pub const ERROR_CODE: &str = "contract.errors.code";
/// Code 4 is "Invalid necessary environment variables, like CNI_COMMAND, CNI_CONTAINERID, etc.
/// The error message must contain the names of invalid variables" (Section 5: Error): a plugin
/// that answers code 4 must name the variable. Only then is naming it the SPEC's; any other
/// wording an expectation asks for is [`MESSAGE`]'s.
pub const INVALID_VARIABLES_NAMED: &str = "spec.errors.invalid-variables-named";
/// The code whose message the SPEC words: invalid environment variables.
pub const INVALID_ENVIRONMENT_CODE: u32 = 4;
/// The CNI SPEC's parameters (Section 2: Parameters), the variables code 4 is about.
pub const CNI_VARIABLES: [&str; 6] = [
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
];
/// A VERSION answer that is not a version reply (not JSON, no `supportedVersions`, an error,
/// a crash): the run has no versions to test, and this is its one failed case.
pub const VERSION_REPLY: &str = "spec.version.reply";

/// A successful ADD that got a prevResult and does not output it (1.0.0 on), judged on every
/// ADD execution of every scenario.
pub const PREV_RESULT_PASSTHROUGH: &str = "spec.add.prev-result-passthrough";
/// A chain CHECK right after an unchanged successful ADD that fails.
pub const CHECK_AFTER_ADD: &str = "spec.check.after-add";
/// The same, when the member that failed was followed by plugins that added interfaces,
/// addresses or routes: what upstream's `ip.ValidateExpectedInterfaceIPs` trips on.
pub const CHECK_LATER_PLUGINS: &str = "spec.check.later-plugins";
/// A DEL that fails when a DEL already succeeded or the pod's interface or netns is gone.
pub const DEL_MISSING_RESOURCES: &str = "spec.del.missing-resources";
/// A configuration at a version the plugin's VERSION reply does not list, accepted anyway.
pub const INCOMPATIBLE_VERSION: &str = "spec.errors.incompatible-version";
/// The reference contract supports every CNI version, 0.1.0 to 1.1.0.
pub const ALL_VERSIONS: &str = "contract.version.all-versions";

/// A clause of the suite's own, not declared by any scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinClause {
    pub id: &'static str,
    pub level: Level,
    /// The CNI SPEC section, for `spec.` clauses.
    pub section: Option<&'static str>,
    pub text: &'static str,
}

/// Every built-in clause, in the order `cni-conform list` shows them.
pub const BUILTIN_CLAUSES: [BuiltinClause; 16] = [
    BuiltinClause {
        id: PROTOCOL,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (Result; Error)"),
        text: "stdout holds one result (exit 0) or one error object (non-zero exit) and nothing \
               else; no signal, no timeout",
    },
    BuiltinClause {
        id: VERSION_REPLY,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (VERSION)"),
        text: "VERSION prints {\"cniVersion\": <the input's>, \"supportedVersions\": [...]} and \
               exits 0",
    },
    BuiltinClause {
        id: INVALID_VARIABLES_NAMED,
        level: Level::Must,
        section: Some("Section 5: Result Types (Error, well-known error codes)"),
        text: "a code 4 error's message contains the names of the invalid variables",
    },
    BuiltinClause {
        id: PREV_RESULT_PASSTHROUGH,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (ADD)"),
        text: "\"Plugins provided a prevResult key as part of their request configuration must \
               output it as their result, with any possible modifications made by that plugin \
               included\": every interface, address and route of prevResult is in the result \
               (1.0.0 on; 0.3.x and 0.4.0 allowed suppressing it)",
    },
    BuiltinClause {
        id: CHECK_AFTER_ADD,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (CHECK)"),
        text: "\"The plugin must handle CHECK being called immediately after an ADD\": CHECK \
               right after a successful ADD, nothing changed since, succeeds",
    },
    BuiltinClause {
        id: CHECK_LATER_PLUGINS,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (CHECK)"),
        text: "a plugin's CHECK \"must allow for a later chained plugin to have modified \
               networking resources, e.g. routes\": it succeeds right after ADD although \
               plugins after it in the list added interfaces, addresses or routes",
    },
    BuiltinClause {
        id: DEL_MISSING_RESOURCES,
        level: Level::Must,
        section: Some("Section 2: Execution Protocol (DEL)"),
        text: "\"Plugins MUST accept multiple DEL calls for the same (CNI_CONTAINERID, \
               CNI_IFNAME) pair, and return success if the interface in question, or any \
               modifications added, are missing\": DEL after a DEL, or with the pod's link or \
               netns gone, succeeds",
    },
    BuiltinClause {
        id: INCOMPATIBLE_VERSION,
        level: Level::Must,
        section: Some("Section 5: Result Types (Success; Error)"),
        text: "a result's cniVersion is \"The same version supplied on input\", so a \
               configuration whose cniVersion the plugin's VERSION reply does not list must fail \
               (code 1, \"Incompatible CNI version\", is the reference's code)",
    },
    BuiltinClause {
        id: ALL_VERSIONS,
        level: Level::Must,
        section: None,
        text: "VERSION lists every CNI version from 0.1.0 to 1.1.0, and each works",
    },
    BuiltinClause {
        id: NO_LEFTOVERS,
        level: Level::Must,
        section: None,
        text: "nothing of an attachment (link, address, IPAM reservation) survives its DEL, \
               including the DEL a runtime sends after a failed ADD",
    },
    BuiltinClause {
        id: RESULT_INTERFACES,
        level: Level::Must,
        section: None,
        text: "every interface a successful ADD's result places in a sandbox is there under \
               exactly that name and MAC",
    },
    BuiltinClause {
        id: HARNESS,
        level: Level::Must,
        section: None,
        text: "the case could run (sandbox, scenario): a broken run never passes silently",
    },
    BuiltinClause {
        id: UNDO_ON_FAILURE,
        level: Level::Must,
        section: None,
        text: "an ADD that fails undoes what it made before it returns",
    },
    BuiltinClause {
        id: ERROR_CODE,
        level: Level::Must,
        section: None,
        text: "a failure a spec clause asks for carries the reference contract's error code",
    },
    BuiltinClause {
        id: MESSAGE,
        level: Level::Should,
        section: None,
        text: "an error message names what is wrong: the variable, field or value",
    },
    BuiltinClause {
        id: INTERFACE_MTU,
        level: Level::Must,
        section: None,
        text: "a 1.1.0 result gives each interface's mtu",
    },
];

/// The built-in clause `id`, if it is one.
pub fn builtin(id: &str) -> Option<&'static BuiltinClause> {
    BUILTIN_CLAUSES.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Source;

    #[test]
    fn every_builtin_clause_has_a_source_and_spec_ones_a_section() {
        let mut ids: Vec<&str> = BUILTIN_CLAUSES.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), BUILTIN_CLAUSES.len(), "an id twice");
        for clause in BUILTIN_CLAUSES {
            let source = Source::of_clause(clause.id);
            assert!(source.is_some(), "{}", clause.id);
            assert_eq!(
                clause.section.is_some(),
                source == Some(Source::Spec),
                "{}",
                clause.id
            );
        }
    }
}
