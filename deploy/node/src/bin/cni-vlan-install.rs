//! `cni-vlan-install`: the installer DaemonSet's program. It puts the image's `vlan` into the
//! node's CNI folder (mounted from the host) atomically: the new file is written under a
//! temporary name in the same folder, synced, and renamed over the old one, so a runtime never
//! executes a half-written plugin. A different file that is newer than the image's (by
//! modification time) is kept unless `--on-newer replace`; every replacement is logged with what
//! was there before. The image has no shell, so the readiness probe is `cni-vlan-install check`.
//!
//! ```text
//! cni-vlan-install [install|check|once] [--source FILE] [--dest-dir DIR] [--name NAME]
//!                  [--on-newer keep|replace]
//! ```
//! `install` (default): install, then wait for SIGTERM (the DaemonSet's container);
//! `once`: install and exit; `check`: exit 0 iff the node's file is identical to the image's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use cni_vlan_node::{utc, wait_for_termination};

/// Marks this program's temporary files, so a run cleans up what an interrupted one left.
const TEMP_MARK: &str = ".cni-vlan-install.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Install, then wait for SIGTERM (the DaemonSet's container).
    Install,
    /// Install and exit.
    Once,
    /// Exit 0 iff the node's file is identical to the image's (the readiness probe).
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnNewer {
    Keep,
    Replace,
}

/// Puts the image's `vlan` into the node's CNI folder atomically (temporary name, sync, rename).
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(name = "cni-vlan-install", version)]
struct Options {
    #[arg(value_enum, default_value_t = Mode::Install)]
    mode: Mode,
    /// The plugin to install.
    #[arg(long, default_value = "/usr/local/bin/vlan", value_name = "FILE")]
    source: PathBuf,
    /// The node's CNI folder, as mounted in the container.
    #[arg(long, default_value = "/host/opt/cni/bin", value_name = "DIR")]
    dest_dir: PathBuf,
    /// The file name in that folder.
    #[arg(long, default_value = "vlan", value_parser = plain_file_name, value_name = "NAME")]
    name: String,
    /// What to do when the node has a different file that is newer than the image's.
    #[arg(long, value_enum, default_value_t = OnNewer::Keep)]
    on_newer: OnNewer,
}

fn plain_file_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(format!(
            "{name:?}: a plain file name is needed (no '/', not hidden)"
        ));
    }
    Ok(name.to_owned())
}

/// What an install did, for the log and the exit status.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// There was no file of that name.
    Installed,
    /// The node's file was already byte for byte the image's.
    AlreadyCurrent,
    /// A different file was replaced; what it was.
    Replaced(FileFacts),
    /// A different, newer file was left in place (`--on-newer keep`).
    KeptNewer(FileFacts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileFacts {
    size: u64,
    modified: SystemTime,
}

impl FileFacts {
    fn of(meta: &fs::Metadata) -> io::Result<FileFacts> {
        Ok(FileFacts {
            size: meta.len(),
            modified: meta.modified()?,
        })
    }
}

impl std::fmt::Display for FileFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, modified {}", self.size, utc(self.modified))
    }
}

fn with_path(path: &Path, what: &str) -> impl FnOnce(io::Error) -> String {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |e| format!("{what} {path}: {e}")
}

fn install(options: &Options) -> Result<Outcome, String> {
    let source = &options.source;
    let wanted = fs::read(source).map_err(with_path(source, "cannot read the image's plugin"))?;
    let source_facts = fs::metadata(source)
        .and_then(|m| FileFacts::of(&m))
        .map_err(with_path(source, "cannot stat"))?;
    let dest_dir = &options.dest_dir;
    if !dest_dir.is_dir() {
        return Err(format!(
            "{} is not a folder: mount the node's CNI folder there (hostPath /opt/cni/bin)",
            dest_dir.display()
        ));
    }
    remove_stale_temporaries(dest_dir, &options.name)?;
    let dest = dest_dir.join(&options.name);
    let previous = match fs::symlink_metadata(&dest) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(with_path(&dest, "cannot stat")(e)),
    };
    let outcome = match previous {
        None => Outcome::Installed,
        Some(meta) => {
            let facts = FileFacts::of(&meta).map_err(with_path(&dest, "cannot stat"))?;
            let executable = meta.permissions().mode() & 0o111 == 0o111;
            let same_bytes = meta.is_file() && fs::read(&dest).ok().as_ref() == Some(&wanted);
            if same_bytes && executable {
                return Ok(Outcome::AlreadyCurrent);
            }
            let newer = facts.modified > source_facts.modified;
            if !same_bytes && newer && options.on_newer == OnNewer::Keep {
                return Ok(Outcome::KeptNewer(facts));
            }
            Outcome::Replaced(facts)
        }
    };
    write_atomically(&dest, &options.name, &wanted, source_facts.modified)?;
    Ok(outcome)
}

/// Writes `bytes` to a temporary file beside `dest`, syncs it, renames it over `dest` and syncs
/// the folder. The copy keeps the image file's modification time, so a later image (a later
/// build) counts as newer than this one.
fn write_atomically(
    dest: &Path,
    name: &str,
    bytes: &[u8],
    modified: SystemTime,
) -> Result<(), String> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{name}{TEMP_MARK}{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&temp)?;
        file.write_all(bytes)?;
        // The mode given to open() is masked by the umask.
        file.set_permissions(fs::Permissions::from_mode(0o755))?;
        file.set_modified(modified)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, dest)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&temp);
        format!(
            "cannot install {} (via {}): {e}",
            dest.display(),
            temp.display()
        )
    })
}

/// Temporary files of an earlier run that was killed between writing and renaming.
fn remove_stale_temporaries(dir: &Path, name: &str) -> Result<(), String> {
    let prefix = format!(".{name}{TEMP_MARK}");
    let entries = fs::read_dir(dir).map_err(with_path(dir, "cannot list"))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if file_name.to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(with_path(&path, "cannot remove a stale temporary file"))?;
            log(&format!(
                "removed {}, left by an interrupted run",
                path.display()
            ));
        }
    }
    Ok(())
}

/// True iff the node's file is the image's, byte for byte, and executable.
fn is_current(options: &Options) -> Result<bool, String> {
    let wanted = fs::read(&options.source).map_err(with_path(&options.source, "cannot read"))?;
    let dest = options.dest_dir.join(&options.name);
    let executable = fs::metadata(&dest)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 == 0o111)
        .unwrap_or(false);
    Ok(executable && fs::read(&dest).ok() == Some(wanted))
}

fn log(message: &str) {
    cni_vlan_node::log("cni-vlan-install", message);
}

fn main() -> ExitCode {
    let options = <Options as clap::Parser>::parse();
    if options.mode == Mode::Check {
        return match is_current(&options) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!(
                    "cni-vlan-install: {} is not the image's plugin",
                    options.dest_dir.join(&options.name).display()
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("cni-vlan-install: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let dest = options.dest_dir.join(&options.name);
    let status = match install(&options) {
        Ok(Outcome::Installed) => {
            log(&format!("installed {} (new file)", dest.display()));
            ExitCode::SUCCESS
        }
        Ok(Outcome::AlreadyCurrent) => {
            log(&format!(
                "{} is already the image's plugin; left as is",
                dest.display()
            ));
            ExitCode::SUCCESS
        }
        Ok(Outcome::Replaced(old)) => {
            log(&format!("replaced {} (was: {old})", dest.display()));
            ExitCode::SUCCESS
        }
        Ok(Outcome::KeptNewer(old)) => {
            log(&format!(
                "NOT replacing {} ({old}): it differs from the image's plugin and is newer; \
                 this pod stays unready; rerun with --on-newer replace to overwrite it",
                dest.display()
            ));
            ExitCode::FAILURE
        }
        Err(e) => {
            log(&e);
            return ExitCode::FAILURE;
        }
    };
    if options.mode == Mode::Install {
        wait_for_termination();
        log("terminating");
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn setup(image_age: Duration) -> (tempfile::TempDir, Options) {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("image-vlan");
        fs::write(&source, b"new plugin").unwrap();
        let file = File::options().write(true).open(&source).unwrap();
        file.set_modified(SystemTime::now() - image_age).unwrap();
        let dest_dir = tmp.path().join("bin");
        fs::create_dir(&dest_dir).unwrap();
        let options = Options {
            mode: Mode::Once,
            source,
            dest_dir,
            name: "vlan".into(),
            on_newer: OnNewer::Keep,
        };
        (tmp, options)
    }

    fn node_file(options: &Options, bytes: &[u8], age: Duration) {
        let dest = options.dest_dir.join("vlan");
        fs::write(&dest, bytes).unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
        let file = File::options().write(true).open(&dest).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    fn folder(options: &Options) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&options.dest_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn installs_a_missing_plugin_executable_with_the_image_files_time() {
        let (_tmp, options) = setup(HOUR);
        assert_eq!(install(&options), Ok(Outcome::Installed));
        let dest = options.dest_dir.join("vlan");
        assert_eq!(fs::read(&dest).unwrap(), b"new plugin");
        let meta = fs::metadata(&dest).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(
            meta.modified().unwrap(),
            fs::metadata(&options.source).unwrap().modified().unwrap()
        );
        assert_eq!(folder(&options), ["vlan"]);
        assert_eq!(is_current(&options), Ok(true));
    }

    #[test]
    fn leaves_an_identical_plugin_alone() {
        let (_tmp, options) = setup(HOUR);
        node_file(&options, b"new plugin", 2 * HOUR);
        assert_eq!(install(&options), Ok(Outcome::AlreadyCurrent));
        assert_eq!(is_current(&options), Ok(true));
    }

    #[test]
    fn replaces_an_older_plugin_and_says_what_it_was() {
        let (_tmp, options) = setup(HOUR);
        node_file(&options, b"old", 2 * HOUR);
        let Ok(Outcome::Replaced(old)) = install(&options) else {
            panic!("not replaced")
        };
        assert_eq!(old.size, 3);
        assert_eq!(
            fs::read(options.dest_dir.join("vlan")).unwrap(),
            b"new plugin"
        );
        assert_eq!(folder(&options), ["vlan"]);
    }

    #[test]
    fn keeps_a_newer_different_plugin_unless_told_to_replace_it() {
        let (_tmp, mut options) = setup(2 * HOUR);
        node_file(&options, b"someone else's newer build", HOUR);
        assert!(matches!(install(&options), Ok(Outcome::KeptNewer(_))));
        assert_eq!(
            fs::read(options.dest_dir.join("vlan")).unwrap(),
            b"someone else's newer build"
        );
        assert_eq!(is_current(&options), Ok(false));
        options.on_newer = OnNewer::Replace;
        assert!(matches!(install(&options), Ok(Outcome::Replaced(_))));
        assert_eq!(is_current(&options), Ok(true));
    }

    #[test]
    fn removes_temporaries_of_an_interrupted_run_but_nothing_else() {
        let (_tmp, options) = setup(HOUR);
        fs::write(
            options.dest_dir.join(".vlan.cni-vlan-install.4242"),
            b"half",
        )
        .unwrap();
        fs::write(options.dest_dir.join("bridge"), b"other plugin").unwrap();
        assert_eq!(install(&options), Ok(Outcome::Installed));
        assert_eq!(folder(&options), ["bridge", "vlan"]);
    }

    #[test]
    fn a_missing_folder_or_image_file_is_a_clear_error() {
        let (_tmp, mut options) = setup(HOUR);
        options.dest_dir = options.dest_dir.join("absent");
        let e = install(&options).unwrap_err();
        assert!(
            e.contains("is not a folder: mount the node's CNI folder"),
            "{e}"
        );
        options.source = PathBuf::from("/nonexistent/vlan");
        let e = install(&options).unwrap_err();
        assert!(
            e.starts_with("cannot read the image's plugin /nonexistent/vlan"),
            "{e}"
        );
    }

    #[test]
    fn check_fails_for_a_non_executable_copy() {
        let (_tmp, options) = setup(HOUR);
        node_file(&options, b"new plugin", HOUR);
        let dest = options.dest_dir.join("vlan");
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(is_current(&options), Ok(false));
        // install() repairs it: same bytes but not executable is not current.
        assert!(matches!(install(&options), Ok(Outcome::Replaced(_))));
        assert_eq!(is_current(&options), Ok(true));
    }

    #[test]
    fn arguments() {
        let parse = |s: &str| {
            <Options as clap::Parser>::try_parse_from(
                std::iter::once("cni-vlan-install").chain(s.split_whitespace()),
            )
            .map_err(|e| e.to_string())
        };
        let o = parse("check --dest-dir /x --on-newer replace").unwrap();
        assert_eq!((o.mode, o.on_newer), (Mode::Check, OnNewer::Replace));
        assert_eq!(o.dest_dir, PathBuf::from("/x"));
        let o = parse("").unwrap();
        assert_eq!((o.mode, o.on_newer), (Mode::Install, OnNewer::Keep));
        assert_eq!(
            (o.source, o.name),
            (PathBuf::from("/usr/local/bin/vlan"), "vlan".to_owned())
        );
        assert!(parse("--on-newer maybe").unwrap_err().contains("maybe"));
        assert!(
            parse("--name ../vlan")
                .unwrap_err()
                .contains("plain file name")
        );
        assert!(parse("--source").unwrap_err().contains("--source"));
        assert!(parse("--bogus").unwrap_err().contains("--bogus"));
    }
}
