//! `report.json`: the whole run, machine-readable (schema in docs/reports.md, "JSON report schema").

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::SuiteReport;

/// Bumped on any incompatible change to the JSON layout.
pub const SCHEMA_VERSION: u32 = 1;

pub fn write(report: &SuiteReport, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join("report.json");
    let value = serde_json::json!({
        "schemaVersion": SCHEMA_VERSION,
        "report": report,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&value)?)?;
    Ok(path)
}
