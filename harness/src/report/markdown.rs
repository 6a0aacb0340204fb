//! `summary.md`: the run as Markdown for a CI job summary (e.g. appended to
//! `$GITHUB_STEP_SUMMARY`): the verdict and counts, the scenario x version table, skip
//! reasons, then every MUST failure and SHOULD warning with its clause, step and message, the
//! expected vs actual and the plugin's stderr folded away, and the reproducer to run.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use cni_types::CniVersion;

use super::reproducer;
use super::table::{
    Cell, Counts, Matrix, clause_label, execution_of, failure_tag, feature_names, skip_reasons,
};
use crate::scenario::{CaseReport, CaseStatus, Failure, SuiteReport};

pub fn write(report: &SuiteReport, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join("summary.md");
    std::fs::write(&path, render(report))?;
    Ok(path)
}

pub fn render(report: &SuiteReport) -> String {
    let counts = Counts::of(report);
    let mut out = String::new();
    let verdict = if report.passed() { "passed" } else { "FAILED" };
    let _ = writeln!(out, "## cni-conform: {verdict}\n");
    let profile = report.judgement.profile;
    let _ = writeln!(
        out,
        "Plugin `{}` (supports {}) on {}, judged by profile **{}**, steps performed by {}.\n",
        report.plugin.display(),
        report.plugin_versions.join(", "),
        report.kernel,
        profile.name(),
        report.runtime
    );
    let _ = writeln!(
        out,
        "**{}** ({} passed with SHOULD warnings, {} scenario file errors) in {:.1} s\n",
        counts.headline(profile),
        counts.warned,
        counts.scenario_errors,
        report.duration_ms as f64 / 1000.0
    );
    out.push_str(&table(&Matrix::of(report)));
    let skips = skip_reasons(report);
    if !skips.is_empty() {
        out.push_str("\n### Skipped\n\n");
        for s in skips {
            let _ = writeln!(out, "- {}", escape(&s));
        }
    }
    let unsupported: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| match &c.status {
            CaseStatus::Unsupported { features, reason } => Some(format!(
                "- {} @ {} ({}): {}",
                escape(&c.scenario),
                c.version,
                feature_names(features),
                escape(reason)
            )),
            _ => None,
        })
        .collect();
    if !unsupported.is_empty() {
        out.push_str("\n### Unsupported (capability declined with a clean CNI error)\n\n");
        let _ = writeln!(out, "{}", unsupported.join("\n"));
    }
    for (tag, title) in [
        ("FAIL", "Failures (MUST)"),
        (
            "DIFFERS",
            "Differences from the reference plugin (not failures)",
        ),
        ("WARN", "Warnings (SHOULD)"),
    ] {
        let entries: Vec<String> = report
            .cases
            .iter()
            .filter(|c| !matches!(c.status, CaseStatus::Unsupported { .. }))
            .flat_map(|case| {
                case.failures
                    .iter()
                    .enumerate()
                    .filter(move |(_, f)| failure_tag(report, f) == tag)
                    .map(move |(i, f)| entry(case, i, f))
            })
            .collect();
        if !entries.is_empty() {
            let _ = writeln!(out, "\n### {title}\n");
            out.push_str(&entries.join("\n"));
        }
    }
    if !report.scenario_errors.is_empty() {
        out.push_str("\n### Scenario file errors\n\n");
        for e in &report.scenario_errors {
            let _ = writeln!(out, "- {}", escape(e));
        }
    }
    out
}

fn table(matrix: &Matrix) -> String {
    let mut out = String::from("| scenario |");
    for v in CniVersion::ALL {
        let _ = write!(out, " {v} |");
    }
    out.push_str("\n|---|");
    out.push_str(&":-:|".repeat(CniVersion::ALL.len()));
    out.push('\n');
    for (scenario, cells) in &matrix.rows {
        let _ = write!(out, "| {} |", escape(scenario));
        for cell in cells {
            let _ = write!(out, " {} |", badge(*cell));
        }
        out.push('\n');
    }
    out
}

fn badge(cell: Cell) -> String {
    match cell {
        Cell::Pass => "✅ pass".into(),
        Cell::Warn => "⚠️ warn".into(),
        Cell::Fail => "❌ **FAIL**".into(),
        Cell::Differs => "🔸 differs".into(),
        Cell::Unsupported => "➖ unsupported".into(),
        Cell::Skip => "⏭️ skip".into(),
        Cell::NotRun => "·".into(),
    }
}

/// One failure: what broke where, then the details folded.
fn entry(case: &CaseReport, index: usize, f: &Failure) -> String {
    let mut out = format!(
        "#### {} @ {}, step {}\n\n- clause {}\n- {}\n- reproducer: `repro/{}`\n",
        escape(&case.scenario),
        case.version,
        f.step,
        escape(&clause_label(f)),
        escape(&f.message),
        reproducer::file_name(case, index)
    );
    if let Some(diff) = &f.diff {
        out.push_str(&details("expected vs actual", "diff", diff));
    }
    if let Some(exec) = execution_of(case, f) {
        let stderr = exec.stderr.to_string_lossy();
        if !stderr.trim().is_empty() {
            let summary = format!("plugin stderr ({} {})", exec.plugin, exec.command);
            out.push_str(&details(&summary, "text", &stderr));
        }
    }
    out
}

fn details(summary: &str, language: &str, body: &str) -> String {
    let fence = fence_for(body);
    format!(
        "\n<details><summary>{}</summary>\n\n{fence}{language}\n{}\n{fence}\n\n</details>\n",
        escape(summary),
        body.trim_end()
    )
}

/// A backtick fence longer than any backtick run in `body`, so the body cannot close it.
fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Plugin messages are arbitrary text: keep Markdown and HTML from interpreting them.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{case, failure, suite};
    use crate::scenario::Level;

    #[test]
    fn table_counts_failures_warnings_skips_and_file_errors() {
        let mut failed = case("host-master", CniVersion::V1_0_0, CaseStatus::Fail);
        failed.failures = vec![Failure {
            diff: Some("-id: 100\n+id: 101".into()),
            ..failure("contract.mode.host-master", Level::Must, "state <differs>")
        }];
        let mut warned = case("host-master", CniVersion::V1_1_0, CaseStatus::Pass);
        warned.failures = vec![failure("contract.errors.message", Level::Should, "vague")];
        let skip = CaseStatus::Skip {
            reason: "plugin does not support 0.1.0".into(),
        };
        let report = suite(
            vec![
                failed,
                warned,
                case("l2_only", CniVersion::V0_1_0, skip),
                case("l2_only", CniVersion::V1_1_0, CaseStatus::Pass),
            ],
            vec!["typo.yaml:4: unknown field".into()],
        );
        let text = render(&report);
        for expected in [
            "## cni-conform: FAILED\n",
            "**2 passed, 1 failed (reference 1), 1 skipped** (1 passed with SHOULD warnings, 1 scenario file errors) in 1.5 s",
            "| scenario | 0.1.0 | 0.2.0 | 0.3.0 | 0.3.1 | 0.4.0 | 1.0.0 | 1.1.0 |\n|---|:-:|:-:|:-:|:-:|:-:|:-:|:-:|\n",
            "| host-master | · | · | · | · | · | ❌ **FAIL** | ⚠️ warn |\n",
            "| l2\\_only | ⏭️ skip | · | · | · | · | · | ✅ pass |\n",
            "### Skipped\n\n- l2\\_only @ 0.1.0: plugin does not support 0.1.0\n",
            "### Failures (MUST)\n\n#### host-master @ 1.0.0, step 1 (add)\n\n- clause contract.mode.host-master (reference, MUST)\n- state &lt;differs&gt;\n- reproducer: `repro/host-master@1.0.0-1.sh`\n",
            "<details><summary>expected vs actual</summary>\n\n```diff\n-id: 100\n+id: 101\n```\n\n</details>",
            "### Warnings (SHOULD)\n\n#### host-master @ 1.1.0, step 1 (add)\n\n- clause contract.errors.message (reference, SHOULD)\n- vague\n",
            "### Scenario file errors\n\n- typo.yaml:4: unknown field\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn fences_outgrow_the_body() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("has ``` inside and ```` too"), "`````");
    }

    #[test]
    fn messages_cannot_inject_markup() {
        assert_eq!(
            escape("a|b <script> *x* `c`\nnext"),
            "a\\|b &lt;script&gt; \\*x\\* \\`c\\` next"
        );
    }
}
