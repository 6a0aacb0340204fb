//! `doc-links [REPO]`: checks every relative link and anchor in the repository's README.md,
//! CHANGELOG.md and docs/*.md (ci/test runs it). Prints each broken one and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    match doc_links::check_repository(&root) {
        Ok(report) if report.problems.is_empty() => {
            println!(
                "doc-links: {} links in {} files resolve",
                report.links_checked, report.files_checked
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for problem in &report.problems {
                eprintln!("doc-links: {problem}");
            }
            eprintln!(
                "doc-links: {} broken of {} links in {} files",
                report.problems.len(),
                report.links_checked,
                report.files_checked
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("doc-links: {e}");
            ExitCode::from(2)
        }
    }
}
