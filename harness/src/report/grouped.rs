//! Failures grouped by what a reader fixes: one group per (how it counts, clause, chain member
//! that broke it), with the scenarios and versions it failed in and one representative failure.
//! The same defect at seven CNI versions is one group, not seven reports.

use std::collections::BTreeMap;

use cni_types::CniVersion;

use super::labels::failure_tag;
use crate::scenario::{CaseReport, CaseStatus, Failure, SuiteReport};

/// How a group counts, in the order a reader needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A MUST clause the profile decides on, broken by the plugin under test.
    Fail,
    /// Broken by another member of the chain (an upstream plugin, a fixture): reported as
    /// that member's, never failing the plugin under test.
    OtherMember,
    /// A reference-contract MUST clause under the spec profile.
    Differs,
    /// A SHOULD clause.
    Warn,
}

impl Kind {
    pub fn of(report: &SuiteReport, failure: &Failure) -> Kind {
        if !failure.is_plugin_under_test() {
            return Kind::OtherMember;
        }
        match failure_tag(report, failure) {
            "FAIL" => Kind::Fail,
            "DIFFERS" => Kind::Differs,
            _ => Kind::Warn,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Kind::Fail => "FAIL",
            Kind::OtherMember => "MEMBER",
            Kind::Differs => "DIFFERS",
            Kind::Warn => "WARN",
        }
    }
}

/// One clause broken (by one member), wherever it was.
#[derive(Debug)]
pub struct Group<'a> {
    pub kind: Kind,
    /// The chain member that broke it, when not the plugin under test (its type).
    pub member: Option<String>,
    /// A failure that stands for all: the first, in run order.
    pub example: &'a Failure,
    pub example_case: &'a CaseReport,
    /// Index of `example` in its case's failures (what its reproducer is named by).
    pub example_index: usize,
    /// Scenario -> versions it failed at, in run order.
    pub cases: Vec<(&'a str, Vec<CniVersion>)>,
    pub failures: usize,
}

impl Group<'_> {
    /// `chained-seed @ 1.0.0, 1.1.0; prev-result-passthrough @ 1.0.0, 1.1.0`.
    pub fn places(&self) -> String {
        self.cases
            .iter()
            .map(|(scenario, versions)| {
                let versions: Vec<&str> = versions.iter().map(|v| v.as_str()).collect();
                format!("{scenario} @ {}", versions.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// How many (scenario, version) cases the group covers.
    pub fn case_count(&self) -> usize {
        self.cases.iter().map(|(_, v)| v.len()).sum()
    }
}

/// Every failure of the cases that ran (unsupported cases carry none), grouped.
pub fn groups(report: &SuiteReport) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: BTreeMap<(Kind, String, Option<String>), usize> = BTreeMap::new();
    for case in &report.cases {
        if matches!(case.status, CaseStatus::Unsupported { .. }) {
            continue;
        }
        for (i, failure) in case.failures.iter().enumerate() {
            let kind = Kind::of(report, failure);
            let member = failure
                .member
                .as_ref()
                .filter(|m| !m.under_test)
                .map(|m| m.plugin_type.clone());
            let key = (kind, failure.clause.clone(), member.clone());
            let at = *index.entry(key).or_insert_with(|| {
                groups.push(Group {
                    kind,
                    member,
                    example: failure,
                    example_case: case,
                    example_index: i,
                    cases: Vec::new(),
                    failures: 0,
                });
                groups.len() - 1
            });
            let group = &mut groups[at];
            group.failures += 1;
            match group.cases.iter_mut().find(|(s, _)| *s == case.scenario) {
                Some((_, versions)) if versions.contains(&case.version) => {}
                Some((_, versions)) => versions.push(case.version),
                None => group.cases.push((&case.scenario, vec![case.version])),
            }
        }
    }
    groups.sort_by_key(|g| g.kind);
    groups
}
