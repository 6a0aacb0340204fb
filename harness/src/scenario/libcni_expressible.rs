//! Which scenarios libcni can express: under `--runtime libcni` every list operation (add,
//! check, del, gc, status) goes through libcni, but a scenario that also runs a plugin by hand
//! cannot: libcni's API only runs whole lists with the stdin and environment it builds itself.
//! Such a scenario is reported as not expressible, with the step that makes it so, instead of
//! running half through libcni and half around it.

use super::model::{Scenario, Step};

/// Why `scenario` cannot run through libcni, or `None` when every step can.
pub fn inexpressible(scenario: &Scenario) -> Option<String> {
    scenario.steps.iter().enumerate().find_map(|(i, step)| {
        let why = match step {
            Step::Exec(_) => {
                "runs one plugin with a hand-made stdin and environment, which libcni's API \
                     (whole lists, its own stdin and environment) cannot produce"
            }
            Step::Concurrent(_) => {
                "runs several processes of one plugin at once with per-process configurations, \
                     which libcni's API (one list operation at a time) cannot produce"
            }
            _ => return None,
        };
        Some(format!(
            "not expressible through libcni: step {} ({}) {why}",
            i + 1,
            if matches!(step, Step::Exec(_)) {
                "exec"
            } else {
                "concurrent"
            }
        ))
    })
}
