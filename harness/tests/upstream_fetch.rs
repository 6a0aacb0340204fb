//! ci/upstream-fetch (upstream's current plugins release, from Debian unstable, into the cache):
//! a cached copy is used as it is and fetches nothing, its bin/ folder is the only thing on
//! stdout, and without a cached copy (or with --refresh) the failure of apt is said in one line.
//! The apt-get, apt-cache, dpkg-deb and tar on PATH here fail loudly, so any fetch would show.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/upstream-fetch")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn executable(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn upstream_fetch_uses_a_cached_release_without_touching_apt() {
    let cache = tempfile::tempdir().unwrap();
    let version = cache.path().join("upstream/1.9.1+ds1-1");
    std::fs::create_dir_all(version.join("bin")).unwrap();
    executable(&version.join("bin/vlan"), "exit 0");
    std::fs::write(
        version.join("VERSION"),
        "debian-version: 1.9.1+ds1-1\nupstream-version: 1.9.1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("1.9.1+ds1-1", cache.path().join("upstream/current")).unwrap();

    let shims = tempfile::tempdir().unwrap();
    for tool in ["apt-get", "apt-cache", "dpkg-deb", "tar"] {
        executable(&shims.path().join(tool), "echo \"$0 called\" >&2; exit 99");
    }
    let path = format!(
        "{}:{}",
        shims.path().display(),
        std::env::var("PATH").unwrap()
    );
    let fetch = |cache: &Path, args: &[&str]| {
        std::process::Command::new(script())
            .args(args)
            .env("CNI_CONFORM_CACHE", cache)
            .env("CNI_CONFORM_DEBIAN_KEYRING", version.join("VERSION"))
            .env("PATH", &path)
            .output()
            .unwrap()
    };

    let cached = fetch(cache.path(), &[]);
    assert_eq!(cached.status.code(), Some(0), "{}", stderr(&cached));
    assert!(
        stderr(&cached).contains("using cached containernetworking-plugins 1.9.1+ds1-1 ("),
        "{}",
        stderr(&cached)
    );
    assert!(!stderr(&cached).contains("called"), "{}", stderr(&cached));
    // Only the bin/ folder, absolute, on stdout: dir=$(ci/upstream-fetch).
    let bin = version.canonicalize().unwrap().join("bin");
    assert_eq!(
        String::from_utf8_lossy(&cached.stdout),
        format!("{}\n", bin.display())
    );

    // --refresh asks apt even with a copy cached, says so when that fails, and keeps the copy.
    let refreshed = fetch(cache.path(), &["--refresh"]);
    assert_eq!(refreshed.status.code(), Some(1), "{}", stderr(&refreshed));
    assert!(
        stderr(&refreshed).contains("apt-get called"),
        "{}",
        stderr(&refreshed)
    );
    assert!(refreshed.stdout.is_empty());
    assert!(cache.path().join("upstream/current/bin/vlan").exists());

    // With nothing cached it has to ask apt, and says so when that fails, leaving nothing behind.
    let empty = tempfile::tempdir().unwrap();
    let fetched = fetch(empty.path(), &[]);
    assert_eq!(fetched.status.code(), Some(1), "{}", stderr(&fetched));
    assert!(
        stderr(&fetched).contains("upstream-fetch: apt-get update of Debian unstable failed"),
        "{}",
        stderr(&fetched)
    );
    assert!(fetched.stdout.is_empty());
    assert_eq!(
        std::fs::read_dir(empty.path().join("upstream"))
            .unwrap()
            .count(),
        0,
        "a failed fetch leaves no work folder"
    );

    let unknown = fetch(cache.path(), &["--bogus"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
}
