//! Relative links and anchors in the repository's Markdown, checked offline.
//!
//! A link is broken when its file does not exist, when it leaves the repository (the docs ship in
//! the tarball and the .deb, where nothing outside is), or when its `#anchor` is not a heading of
//! the target page. Anchors are GitHub's: the heading's text, lower-cased, with punctuation other
//! than `-` and `_` dropped and spaces made `-`; a repeated one gets `-1`, `-2`, ... Links with a
//! scheme (`https:`, `mailto:`) are not fetched: this check runs without a network.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// One broken link: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub link: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: ({}) {}",
            self.file.display(),
            self.line,
            self.link,
            self.reason
        )
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub files_checked: usize,
    pub links_checked: usize,
    pub problems: Vec<Problem>,
}

/// A page's links (destination, line) and the anchors of its headings.
struct Page {
    links: Vec<(String, usize)>,
    anchors: Vec<String>,
}

/// The Markdown a reader of the repository or of a release meets: README.md, CHANGELOG.md and
/// docs/*.md.
pub fn documentation_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    let docs_dir = root.join("docs");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&docs_dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", docs_dir.display())))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    files.extend(docs);
    Ok(files)
}

pub fn check_repository(root: &Path) -> io::Result<Report> {
    let root = std::fs::canonicalize(root)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
    check_files(&root, &documentation_files(&root)?)
}

/// Checks the links of `files` (paths under `root`); pages they link to are read as needed.
pub fn check_files(root: &Path, files: &[PathBuf]) -> io::Result<Report> {
    let mut pages: BTreeMap<PathBuf, Page> = BTreeMap::new();
    let mut report = Report::default();
    for file in files {
        let page = read_page(file)?;
        report.files_checked += 1;
        for (link, line) in &page.links {
            report.links_checked += 1;
            if let Err(reason) = check_link(root, file, link, &mut pages) {
                report.problems.push(Problem {
                    file: file.strip_prefix(root).unwrap_or(file).to_path_buf(),
                    line: *line,
                    link: link.clone(),
                    reason,
                });
            }
        }
    }
    Ok(report)
}

fn read_page(file: &Path) -> io::Result<Page> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    Ok(parse_page(&text))
}

fn parse_page(text: &str) -> Page {
    let mut links = Vec::new();
    let mut headings = Vec::new();
    let mut heading: Option<String> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                let line = text[..range.start].matches('\n').count() + 1;
                links.push((dest_url.into_string(), line));
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => headings.extend(heading.take()),
            _ => {}
        }
    }
    Page {
        links,
        anchors: anchors(&headings),
    }
}

/// GitHub's anchor for each heading, in order, with `-N` suffixes for repeats.
pub fn anchors(headings: &[String]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    headings
        .iter()
        .map(|h| {
            let base = slug(h);
            let n = seen.entry(base.clone()).or_insert(0);
            let anchor = if *n == 0 { base } else { format!("{base}-{n}") };
            *n += 1;
            anchor
        })
        .collect()
}

pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn check_link(
    root: &Path,
    from: &Path,
    link: &str,
    pages: &mut BTreeMap<PathBuf, Page>,
) -> Result<(), String> {
    if has_scheme(link) {
        return Ok(());
    }
    let (path, anchor) = match link.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (link, None),
    };
    if path.starts_with('/') {
        return Err("absolute path: link relative to this file".into());
    }
    let target = if path.is_empty() {
        from.to_path_buf()
    } else {
        let joined = from.parent().unwrap_or(root).join(path);
        std::fs::canonicalize(&joined).map_err(|_| format!("no such file {path}"))?
    };
    if !target.starts_with(root) {
        return Err(format!(
            "{} is outside the repository (it ships without it)",
            target.display()
        ));
    }
    let Some(anchor) = anchor else {
        return Ok(());
    };
    if target.extension().is_none_or(|e| e != "md") {
        return Err("an anchor into a file that is not Markdown cannot be checked".into());
    }
    if !pages.contains_key(&target) {
        let page = read_page(&target).map_err(|e| e.to_string())?;
        pages.insert(target.clone(), page);
    }
    let page = &pages[&target];
    if page.anchors.iter().any(|a| a == anchor) {
        Ok(())
    } else {
        Err(format!(
            "no heading with anchor #{anchor} in {}",
            target.strip_prefix(root).unwrap_or(&target).display()
        ))
    }
}

/// `https:`, `mailto:`...: a scheme is letters (then letters, digits, `+-.`) before a ':'.
fn has_scheme(link: &str) -> bool {
    link.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests;
