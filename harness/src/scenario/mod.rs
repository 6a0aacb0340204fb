//! Declarative scenarios: one behaviour per YAML file in `scenarios/`, with network
//! configurations and expected states in `fixtures/`. See docs/scenario-format.md.

pub mod builtin_clauses;
pub mod bundled;
mod case;
mod chain_steps;
pub mod expect;
mod judging;
pub mod libcni_expressible;
mod link_facts;
pub mod load;
pub mod model;
mod options;
pub mod pack;
mod report;
pub mod run;
pub mod source;
mod spec_rules;
pub mod states;
mod steps;
pub mod unlisted_version;
pub mod verdict;

pub use expect::Failure;
pub use load::{Library, ScenarioFileError};
pub use model::{Feature, Level, Scenario};
pub use run::{CaseReport, Progress, SuiteOptions, SuiteReport, run_suite};
pub use source::Source;
pub use states::{StateOracle, StoredStates};
pub use verdict::{CaseStatus, Judgement, Profile};
