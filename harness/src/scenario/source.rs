//! Where a clause comes from. A plugin author needs to tell a CNI SPEC violation from a
//! design choice of this project's reference plugin, so every clause names its rule book by
//! the prefix of its id.

use serde::Serialize;

/// Where a clause comes from, read off its id's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The CNI SPEC (`spec.`); MUST and SHOULD as the spec words them.
    Spec,
    /// Invariants any plugin must keep whatever its design (`suite.`): no leftovers, clean
    /// output protocol.
    Suite,
    /// This project's contract where the spec leaves room (`contract.`).
    Reference,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Spec, Source::Suite, Source::Reference];

    /// The id prefixes scenario files may use, with their sources.
    pub const PREFIXES: [(&'static str, Source); 3] = [
        ("spec.", Source::Spec),
        ("suite.", Source::Suite),
        ("contract.", Source::Reference),
    ];

    /// `None` for an id without one of [`Source::PREFIXES`] (scenario loading rejects those).
    pub fn of_clause(id: &str) -> Option<Source> {
        Source::PREFIXES
            .iter()
            .find(|(prefix, _)| id.starts_with(prefix))
            .map(|(_, source)| *source)
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::Spec => "spec",
            Source::Suite => "suite",
            Source::Reference => "reference",
        }
    }
}
