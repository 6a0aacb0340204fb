//! Which build of a plugin a report judged. Upstream's plugins say so themselves when run with no
//! CNI_COMMAND ("CNI macvlan plugin v1.9.1"), but Debian's builds say "version unknown"; then
//! the Debian package that owns the file names the release (Debian 12's /usr/lib/cni), or the
//! VERSION file `ci/upstream-fetch` writes beside a fetched release's bin/ folder.

use std::path::Path;
use std::process::{Command, Stdio};

/// One line naming the build, or `None` when nothing names it.
pub fn describe(plugin: &Path, about: Option<&str>) -> Option<String> {
    let about = about.filter(|a| !a.contains("version unknown"));
    if let Some(about) = about {
        return Some(about.to_string());
    }
    debian_package(plugin).or_else(|| fetched_release(plugin))
}

/// `containernetworking-plugins 1.1.1+ds1-3+b2 (Debian package)` for a file dpkg knows.
fn debian_package(plugin: &Path) -> Option<String> {
    let owner = run("dpkg-query", &["-S", &plugin.to_string_lossy()])?;
    let package = owner.split(':').next()?.trim().to_string();
    let version = run("dpkg-query", &["-W", "-f=${Version}", &package])?;
    Some(format!("{package} {} (Debian package)", version.trim()))
}

/// What `ci/upstream-fetch` recorded for the release whose bin/ holds the plugin.
fn fetched_release(plugin: &Path) -> Option<String> {
    let version_file = plugin.parent()?.parent()?.join("VERSION");
    let text = std::fs::read_to_string(version_file).ok()?;
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("debian-version:"))?
        .trim();
    Some(format!(
        "containernetworking-plugins {version} (Debian unstable, fetched by ci/upstream-fetch)"
    ))
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_the_plugin_names_wins_and_a_fetched_release_is_read_off_its_version_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let plugin = dir.path().join("bin/macvlan");
        std::fs::write(&plugin, "").unwrap();
        assert_eq!(
            describe(&plugin, Some("CNI macvlan plugin v1.9.1")).as_deref(),
            Some("CNI macvlan plugin v1.9.1")
        );
        assert_eq!(
            describe(&plugin, Some("CNI macvlan plugin version unknown")),
            None
        );
        std::fs::write(
            dir.path().join("VERSION"),
            "debian-version: 1.9.1+ds1-1\nupstream-version: 1.9.1\n",
        )
        .unwrap();
        assert_eq!(
            describe(&plugin, None).as_deref(),
            Some(
                "containernetworking-plugins 1.9.1+ds1-1 (Debian unstable, fetched by ci/upstream-fetch)"
            )
        );
    }
}
