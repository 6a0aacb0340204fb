//! `summary.md`: the run as Markdown for a CI job summary (e.g. appended to
//! `$GITHUB_STEP_SUMMARY`): the verdict and counts, the scenario x version table, skip
//! reasons, then each failing clause once (where it failed, one representative failure with the
//! expected vs actual and the plugin's stderr folded away, the reproducer to run), other chain
//! members' failures the same way, and a line per clause for differences and warnings.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use cni_types::CniVersion;

use super::grouped::{self, Group, Kind};
use super::reproducer;
use super::table::{
    Cell, Counts, Matrix, clause_label, command_label, execution_of, feature_names, skip_counts,
};
use crate::scenario::{CaseStatus, SuiteReport};

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
        "Plugin `{}` (type {}{}; supports {}) on {}, judged by profile **{}**, steps performed by {}.\n",
        report.plugin.display(),
        report.plugin_type,
        super::table::release(report),
        report.plugin_versions.join(", "),
        report.kernel,
        profile.name(),
        report.runtime
    );
    for note in &report.notes {
        let _ = writeln!(out, "Note: {note}.\n");
    }
    let _ = writeln!(
        out,
        "**{}** ({} passed with SHOULD warnings, {} scenario file errors) in {:.1} s\n",
        counts.headline(profile),
        counts.warned,
        counts.scenario_errors,
        report.duration_ms as f64 / 1000.0
    );
    out.push_str(&table(&Matrix::of(report)));
    let skips = skip_counts(report);
    if !skips.is_empty() {
        out.push_str("\n### Skipped\n\n");
        for (reason, n) in skips {
            let _ = writeln!(out, "- {} ({n})", escape(reason));
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
    let groups = grouped::groups(report);
    for (kind, title) in [
        (Kind::Fail, "Failing clauses (MUST)"),
        (
            Kind::OtherMember,
            "Failures of other chain members (they do not fail the plugin under test)",
        ),
    ] {
        let entries: Vec<String> = groups
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| entry(report, g))
            .collect();
        if !entries.is_empty() {
            let _ = writeln!(out, "\n### {title}\n");
            out.push_str(&entries.join("\n"));
        }
    }
    for (kind, title) in [
        (
            Kind::Differs,
            "Differences from the reference plugin (not failures)",
        ),
        (Kind::Warn, "Warnings (SHOULD)"),
    ] {
        let lines: Vec<String> = groups
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| {
                format!(
                    "- {}: {} (e.g. {})",
                    escape(&clause_label(g.example)),
                    escape(&g.places()),
                    escape(&g.example.message)
                )
            })
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(out, "\n### {title}\n");
            let _ = writeln!(out, "{}", lines.join("\n"));
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

/// One failing clause: where it failed, one representative failure, its details folded.
fn entry(report: &SuiteReport, group: &Group) -> String {
    let f = group.example;
    let case = group.example_case;
    let who = group
        .member
        .as_ref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let mut out = format!(
        "#### {}{who}\n\n- in {}\n- e.g. {} @ {}, step {}: {}\n",
        escape(&clause_label(f)),
        escape(&group.places()),
        escape(&case.scenario),
        case.version,
        f.step,
        escape(&f.message),
    );
    if reproducer::wanted(report, f) {
        let _ = writeln!(
            out,
            "- reproducer: `repro/{}`",
            reproducer::file_name(case, group.example_index)
        );
    }
    if let Some(diff) = &f.diff {
        out.push_str(&details("expected vs actual", "diff", diff));
    }
    if let Some(exec) = execution_of(case, f) {
        let stderr = exec.stderr.to_string_lossy();
        if !stderr.trim().is_empty() {
            let summary = format!("plugin stderr ({} {})", exec.plugin, command_label(exec));
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
    use crate::scenario::{Failure, Level};

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
            "### Skipped\n\n- plugin does not support 0.1.0 (1)\n",
            "### Failing clauses (MUST)\n\n#### contract.mode.host-master (reference, MUST)\n\n- in host-master @ 1.0.0\n- e.g. host-master @ 1.0.0, step 1 (add): state &lt;differs&gt;\n- reproducer: `repro/host-master@1.0.0-1.sh`\n",
            "<details><summary>expected vs actual</summary>\n\n```diff\n-id: 100\n+id: 101\n```\n\n</details>",
            "### Warnings (SHOULD)\n\n- contract.errors.message (reference, SHOULD): host-master @ 1.1.0 (e.g. vague)\n",
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
