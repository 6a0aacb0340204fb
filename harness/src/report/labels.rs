//! How reports name things: a clause with its source, section and level, how a failure counts
//! under the profile, the execution it points at. Shared by the terminal, Markdown, JUnit and
//! the reproducers, so each says it the same way.

use crate::runtime::Execution;
use crate::scenario::{CaseReport, Failure, Level, SuiteReport};

/// `MUST` or `SHOULD`, as scenario files write it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Must => "MUST",
        Level::Should => "SHOULD",
    }
}

/// A failure's clause with its source (and CNI SPEC section) and level, e.g.
/// `spec.del.cleanup (spec, Section 2: Execution Protocol (DEL), MUST)`.
pub fn clause_label(f: &Failure) -> String {
    match &f.section {
        Some(section) => format!(
            "{} ({}, {section}, {})",
            f.clause,
            f.source.name(),
            level_name(f.level)
        ),
        None => format!(
            "{} ({}, {})",
            f.clause,
            f.source.name(),
            level_name(f.level)
        ),
    }
}

/// How a failure counts under the report's profile: `FAIL`, `DIFFERS` (a reference MUST
/// clause under the spec profile), `WARN` (SHOULD), or `MEMBER` (another member of the chain
/// broke it: that member's, never the plugin under test's).
pub fn failure_tag(report: &SuiteReport, f: &Failure) -> &'static str {
    if !f.is_plugin_under_test() {
        return "MEMBER";
    }
    match f.level {
        Level::Should => "WARN",
        Level::Must if report.judgement.profile.decides(f.source) => "FAIL",
        Level::Must => "DIFFERS",
    }
}

/// `CNI_COMMAND` as the execution got it, for reports.
pub fn command_label(exec: &Execution) -> &str {
    exec.command_sent
        .as_deref()
        .unwrap_or("without CNI_COMMAND")
}

/// The plugin execution a failure points at, if it has one.
pub fn execution_of<'a>(case: &'a CaseReport, failure: &Failure) -> Option<&'a Execution> {
    failure.execution.and_then(|i| case.executions.get(i))
}
