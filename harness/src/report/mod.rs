//! Reports of a suite run: the terminal table, and the files `--report-dir` gets.

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::SuiteReport;

pub mod grouped;
pub mod json;
pub mod junit;
pub mod labels;
pub mod markdown;
pub mod reproducer;
pub mod table;

/// Writes every report file into `dir` (`report.json`, `report.xml`, `summary.md`, and a
/// reproducer per failing clause under `repro/`); returns their paths.
pub fn write_all(report: &SuiteReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = vec![
        json::write(report, dir)?,
        junit::write(report, dir)?,
        markdown::write(report, dir)?,
    ];
    written.extend(reproducer::write_all(report, dir)?);
    Ok(written)
}

/// Reports built by hand, for the renderers' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use cni_types::CniVersion;

    use crate::kernel::{Backend, KernelInfo};
    use crate::scenario::{
        CaseReport, CaseStatus, Failure, Judgement, Level, Profile, SuiteReport,
    };
    use crate::topology::Topology;

    pub fn suite(cases: Vec<CaseReport>, scenario_errors: Vec<String>) -> SuiteReport {
        SuiteReport {
            // The renderers' tests fail cases by hand, on any clause: hold them to everything.
            judgement: Judgement {
                profile: Profile::Reference,
                required_features: vec![],
            },
            kernel: KernelInfo {
                release: "7.2.7".into(),
                backend: Backend::Uml,
                uml: Some("user-mode-linux 7.2um1 from Debian unstable, seccomp mode".into()),
            },
            runtime: crate::runtime::RuntimeChoice::Ours.info(),
            plugin: "/opt/plugins/my vlan".into(),
            plugin_type: "vlan".into(),
            plugin_release: None,
            notes: vec![],
            plugin_versions: vec!["1.0.0".into(), "1.1.0".into()],
            cases,
            scenario_errors,
            unjudged: vec![],
            duration_ms: 1500,
        }
    }

    /// A case that ran no steps (add them for reproducers).
    pub fn case(scenario: &str, version: CniVersion, status: CaseStatus) -> CaseReport {
        CaseReport {
            scenario: scenario.into(),
            version,
            status,
            failures: vec![],
            declined: None,
            executions: vec![],
            duration_ms: 250,
            topology: Topology::default(),
            pod: "pod".into(),
            sandbox_dir: None,
            steps: vec![],
        }
    }

    pub fn failure(clause: &str, level: Level, message: &str) -> Failure {
        Failure::new(clause, level, "1 (add)", message)
    }
}
