//! Reports of a suite run: the terminal table, and the files `--report-dir` gets.

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::SuiteReport;

pub mod json;
pub mod table;

/// Writes every report file into `dir`; returns their paths.
pub fn write_all(report: &SuiteReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    Ok(vec![json::write(report, dir)?])
}
