//! One plugin execution: spawned in a chosen netns with exactly the environment and stdin the
//! caller gives, bounded by a timeout, and recorded in full (env, stdin, stdout, stderr, exit
//! status, wall time, peak RSS) together with what its output means under the protocol.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use cni_types::CniVersion;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize, Serializer};

use super::outcome::{Finding, Outcome, classify};
use crate::netns::Netns;

/// `CNI_COMMAND` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CniCommand {
    Add,
    Del,
    Check,
    Gc,
    Status,
    Version,
}

impl CniCommand {
    pub const ALL: [CniCommand; 6] = [
        CniCommand::Add,
        CniCommand::Del,
        CniCommand::Check,
        CniCommand::Gc,
        CniCommand::Status,
        CniCommand::Version,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CniCommand::Add => "ADD",
            CniCommand::Del => "DEL",
            CniCommand::Check => "CHECK",
            CniCommand::Gc => "GC",
            CniCommand::Status => "STATUS",
            CniCommand::Version => "VERSION",
        }
    }
}

impl fmt::Display for CniCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CNI_COMMAND: {0}")]
pub struct UnknownCommand(pub String);

impl FromStr for CniCommand {
    type Err = UnknownCommand;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CniCommand::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCommand(s.to_string()))
    }
}

/// What to run. `env` is the child's complete environment (nothing is inherited), so a scenario
/// can send any variables, including wrong or missing ones; `command` only says which output to
/// expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The plugin's `type`, for records and messages.
    pub plugin: String,
    pub binary: PathBuf,
    pub command: CniCommand,
    pub env: BTreeMap<String, String>,
    pub stdin: Vec<u8>,
    pub timeout: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

/// Bytes a process read or wrote. Serialized as a string when they are UTF-8 (the usual case)
/// and as `{"hex": ...}` otherwise, so reports never lose what a plugin printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawBytes(pub Vec<u8>);

impl RawBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for RawBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl Serialize for RawBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
                let mut map = BTreeMap::new();
                map.insert("hex", hex);
                map.serialize(s)
            }
        }
    }
}

/// The record of one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub plugin: String,
    pub binary: PathBuf,
    pub command: CniCommand,
    pub env: BTreeMap<String, String>,
    pub stdin: RawBytes,
    pub stdout: RawBytes,
    pub stderr: RawBytes,
    pub exit: ExitStatus,
    #[serde(rename = "wall_time_ms", serialize_with = "as_millis")]
    pub wall_time: Duration,
    /// Peak resident set size in KiB of the plugin, or of a delegate it waited for if that was
    /// larger (the kernel's `wait4` accounting).
    pub peak_rss_kib: u64,
    /// Killed by us: the timeout passed while it (or a process it left holding its output) ran.
    pub timed_out: bool,
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// After the plugin exits, how long a process it left behind may keep its output open before it
/// is killed as part of the timeout; then how long we wait for the pipes to close.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// `ETXTBSY` happens when another thread of ours still has a freshly written plugin open for
/// writing while we fork; libcni retries the same way.
const SPAWN_ATTEMPTS: u32 = 5;

/// Runs the plugin and records it. `netns`: the namespace the plugin process runs in (the node),
/// `None` for ours. The plugin leads a new process group so a timeout kills its delegates too.
/// Err only when the process could not be started or waited for; every way a started plugin
/// can misbehave is in the returned record.
pub fn execute(request: &ExecRequest, netns: Option<&Netns>) -> io::Result<Execution> {
    let mut command = Command::new(&request.binary);
    command
        .env_clear()
        .envs(&request.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(netns) = netns {
        netns.enter_on_spawn(&mut command)?;
    }
    let started = Instant::now();
    let mut child = spawn(&mut command).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("starting {}: {e}", request.binary.display()),
        )
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    feed_stdin(&mut child, request.stdin.clone());
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    let watchdog = Watchdog::arm(pid, request.timeout);
    let exited = wait_until_exited(pid);
    // Disarmed before anything can return: it must never signal a pid we no longer own.
    let mut timed_out = watchdog.disarm();
    exited?;
    let (status, peak_rss_kib) = reap(pid)?;
    let wall_time = started.elapsed();

    let deadline = (started + request.timeout).max(Instant::now());
    let (stdout, stdout_held) = collect_output(stdout, deadline, pid);
    let (stderr, stderr_held) = collect_output(stderr, deadline, pid);
    timed_out |= stdout_held || stderr_held;

    let requested = requested_version(&request.stdin);
    let (outcome, findings) = classify(
        request.command,
        requested,
        status,
        timed_out.then_some(request.timeout),
        &stdout,
    );
    Ok(Execution {
        plugin: request.plugin.clone(),
        binary: request.binary.clone(),
        command: request.command,
        env: request.env.clone(),
        stdin: RawBytes(request.stdin.clone()),
        stdout: RawBytes(stdout),
        stderr: RawBytes(stderr),
        exit: status,
        wall_time,
        peak_rss_kib,
        timed_out,
        outcome,
        findings,
    })
}

fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Err(e)
                if e.raw_os_error() == Some(Errno::ETXTBSY as i32) && attempt < SPAWN_ATTEMPTS =>
            {
                thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Written from a thread: a plugin that does not read its input must not block us, and the
/// resulting EPIPE is not an error.
fn feed_stdin(child: &mut Child, input: Vec<u8>) {
    if let Some(mut stdin) = child.stdin.take() {
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
}

/// The pipe's contents once every writer closed it. A writer still holding it at the deadline
/// is a process the plugin left behind: its group is killed and the output counts as timed out.
fn collect_output(output: Receiver<Vec<u8>>, deadline: Instant, pid: Pid) -> (Vec<u8>, bool) {
    match output.recv_timeout(deadline.saturating_duration_since(Instant::now()) + OUTPUT_GRACE) {
        Ok(bytes) => (bytes, false),
        Err(RecvTimeoutError::Disconnected) => (Vec::new(), false),
        Err(RecvTimeoutError::Timeout) => {
            let _ = killpg(pid, Signal::SIGKILL);
            (output.recv_timeout(OUTPUT_GRACE).unwrap_or_default(), true)
        }
    }
}

/// Kills the plugin's process group when the timeout passes before it is disarmed.
struct Watchdog {
    disarm: mpsc::Sender<()>,
    fired: thread::JoinHandle<bool>,
}

impl Watchdog {
    fn arm(pid: Pid, timeout: Duration) -> Watchdog {
        let (disarm, disarmed) = mpsc::channel::<()>();
        let fired = thread::spawn(move || match disarmed.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => {
                let _ = killpg(pid, Signal::SIGKILL);
                true
            }
            _ => false,
        });
        Watchdog { disarm, fired }
    }

    /// Whether it fired.
    fn disarm(self) -> bool {
        drop(self.disarm);
        self.fired.join().unwrap_or(true)
    }
}

/// Waits for the child to exit but leaves it a zombie (`WNOWAIT`): its pid, and so its process
/// group id, cannot be reused while the watchdog may still signal it.
fn wait_until_exited(pid: Pid) -> io::Result<()> {
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
            Ok(_) => return Ok(()),
        }
    }
}

/// Reaps the child with `wait4`, which reports this child's own resource usage (unlike
/// `RUSAGE_CHILDREN`, which accumulates every child we ever waited for).
fn reap(pid: Pid) -> io::Result<(ExitStatus, u64)> {
    let mut raw_status = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own, not yet reaped child.
        let reaped = unsafe { libc::wait4(pid.as_raw(), &mut raw_status, 0, &mut usage) };
        if reaped == pid.as_raw() {
            break;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(io::Error::from(e)),
        }
    }
    let status = match WaitStatus::from_raw(pid, raw_status)? {
        WaitStatus::Exited(_, code) => ExitStatus::Code(code),
        WaitStatus::Signaled(_, signal, _) => ExitStatus::Signal(signal as i32),
        other => {
            return Err(io::Error::other(format!(
                "unexpected wait status {other:?} for plugin {pid}"
            )));
        }
    };
    Ok((status, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// The version the caller asked for: the stdin's `cniVersion`, or the newest when stdin does not
/// name a known one (bad-input scenarios).
fn requested_version(stdin: &[u8]) -> CniVersion {
    #[derive(Deserialize)]
    struct Versioned {
        #[serde(rename = "cniVersion")]
        cni_version: String,
    }
    serde_json::from_slice::<Versioned>(stdin)
        .ok()
        .and_then(|v| v.cni_version.parse().ok())
        .unwrap_or(CniVersion::LATEST)
}
