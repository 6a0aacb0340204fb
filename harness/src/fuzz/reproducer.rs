//! A finding as files a person can rerun without the harness: per step the environment
//! (`stepN.env`, NUL-separated `KEY=VALUE`) and stdin (`stepN.stdin`, raw bytes), the finding
//! (`finding.json`), and `reproduce.sh`, which rebuilds the fuzz sandbox (the arena's topology:
//! its namespaces, veth pairs and bridges) with `unshare` / `nsenter` / `ip` under [`WORK_DIR`]
//! and replays the steps in order. Steps name their paths
//! under [`WORK_DIR`] already ([`places`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::arena::Target;
use super::input::Places;
use crate::fixtures::personality::FIXTURE_PLUGINS;
use crate::runtime::{CniPath, cni_path::SYSTEM_PLUGIN_DIRS, harness_binary};
use crate::topology::{Endpoint, Topology};

/// The reproducer's stand-in for the sandbox folder.
pub const WORK_DIR: &str = "/tmp/cni-conform-repro";

/// Where the script's sandbox has everything a case may name.
pub fn places() -> Result<Places, String> {
    let work = Path::new(WORK_DIR);
    let dirs = [work.join("bin")]
        .into_iter()
        .chain(SYSTEM_PLUGIN_DIRS.iter().map(PathBuf::from))
        .collect();
    Ok(Places::under(work, CniPath::new(dirs).to_string()))
}

/// One plugin execution to replay.
#[derive(Debug, Clone)]
pub struct Step {
    pub label: String,
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    /// SIGKILL the plugin after this long (crash-consistency rounds).
    pub kill_after: Option<Duration>,
}

/// Writes the reproducer into `dir` (created); returns the script's path.
pub fn write<T: Serialize>(
    dir: &Path,
    finding: &T,
    title: &str,
    plugin: &Path,
    target: &Target,
    steps: &[Step],
) -> Result<PathBuf, String> {
    let fail = |what: &str, e: std::io::Error| format!("writing {what} in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("the folder", e))?;
    let json = serde_json::to_string_pretty(finding).expect("findings are plain data");
    std::fs::write(dir.join("finding.json"), json).map_err(|e| fail("finding.json", e))?;
    for (index, step) in steps.iter().enumerate() {
        let mut env = Vec::new();
        for (key, value) in &step.env {
            env.extend_from_slice(format!("{key}={value}").as_bytes());
            env.push(0);
        }
        let n = index + 1;
        std::fs::write(dir.join(format!("step{n}.env")), env).map_err(|e| fail("an env", e))?;
        std::fs::write(dir.join(format!("step{n}.stdin")), &step.stdin)
            .map_err(|e| fail("a stdin", e))?;
    }
    let harness = harness_binary().map_err(|e| format!("finding cni-conform itself: {e}"))?;
    let script = dir.join("reproduce.sh");
    std::fs::write(&script, script_text(title, plugin, target, &harness, steps))
        .map_err(|e| fail("reproduce.sh", e))?;
    Ok(script)
}

/// `harness`: `cni-conform`, linked into the script's `CNI_PATH` as the fixture plugins.
fn script_text(
    title: &str,
    plugin: &Path,
    target: &Target,
    harness: &Path,
    steps: &[Step],
) -> String {
    // ci/uml-run exists in a clone only; an installed cni-conform has no command that runs a
    // script inside User-Mode Linux.
    let without_vlan = crate::source_tree::advice(
        "on a kernel without, run it inside User-Mode Linux:\n#   ci/uml-run bash {this folder}/reproduce.sh",
        "on a kernel without, run it inside User-Mode Linux:\n#   cni-conform kernel-run -- bash {this folder}/reproduce.sh",
    );
    let mut text = format!(
        r#"#!/bin/bash
# cni-conform fuzz reproducer: {title}
# Rebuilds the fuzz sandbox under {WORK_DIR} and replays the plugin executions below.
# Needs root and a kernel that makes {kinds} links; {without_vlan}
# PLUGIN=/other/binary bash reproduce.sh replays against another plugin.
set -u
here=$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)
PLUGIN=${{PLUGIN:-{plugin}}}
WORK={WORK_DIR}
cleanup() {{
  for ns in "$WORK"/netns/*; do umount "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}}
trap cleanup EXIT
cleanup
mkdir -p "$WORK/netns" "$WORK/bin" "$WORK/folder"
echo 'not a namespace' > "$WORK/file"
ln -s "$PLUGIN" "$WORK/bin/{plugin_type}"
for fixture in {fixtures}; do ln -s {harness} "$WORK/bin/$fixture"; done
for ns in {namespaces}; do touch "$WORK/netns/$ns"; unshare --net="$WORK/netns/$ns" true; done
in_ns() {{ local ns=$1; shift; nsenter --net="$WORK/netns/$ns" "$@"; }}
for ns in {namespaces}; do in_ns "$ns" ip link set lo up; done
{links}
# step LABEL N [KILL_AFTER_SECONDS]: runs the plugin in the node namespace with exactly the
# environment of stepN.env and the stdin of stepN.stdin.
step() {{
  local -a env
  mapfile -d '' -t env < "$here/step$2.env"
  echo "== $1"
  if [ -n "${{3:-}}" ]; then
    in_ns node env -i "${{env[@]}}" "$PLUGIN" < "$here/step$2.stdin" &
    local pid=$!
    sleep "$3"; kill -KILL "$pid" 2>/dev/null
    wait "$pid"; echo "== exit status $? (SIGKILL sent after $3 s)"
  else
    in_ns node env -i "${{env[@]}}" "$PLUGIN" < "$here/step$2.stdin"
    echo "== exit status $?"
  fi
}}

"#,
        plugin = plugin.display(),
        plugin_type = target.plugin_type,
        kinds = target
            .kernel
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        namespaces = namespaces(&target.topology),
        links = links_script(&target.topology),
        fixtures = FIXTURE_PLUGINS.join(" "),
        harness = harness.display(),
    );
    for (index, step) in steps.iter().enumerate() {
        let kill = step
            .kill_after
            .map(|d| format!(" {:.3}", d.as_secs_f64()))
            .unwrap_or_default();
        let _ = writeln!(text, "step {:?} {}{kill}", step.label, index + 1);
    }
    let _ = write!(
        text,
        r#"
echo "== what the namespaces hold now (the sandbox started with {})"
for ns in {}; do echo "-- $ns"; in_ns "$ns" ip -d address show; done
"#,
        started_with(&target.topology),
        namespaces(&target.topology),
    );
    text
}

/// The sandbox's namespaces, as the script's `for` loops list them.
fn namespaces(topology: &Topology) -> String {
    topology.netns_names().collect::<Vec<_>>().join(" ")
}

/// `ip` commands making the topology's veth pairs and bridges, as [`crate::sandbox::Sandbox`]
/// does: each link in its namespace under its name, with its MTU, up unless it says down.
fn links_script(topology: &Topology) -> String {
    let mut text = String::new();
    let settle = |text: &mut String, end: &Endpoint| {
        if let Some(mtu) = end.mtu {
            let _ = writeln!(
                text,
                "in_ns {} ip link set {} mtu {mtu}",
                end.netns, end.name
            );
        }
        if end.up {
            let _ = writeln!(text, "in_ns {} ip link set {} up", end.netns, end.name);
        }
    };
    for pair in &topology.veths {
        let [a, b] = &pair.ends;
        let _ = writeln!(
            text,
            "in_ns {} ip link add {} type veth peer name {} netns \"$WORK/netns/{}\"",
            a.netns, a.name, b.name, b.netns
        );
        settle(&mut text, a);
        settle(&mut text, b);
    }
    for bridge in &topology.bridges {
        let _ = writeln!(
            text,
            "in_ns {} ip link add {} type bridge",
            bridge.netns, bridge.name
        );
        settle(&mut text, bridge);
    }
    text
}

/// The links the sandbox started with, for the script's last words.
fn started_with(topology: &Topology) -> String {
    let mut links: Vec<String> = topology
        .veths
        .iter()
        .map(|p| format!("veth {}/{}", p.ends[0].name, p.ends[1].name))
        .collect();
    links.extend(
        topology
            .bridges
            .iter()
            .map(|b| format!("bridge {}", b.name)),
    );
    if links.is_empty() {
        "no links but lo".to_string()
    } else {
        links.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_env_raw_stdin_and_steps() {
        let dir = tempfile::tempdir().unwrap();
        let steps = [Step {
            label: "ADD".into(),
            env: vec![
                ("CNI_NETNS".into(), places().unwrap().pod_netns),
                ("CNI_COMMAND".into(), "DEL\n".into()),
            ],
            stdin: b"{\"x\":\"\xff\"}".to_vec(),
            kill_after: Some(Duration::from_millis(25)),
        }];
        let script = write(
            dir.path(),
            &"finding",
            "t",
            Path::new("/bin/vlan"),
            &Target::vlan(),
            &steps,
        )
        .unwrap();
        let env = std::fs::read(dir.path().join("step1.env")).unwrap();
        assert_eq!(
            env,
            b"CNI_NETNS=/tmp/cni-conform-repro/netns/pod\0CNI_COMMAND=DEL\n\0"
        );
        let stdin = std::fs::read(dir.path().join("step1.stdin")).unwrap();
        assert_eq!(stdin, b"{\"x\":\"\xff\"}");
        let text = std::fs::read_to_string(script).unwrap();
        assert!(text.contains("step \"ADD\" 1 0.025\n"), "{text}");
        assert!(text.contains("PLUGIN=${PLUGIN:-/bin/vlan}"));
        assert!(
            text.contains(&format!(
                "for fixture in conform-veth conform-ipam; do ln -s {} ",
                harness_binary().unwrap().display()
            )),
            "the script's CNI_PATH has the fixture plugins: {text}"
        );
        // The arena's topology, as the fuzzer has always built it for vlan.
        assert!(
            text.contains("ln -s \"$PLUGIN\" \"$WORK/bin/vlan\""),
            "{text}"
        );
        assert!(text.contains("for ns in node pod wire; do"), "{text}");
        assert!(
            text.contains(
                "in_ns node ip link add master0 type veth peer name peer0 netns \"$WORK/netns/wire\"\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "in_ns pod ip link add eth0 type veth peer name hosteth0 netns \"$WORK/netns/node\"\n"
            ),
            "{text}"
        );
    }

    /// Another type's reproducer builds its pack's node and links the plugin under its type.
    #[test]
    fn follows_the_arena_topology() {
        let topology = Topology::default().with_veth(
            Endpoint::new("node", "hostdev0"),
            Endpoint::new("node", "hostdev0-peer"),
        );
        let mut topology = topology;
        topology.bridges.push(Endpoint::new("node", "cni-br0"));
        let target = Target {
            plugin_type: "host-device".into(),
            minimal: serde_json::json!({"type": "host-device", "device": "hostdev0"})
                .as_object()
                .cloned(),
            topology,
            kernel: vec![crate::kernel::LinkKind::Veth],
        };
        let text = script_text(
            "t",
            Path::new("/x/host-device"),
            &target,
            Path::new("/h"),
            &[],
        );
        for line in [
            "ln -s \"$PLUGIN\" \"$WORK/bin/host-device\"\n",
            "for ns in node pod; do touch",
            "in_ns node ip link add hostdev0 type veth peer name hostdev0-peer netns \"$WORK/netns/node\"\n",
            "in_ns node ip link set hostdev0-peer up\n",
            "in_ns node ip link add cni-br0 type bridge\nin_ns node ip link set cni-br0 up\n",
            "kernel that makes veth links",
            "started with veth hostdev0/hostdev0-peer, bridge cni-br0)",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        assert!(!text.contains("wire"), "{text}");
    }
}
