//! Reports of a suite run: the terminal table, and the files `--report-dir` gets.

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::SuiteReport;

pub mod json;
pub mod junit;
pub mod markdown;
pub mod reproducer;
pub mod table;

/// Writes every report file into `dir` (`report.json`, `report.xml`, `summary.md`, and a
/// reproducer per failure under `repro/`); returns their paths.
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
