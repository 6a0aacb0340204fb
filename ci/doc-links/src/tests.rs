use super::*;

/// A repository in a temporary folder: (path, contents) pairs.
fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let repo = repository(files);
    check_repository(repo.path())
        .unwrap()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

const PAGE: &str =
    "# A page\n\n## Plugin author: `cni-conform` in your CI\n\n## Notes\n\n## Notes\n";

#[test]
fn links_that_resolve_pass() {
    let readme = "# Title\n\nSee [a](docs/a.md), [ci](docs/a.md#plugin-author-cni-conform-in-your-ci), \
                  [second notes](docs/a.md#notes-1), [top](#title), ![chart](docs/chart.svg), \
                  [web](https://example.com/x#y) and [license](LICENSE).\n";
    let repo = repository(&[
        ("README.md", readme),
        ("CHANGELOG.md", "# Changelog\n"),
        ("LICENSE", "text"),
        ("docs/a.md", PAGE),
        ("docs/chart.svg", "<svg/>"),
    ]);
    let report = check_repository(repo.path()).unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!((report.files_checked, report.links_checked), (3, 7));
}

#[test]
fn a_missing_file_is_named_with_its_line() {
    let found = problems(&[
        ("README.md", "# T\n\nline two\n[gone](docs/gone.md)\n"),
        ("CHANGELOG.md", ""),
        ("docs/a.md", PAGE),
    ]);
    assert_eq!(
        found,
        vec!["README.md:4: (docs/gone.md) no such file docs/gone.md"]
    );
}

#[test]
fn a_missing_anchor_in_another_page_or_the_same_one_is_broken() {
    let found = problems(&[
        ("README.md", "# T\n[x](docs/a.md#plugin-authors)\n"),
        ("CHANGELOG.md", ""),
        ("docs/a.md", "# A\n\n[back](../README.md#t) [self](#nope)\n"),
    ]);
    assert_eq!(
        found,
        vec![
            "README.md:2: (docs/a.md#plugin-authors) no heading with anchor #plugin-authors in docs/a.md",
            "docs/a.md:3: (#nope) no heading with anchor #nope in docs/a.md",
        ]
    );
}

#[test]
fn a_link_leaving_the_repository_is_broken_even_when_its_target_exists() {
    let repo = repository(&[
        ("repo/README.md", "[c](../shared/card.md)\n"),
        ("shared/card.md", "# C\n"),
    ]);
    std::fs::write(repo.path().join("repo/CHANGELOG.md"), "").unwrap();
    std::fs::create_dir(repo.path().join("repo/docs")).unwrap();
    let report = check_repository(&repo.path().join("repo")).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert!(
        report.problems[0]
            .reason
            .ends_with("shared/card.md is outside the repository (it ships without it)"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn links_in_code_are_not_links() {
    let found = problems(&[
        ("README.md", "```\n[x](gone.md)\n```\n\n`[y](gone.md)`\n"),
        ("CHANGELOG.md", ""),
        ("docs/a.md", ""),
    ]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn anchors_follow_github() {
    let headings = [
        "What a run is, exactly",
        "`node-fail`: failing cases",
        "A",
        "A",
        "A",
    ]
    .map(String::from);
    assert_eq!(
        anchors(&headings),
        [
            "what-a-run-is-exactly",
            "node-fail-failing-cases",
            "a",
            "a-1",
            "a-2"
        ]
    );
}

#[test]
fn a_repository_without_docs_is_an_error_not_a_pass() {
    let repo = repository(&[("README.md", "")]);
    let e = check_repository(repo.path()).unwrap_err();
    assert!(e.to_string().contains("docs"), "{e}");
}
