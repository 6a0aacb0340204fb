//! `repro/<scenario>@<version>-<n>.sh`: for the n-th failure of a case, a bash script a person
//! runs as root, without the harness, to watch the failure happen again.
//!
//! The script rebuilds the case's sandbox with `ip` the way the harness built it: every netns a
//! file under a fresh temp folder (`$SANDBOX/netns/<name>`, kept alive by a bind mount made
//! with `unshare --net=<file>`), the topology's veth pairs with their names, MTUs and states.
//! Then it replays the case's steps up to the failing one: tampering steps as `ip` commands,
//! plugin executions in the node netns (`nsenter`) with exactly the recorded environment
//! (`env -i`) and the recorded stdin (a quoted heredoc, so nothing in it expands). The case's
//! sandbox folder is gone, so every path under it, in the environment (`CNI_NETNS`, `CNI_PATH`)
//! and in stdin (`prevResult` sandboxes, IPAM call logs), is rewritten to `$SANDBOX`; in the
//! heredocs it reads `${SANDBOX}` and is substituted when fed. The plugin under test is linked
//! into `$SANDBOX/bin` under the name the harness gave it. Each execution's stdout and exit
//! status are printed (stderr passes through), then the state of every netns; a trap removes
//! it all on exit. The top of the script says what was expected and what happened.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::labels::{execution_of, failure_tag, level_name};
use crate::fixtures::personality::FIXTURE_PLUGINS;
use crate::runtime::{CniCommand, Execution, ExitStatus, harness_binary};
use crate::scenario::model::Step;
use crate::scenario::run::StepRecord;
use crate::scenario::{CaseReport, Failure, Level, SuiteReport};
use crate::topology::{Endpoint, Topology};

/// The reproducers' folder inside the report folder.
pub const DIR: &str = "repro";

/// Where [`crate::runtime::CniPath::standard`] links the plugin under test.
const PLUGIN_LINK_SUBDIR: &str = "bin";

/// `<scenario>@<version>-<n>.sh` for the failure at `index` (0-based) of the case.
pub fn file_name(case: &CaseReport, index: usize) -> String {
    format!("{}@{}-{}.sh", case.scenario, case.version, index + 1)
}

/// Whether a failure gets a reproducer: what fails the run (a MUST clause the profile decides
/// on) and what another member of the chain broke (a finding about that plugin). Differences
/// under the spec profile and SHOULD warnings are in the reports, not worth a script each.
pub fn wanted(report: &SuiteReport, failure: &Failure) -> bool {
    matches!(failure_tag(report, failure), "FAIL" | "MEMBER") && failure.level == Level::Must
}

/// Writes a reproducer for every [`wanted`] failure of every case into `dir/repro`.
pub fn write_all(report: &SuiteReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for case in &report.cases {
        for index in (0..case.failures.len()).filter(|i| wanted(report, &case.failures[*i])) {
            let folder = dir.join(DIR);
            std::fs::create_dir_all(&folder)?;
            let path = folder.join(file_name(case, index));
            std::fs::write(&path, script(report, case, index))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The reproducer of the case's failure at `index`.
pub fn script(report: &SuiteReport, case: &CaseReport, index: usize) -> String {
    let failure = &case.failures[index];
    let rewrite = SandboxRewrite {
        dir: case
            .sandbox_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
    };
    // The fixture plugins are `cni-conform` itself under their names, as in the sandbox (on
    // PATH when this process cannot name its own executable).
    let harness = harness_binary().unwrap_or_else(|_| PathBuf::from("cni-conform"));
    let mut out = String::from("#!/usr/bin/env bash\n");
    out.push_str(&comment(&header(report, case, index)));
    let _ = write!(out, "\nWROTE_BY={}", quote(&harness.to_string_lossy()));
    out.push_str(CHECKS);
    out.push_str(PRELUDE);
    out.push_str(&topology(&case.topology));
    let (steps, last_execution) = replayed(case, failure);
    let mut plugin_links: Vec<&str> = steps
        .iter()
        .flat_map(|record| &case.executions[replayed_part(record, last_execution)])
        .filter_map(|e| rewrite.plugin_link(e))
        .collect();
    plugin_links.sort_unstable();
    plugin_links.dedup();
    for name in plugin_links {
        let _ = writeln!(
            out,
            "ln -s {} \"$SANDBOX/{PLUGIN_LINK_SUBDIR}/\"{}",
            quote(&report.plugin.to_string_lossy()),
            quote(name)
        );
    }
    let _ = writeln!(
        out,
        "for fixture in {}; do ln -s {} \"$SANDBOX/{PLUGIN_LINK_SUBDIR}/$fixture\"; done",
        FIXTURE_PLUGINS.join(" "),
        quote(&harness.to_string_lossy())
    );
    for record in steps {
        let _ = writeln!(
            out,
            "\necho {}",
            quote(&format!("### step {}", record.label))
        );
        match tampering(&record.step) {
            Some(command) => {
                out.push_str(&command);
                out.push('\n');
            }
            None => {
                let concurrent = matches!(record.step, Step::Concurrent(_));
                for i in replayed_part(record, last_execution) {
                    out.push_str(&replay(&rewrite, &case.executions[i], i, concurrent));
                }
                if concurrent {
                    out.push_str("wait\n");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\necho {}\nshow_state\nend_of_replay",
        quote(&format!("### state after step {}", failure.step))
    );
    out
}

/// What the top of the script says: the failure, the recorded failing execution, the plugin.
fn header(report: &SuiteReport, case: &CaseReport, index: usize) -> String {
    let f = &case.failures[index];
    let mut text = format!(
        "cni-conform reproducer: scenario {} at CNI version {}, failure {} of {}.\n\
         Run as root: bash {}\n\
         Builds the scenario's namespaces and links with ip, replays its steps up to the failing\n\
         one with each plugin's recorded environment and stdin, prints every output and then the\n\
         state of every netns, and removes everything on exit.\n\n\
         clause   {} ({})\n\
         step     {}\n\
         expected vs actual:\n  {}\n",
        case.scenario,
        case.version,
        index + 1,
        case.failures.len(),
        file_name(case, index),
        f.clause,
        level_name(f.level),
        f.step,
        f.message
    );
    if let Some(diff) = &f.diff {
        for line in diff.lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    if let Some(exec) = execution_of(case, f) {
        let _ = writeln!(
            text,
            "\nthe failing execution as recorded: {} {}, {}",
            exec.plugin,
            exec.command,
            describe_exit(exec)
        );
        for (name, bytes) in [("stdout", &exec.stdout), ("stderr", &exec.stderr)] {
            let output = bytes.to_string_lossy();
            if !output.trim().is_empty() {
                let _ = writeln!(text, "  {name}:");
                for line in output.lines() {
                    let _ = writeln!(text, "    {line}");
                }
            }
        }
    }
    let _ = writeln!(text, "\nplugin under test: {}", report.plugin.display());
    text
}

fn describe_exit(exec: &Execution) -> String {
    let status = exec.exit.to_string();
    if exec.timed_out {
        format!("{status} (timed out)")
    } else {
        status
    }
}

/// Every line prefixed with `# `, so nothing in it is code.
fn comment(text: &str) -> String {
    text.lines()
        .map(|l| format!("# {l}").trim_end().to_string() + "\n")
        .collect()
}

/// The steps to replay (every one up to the failure's) and the end of the executions to replay
/// (just past the failing one; all of the failing step's when the failure names none).
fn replayed<'a>(case: &'a CaseReport, failure: &Failure) -> (&'a [StepRecord], usize) {
    let Some(failing) = case.steps.iter().position(|s| s.label == failure.step) else {
        // A failure before any step (the sandbox could not be built): the topology is all.
        return (&[], 0);
    };
    let end = failure
        .execution
        .map_or(case.steps[failing].executions.end, |i| i + 1);
    (&case.steps[..=failing], end)
}

/// The executions of a step that are replayed: those before `last_execution`.
fn replayed_part(record: &StepRecord, last_execution: usize) -> std::ops::Range<usize> {
    let end = record.executions.end.min(last_execution);
    record.executions.start.min(end)..end
}

/// What every reproducer checks first: root, its tools, and a kernel that makes 802.1Q links.
/// Where this one cannot, the script runs itself again inside User-Mode Linux through
/// `cni-conform kernel-run` (`CNI_CONFORM` names the binary, else the one that wrote the
/// script, else `cni-conform` on PATH), and never replays on a kernel that refuses VLANs.
const CHECKS: &str = r#"
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "run this as root: it creates network namespaces" >&2
  exit 1
fi
for tool in ip unshare nsenter; do
  command -v "$tool" >/dev/null || { echo "needs $tool (iproute2, util-linux)" >&2; exit 1; }
done
if [ -z "${CNI_CONFORM_KERNEL_RUN:-}" ] && ! unshare -n sh -c \
    'ip link add cc-probe0 type veth peer name cc-probe1 &&
     ip link add link cc-probe0 name cc-probe0.9 type vlan id 9' >/dev/null 2>&1; then
  conform=${CNI_CONFORM:-$WROTE_BY}
  [ -x "$conform" ] || conform=$(command -v cni-conform || true)
  if [ -z "$conform" ]; then
    echo "this kernel cannot make 802.1Q links, and no cni-conform was found to run this" \
      "inside User-Mode Linux: set CNI_CONFORM=/path/to/cni-conform (or modprobe 8021q)" >&2
    exit 3
  fi
  echo "this kernel cannot make 802.1Q links: running again inside User-Mode Linux" \
    "($conform kernel-run)" >&2
  exec "$conform" kernel-run -- bash "$0" "$@"
fi
"#;

/// Helpers every reproducer shares.
const PRELUDE: &str = r#"
SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/cni-conform-repro.XXXXXX")
mkdir "$SANDBOX/netns" "$SANDBOX/bin"
cleanup() {
  local netns
  for netns in "$SANDBOX"/netns/*; do
    umount "$netns" 2>/dev/null || true
  done
  rm -rf "$SANDBOX"
}
trap cleanup EXIT

# A netns is a file under $SANDBOX/netns kept alive by a bind mount (CNI_NETNS names one).
add_netns() {
  touch "$SANDBOX/netns/$1"
  unshare --net="$SANDBOX/netns/$1" ip link set lo up
}

in_netns() {
  local netns=$1
  shift
  nsenter --net="$SANDBOX/netns/$netns" "$@"
}

# Links first, so the netns is empty at once (the kernel dismantles a dead one later).
delete_netns() {
  local link
  for link in $(in_netns "$1" ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    [ "$link" = lo ] || in_netns "$1" ip link delete "$link" 2>/dev/null || true
  done
  umount "$SANDBOX/netns/$1"
  rm "$SANDBOX/netns/$1"
}

# The heredoc on this function's stdin, without the newline that ends every heredoc, with
# ${SANDBOX} standing for this script's folder.
recorded_stdin() {
  local text placeholder='${SANDBOX}'
  text=$(cat; printf x)
  text=${text%x}
  text=${text%$'\n'}
  printf '%s' "${text//"$placeholder"/"$SANDBOX"}"
}

# run_plugin <netns> <recorded status> <binary> <VAR=value>... <<heredoc: runs the plugin in
# the netns with exactly these variables and the heredoc as stdin; prints its stdout and exit
# status, and notes when the status is not the recorded one ("-": not compared).
DIFFERENCES=()
run_plugin() {
  local netns=$1 recorded=$2 binary=$3 status=0
  shift 3
  recorded_stdin | in_netns "$netns" env -i "$@" "$binary" || status=$?
  printf '\n(exit status %s)\n' "$status"
  if [ "$recorded" != - ] && [ "$status" != "$recorded" ]; then
    DIFFERENCES+=("${binary##*/} exited $status, recorded $recorded")
  fi
}

# The replay is not the recording (a kernel that refused an operation, another machine): say
# so and never exit 0.
end_of_replay() {
  if [ ${#DIFFERENCES[@]} -gt 0 ]; then
    echo "REPLAY DIFFERS from the recording:" >&2
    printf '  %s\n' "${DIFFERENCES[@]}" >&2
    exit 1
  fi
}

# A link made again here gets another MAC than in the recorded run, and the recorded stdin of a
# later CHECK or DEL (prevResult) names the recorded one: give the link that MAC, or, for a link
# that has its lower link's MAC (an ipvlan), the lower link in another netns.
pin_mac() {
  in_netns "$1" ip link set dev "$2" address "$3" 2>/dev/null && return
  local lower file name
  # (The link may be missing: a replayed ADD that failed where the recorded one succeeded.)
  lower=$(in_netns "$1" ip -o link show dev "$2" 2>/dev/null | sed -n 's/^[0-9]*: [^@]*@if\([0-9]*\):.*/\1/p') || true
  for file in "$SANDBOX"/netns/*; do
    [ -n "$lower" ] && [ "${file##*/}" != "$1" ] || continue
    name=$(in_netns "${file##*/}" ip -o link show | awk -F': ' -v i="$lower" '$1 == i { sub(/@.*/, "", $2); print $2 }') || true
    [ -n "$name" ] && in_netns "${file##*/}" ip link set dev "$name" address "$3" 2>/dev/null && return
  done
  echo "(could not give $1/$2 its recorded MAC $3: a later CHECK that compares MACs may differ)" >&2
}

show_state() {
  local file netns
  for file in "$SANDBOX"/netns/*; do
    netns=${file##*/}
    echo "=== netns $netns"
    in_netns "$netns" ip -d address show
    in_netns "$netns" ip route show
    in_netns "$netns" ip -6 route show 2>/dev/null || true
  done
}
"#;

/// The namespaces and veth pairs, made as the sandbox makes them: each end directly in its
/// netns under its final name, then MTU and state.
fn topology(topology: &Topology) -> String {
    let mut out = String::from("\necho '### topology'\n");
    for netns in topology.netns_names() {
        let _ = writeln!(out, "add_netns {}", quote(netns));
    }
    for pair in &topology.veths {
        let [a, b] = &pair.ends;
        let _ = writeln!(
            out,
            "in_netns node ip link add {} netns \"$SANDBOX/netns/\"{} type veth peer name {} netns \"$SANDBOX/netns/\"{}",
            quote(&a.name),
            quote(&a.netns),
            quote(&b.name),
            quote(&b.netns)
        );
        for end in [a, b] {
            out.push_str(&settle(end));
        }
    }
    for bridge in &topology.bridges {
        let _ = writeln!(
            out,
            "in_netns {} ip link add {} type bridge",
            quote(&bridge.netns),
            quote(&bridge.name)
        );
        out.push_str(&settle(bridge));
    }
    out
}

/// MTU and state of a link the topology made.
fn settle(end: &Endpoint) -> String {
    let mtu = end.mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
    let state = if end.up { "up" } else { "down" };
    format!(
        "in_netns {} ip link set {}{mtu} {state}\n",
        quote(&end.netns),
        quote(&end.name)
    )
}

/// A step that changes the sandbox behind the plugin's back, as an `ip` command; `None` for
/// steps that run plugins.
fn tampering(step: &Step) -> Option<String> {
    let command = match step {
        Step::DeleteLink(l) => format!(
            "in_netns {} ip link delete {}",
            quote(&l.netns),
            quote(&l.link)
        ),
        Step::SetMtu(m) => format!(
            "in_netns {} ip link set {} mtu {}",
            quote(&m.netns),
            quote(&m.link),
            m.mtu
        ),
        Step::SetDown(l) => format!(
            "in_netns {} ip link set {} down",
            quote(&l.netns),
            quote(&l.link)
        ),
        Step::RemoveAddress(a) => format!(
            "in_netns {} ip address delete {} dev {}",
            quote(&a.netns),
            quote(&a.address),
            quote(&a.link)
        ),
        Step::AddVlan(v) => format!(
            "in_netns {ns} ip link add link {} name {link} type vlan id {}\nin_netns {ns} ip link set {link} up",
            quote(&v.parent),
            v.id,
            ns = quote(&v.netns),
            link = quote(&v.link),
        ),
        Step::DeleteNetns(n) => format!("delete_netns {}", quote(&n.netns)),
        Step::Add(_)
        | Step::Check(_)
        | Step::Del(_)
        | Step::Gc(_)
        | Step::Status(_)
        | Step::Exec(_)
        | Step::Concurrent(_) => return None,
    };
    Some(command)
}

/// One execution: its recorded outcome, echoed, then `run_plugin` with its environment
/// and stdin (in the background when it ran concurrently with others).
fn replay(rewrite: &SandboxRewrite, exec: &Execution, index: usize, background: bool) -> String {
    let mut out = format!(
        "echo {}\n",
        quote(&format!(
            "--- {} {} (recorded: {})",
            exec.plugin,
            exec.command,
            describe_exit(exec)
        ))
    );
    // A concurrent run's status is its background job's: not compared.
    let recorded = match exec.exit {
        ExitStatus::Code(code) if !background && !exec.timed_out => code.to_string(),
        _ => "-".to_string(),
    };
    let _ = write!(
        out,
        "run_plugin node {recorded} {}",
        rewrite.word(&exec.binary.to_string_lossy())
    );
    for (key, value) in &exec.env {
        let _ = write!(out, " \\\n  {}", rewrite.word(&format!("{key}={value}")));
    }
    let stdin = rewrite.heredoc_text(&exec.stdin.to_string_lossy());
    let end = heredoc_end(&stdin, index);
    let background = if background { " &" } else { "" };
    let lossy = if std::str::from_utf8(exec.stdin.as_bytes()).is_err() {
        "# (the recorded stdin was not UTF-8: invalid bytes are shown as U+FFFD)\n"
    } else {
        ""
    };
    let _ = write!(out, " <<'{end}'{background}\n{stdin}\n{end}\n{lossy}");
    if exec.command == CniCommand::Add && matches!(exec.exit, ExitStatus::Code(0)) {
        for (netns, name, mac) in rewrite.sandboxed_macs(&exec.stdout.to_string_lossy()) {
            let _ = writeln!(
                out,
                "pin_mac {} {} {}",
                quote(&netns),
                quote(&name),
                quote(&mac)
            );
        }
    }
    out
}

/// A heredoc delimiter no line of the text equals.
fn heredoc_end(text: &str, index: usize) -> String {
    let mut end = format!("CNI_STDIN_{}", index + 1);
    while text.lines().any(|l| l == end) {
        end.push('_');
    }
    end
}

/// Paths under the case's (gone) sandbox folder, moved to the script's `$SANDBOX`.
struct SandboxRewrite {
    dir: Option<String>,
}

impl SandboxRewrite {
    /// A shell word for `value`: single-quoted, with `"$SANDBOX"` where the sandbox folder was.
    fn word(&self, value: &str) -> String {
        match &self.dir {
            Some(dir) => value
                .split(dir.as_str())
                .map(|part| {
                    if part.is_empty() {
                        String::new()
                    } else {
                        quote(part)
                    }
                })
                .collect::<Vec<_>>()
                .join("\"$SANDBOX\""),
            None => quote(value),
        }
    }

    /// Heredoc text, with `${SANDBOX}` where the sandbox folder was.
    fn heredoc_text(&self, text: &str) -> String {
        match &self.dir {
            Some(dir) => text.replace(dir.as_str(), "${SANDBOX}"),
            None => text.to_string(),
        }
    }

    /// The name under which the sandbox linked the plugin under test, when `exec` ran it (the
    /// same folder holds the fixture plugins).
    /// `(netns, name, mac)` of each interface of an ADD result that lives in a netns of the
    /// sandbox: what a later step's recorded prevResult expects to find.
    fn sandboxed_macs(&self, result: &str) -> Vec<(String, String, String)> {
        let (Some(dir), Ok(result)) = (
            self.dir.as_deref(),
            serde_json::from_str::<serde_json::Value>(result),
        ) else {
            return vec![];
        };
        let prefix = format!("{dir}/netns/");
        result["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let netns = i["sandbox"].as_str()?.strip_prefix(&prefix)?;
                Some((
                    netns.to_string(),
                    i["name"].as_str()?.to_string(),
                    i["mac"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    fn plugin_link<'e>(&self, exec: &'e Execution) -> Option<&'e str> {
        let dir = Path::new(self.dir.as_ref()?).join(PLUGIN_LINK_SUBDIR);
        exec.binary
            .strip_prefix(dir)
            .ok()
            .and_then(|name| name.to_str())
            .filter(|name| !FIXTURE_PLUGINS.contains(name))
    }
}

/// A single-quoted shell word: nothing inside expands.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cni_types::CniVersion;

    use super::*;
    use crate::report::test_support::{case, failure, suite};
    use crate::runtime::{CniCommand, Outcome, RawBytes, SuccessOutput};
    use crate::scenario::model::{
        AddVlan, AddressRef, Concurrent, Expect, Invoke, Level, LinkRef, NetnsRef, SetMtu,
    };
    use crate::scenario::{CaseStatus, Failure};
    use crate::topology::Endpoint;

    const SANDBOX_DIR: &str = "/tmp/cni-conform-gone";

    fn execution(command: CniCommand, ifname: &str) -> Execution {
        Execution {
            plugin: "vlan".into(),
            member: Some(0),
            binary: format!("{SANDBOX_DIR}/bin/vlan").into(),
            command,
            command_sent: Some(command.to_string()),
            env: [
                ("CNI_COMMAND".to_string(), command.to_string()),
                ("CNI_IFNAME".to_string(), ifname.to_string()),
                ("CNI_NETNS".to_string(), format!("{SANDBOX_DIR}/netns/pod")),
            ]
            .into(),
            stdin: RawBytes(
                format!(r#"{{"log":"{SANDBOX_DIR}/ipam.log","quote":"it's $HOME"}}"#).into_bytes(),
            ),
            stdout: RawBytes(b"{}".to_vec()),
            stderr: RawBytes(b"a complaint".to_vec()),
            exit: ExitStatus::Code(0),
            wall_time: Duration::from_millis(5),
            peak_rss_kib: 1024,
            timed_out: false,
            outcome: Outcome::Success(SuccessOutput::Nothing),
            findings: vec![],
        }
    }

    fn record(label: &str, step: Step, executions: std::ops::Range<usize>) -> StepRecord {
        StepRecord {
            label: label.into(),
            step,
            executions,
        }
    }

    /// Every kind of step, the failure at the first of three concurrent executions.
    fn report() -> SuiteReport {
        let link = |netns: &str, link: &str| LinkRef {
            netns: netns.into(),
            link: link.into(),
        };
        let concurrent = Concurrent {
            command: "ADD".into(),
            processes: 3,
            first_vlan_id: Some(10),
            same_id: false,
            ifname_prefix: "v".into(),
            plugin: None,
            expect_successes: None,
            expect: Expect::default(),
        };
        let steps = vec![
            record("1 (add)", Step::Add(Invoke::default()), 0..1),
            record(
                "2 (delete-link)",
                Step::DeleteLink(link("pod", "eth0")),
                1..1,
            ),
            record(
                "3 (set-mtu)",
                Step::SetMtu(SetMtu {
                    netns: "node".into(),
                    link: "master0".into(),
                    mtu: 1400,
                }),
                1..1,
            ),
            record("4 (set-down)", Step::SetDown(link("node", "master0")), 1..1),
            record(
                "5 (remove-address)",
                Step::RemoveAddress(AddressRef {
                    netns: "pod".into(),
                    link: "eth0".into(),
                    address: "10.1.0.2/24".into(),
                }),
                1..1,
            ),
            record(
                "6 (add-vlan)",
                Step::AddVlan(AddVlan {
                    netns: "node".into(),
                    link: "squat".into(),
                    parent: "master0".into(),
                    id: 7,
                }),
                1..1,
            ),
            record("7 (concurrent)", Step::Concurrent(concurrent), 1..4),
            record(
                "8 (delete-netns)",
                Step::DeleteNetns(NetnsRef {
                    netns: "pod".into(),
                }),
                4..4,
            ),
        ];
        let mut case = case("every-step", CniVersion::V1_0_0, CaseStatus::Fail);
        case.failures = vec![Failure {
            step: "7 (concurrent)".into(),
            diff: Some("-want\n+got".into()),
            execution: Some(1),
            ..failure(
                "spec.x",
                Level::Must,
                "expected success, got error code 11: busy",
            )
        }];
        case.executions = vec![
            execution(CniCommand::Add, "eth0"),
            execution(CniCommand::Add, "v0"),
            execution(CniCommand::Add, "v1"),
            execution(CniCommand::Add, "v2"),
        ];
        case.topology = Topology::default().with_veth(
            Endpoint::new("node", "master0").mtu(9000),
            Endpoint::new("pod", "peer0").down(),
        );
        case.sandbox_dir = Some(SANDBOX_DIR.into());
        case.steps = steps;
        suite(vec![case], vec![])
    }

    #[test]
    fn replays_every_step_up_to_the_failing_execution_and_bash_accepts_it() {
        let report = report();
        let text = script(&report, &report.cases[0], 0);
        for expected in [
            "add_netns 'node'\nadd_netns 'pod'\n",
            "in_netns node ip link add 'master0' netns \"$SANDBOX/netns/\"'node' type veth peer name 'peer0' netns \"$SANDBOX/netns/\"'pod'",
            "in_netns 'node' ip link set 'master0' mtu 9000 up",
            "in_netns 'pod' ip link set 'peer0' down",
            "ln -s '/opt/plugins/my vlan' \"$SANDBOX/bin/\"'vlan'",
            "for fixture in conform-veth conform-ipam; do ln -s '",
            "in_netns 'pod' ip link delete 'eth0'",
            "in_netns 'node' ip link set 'master0' mtu 1400",
            "in_netns 'node' ip link set 'master0' down",
            "in_netns 'pod' ip address delete '10.1.0.2/24' dev 'eth0'",
            "in_netns 'node' ip link add link 'master0' name 'squat' type vlan id 7",
            "'CNI_NETNS='\"$SANDBOX\"'/netns/pod'",
            "<<'CNI_STDIN_2' &\n{\"log\":\"${SANDBOX}/ipam.log\",\"quote\":\"it's $HOME\"}\nCNI_STDIN_2\n",
            "# clause   spec.x (MUST)",
            "#   expected success, got error code 11: busy",
            "#     a complaint",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("ln -s '/opt/plugins/my vlan'").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("ln -s").count(), 2, "and the fixtures: {text}");
        // Up to the failing execution (the second of the step, index 1), none after it, and
        // no step after the failing one.
        assert!(!text.contains("'CNI_IFNAME=v1'"), "{text}");
        assert!(!text.contains("delete_netns 'pod'"), "{text}");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &text).unwrap();
        let check = std::process::Command::new("bash")
            .arg("-n")
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}\n{text}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    #[test]
    fn a_failure_after_the_last_execution_replays_its_whole_step() {
        let mut report = report();
        let case = &mut report.cases[0];
        case.failures[0].step = "8 (delete-netns)".into();
        case.failures[0].execution = None;
        let text = script(&report, &report.cases[0], 0);
        assert!(text.contains("'CNI_IFNAME=v2'"), "{text}");
        assert!(text.contains("wait\n"), "{text}");
        assert!(text.contains("delete_netns 'pod'"), "{text}");
    }

    #[test]
    fn words_keep_text_literal_and_move_the_sandbox() {
        let rewrite = SandboxRewrite {
            dir: Some("/tmp/cni-conform-x".into()),
        };
        assert_eq!(
            rewrite.word("CNI_NETNS=/tmp/cni-conform-x/netns/pod"),
            r#"'CNI_NETNS='"$SANDBOX"'/netns/pod'"#
        );
        assert_eq!(
            rewrite.word("CNI_PATH=/tmp/cni-conform-x/bin:/usr/lib/cni"),
            r#"'CNI_PATH='"$SANDBOX"'/bin:/usr/lib/cni'"#
        );
        assert_eq!(rewrite.word("it's $HOME"), r#"'it'\''s $HOME'"#);
        assert_eq!(
            rewrite.heredoc_text(r#"{"log":"/tmp/cni-conform-x/ipam.log"}"#),
            r#"{"log":"${SANDBOX}/ipam.log"}"#
        );
    }

    /// A replayed ADD's links get the MACs the recorded result names, for the recorded
    /// prevResult of a later CHECK; interfaces outside the sandbox (a node's veth end named by
    /// no sandbox) are left alone.
    #[test]
    fn a_replayed_add_gives_its_sandboxed_links_the_recorded_macs() {
        let rewrite = SandboxRewrite {
            dir: Some("/tmp/cni-conform-x".into()),
        };
        let result = r#"{"cniVersion": "1.0.0", "interfaces": [
            {"name": "veth1a2b", "mac": "aa:bb:cc:00:00:01"},
            {"name": "eth0", "mac": "aa:bb:cc:00:00:02", "sandbox": "/tmp/cni-conform-x/netns/pod"},
            {"name": "net1", "mac": "aa:bb:cc:00:00:03", "sandbox": "/elsewhere/ns"}]}"#;
        assert_eq!(
            rewrite.sandboxed_macs(result),
            [(
                "pod".to_string(),
                "eth0".to_string(),
                "aa:bb:cc:00:00:02".to_string()
            )]
        );
        assert!(rewrite.sandboxed_macs("not json").is_empty());
        let mut add = execution(CniCommand::Add, "eth0");
        add.exit = ExitStatus::Code(0);
        add.stdout = crate::runtime::RawBytes(result.as_bytes().to_vec());
        let text = replay(&rewrite, &add, 0, false);
        assert!(
            text.ends_with("pin_mac 'pod' 'eth0' 'aa:bb:cc:00:00:02'\n"),
            "{text}"
        );
    }

    #[test]
    fn heredoc_end_avoids_lines_of_the_text() {
        assert_eq!(heredoc_end("{}", 0), "CNI_STDIN_1");
        assert_eq!(heredoc_end("a\nCNI_STDIN_2\nb", 1), "CNI_STDIN_2_");
    }
}
