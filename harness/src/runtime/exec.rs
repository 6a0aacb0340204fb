//! One plugin execution: spawned in a chosen netns with exactly the environment and stdin the
//! caller gives, bounded by a timeout, and recorded in full (env, stdin, stdout, stderr, exit
//! status, wall time, peak RSS) together with what its output means under the protocol.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use cni_types::CniVersion;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize, Serializer};

use super::command::CniCommand;
use super::outcome::{Finding, Outcome, classify};
use super::output::{ExitStatus, RawBytes};
use crate::netns::Netns;

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
    pub memory: MemoryAccounting,
}

/// How an execution's peak RSS is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryAccounting {
    /// `wait4`'s: the plugin's peak, or the peak of a delegate it waited for if that was larger.
    /// Costs nothing.
    #[default]
    WithDelegates,
    /// The plugin process alone: its high-water mark (`VmHWM`), read when it stops at its exit
    /// under ptrace (`PTRACE_O_TRACEEXIT`), so a delegate's memory never counts. The stops cost
    /// time: benchmarks use it in runs of their own, not in timed ones.
    PluginOnly,
}

/// The record of one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub plugin: String,
    /// The plugin's 0-based place in the network configuration list, when it ran as a member
    /// of one (a list operation, or a scenario's direct execution of one list plugin): who a
    /// failure belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<usize>,
    pub binary: PathBuf,
    /// The output the run was judged as (`CNI_COMMAND` itself may be missing or unknown).
    #[serde(skip)]
    pub command: CniCommand,
    /// `CNI_COMMAND` as the plugin got it: `None` when the variable was not set.
    #[serde(rename = "command")]
    pub command_sent: Option<String>,
    pub env: BTreeMap<String, String>,
    pub stdin: RawBytes,
    pub stdout: RawBytes,
    pub stderr: RawBytes,
    pub exit: ExitStatus,
    #[serde(rename = "wall_time_ms", serialize_with = "as_millis")]
    pub wall_time: Duration,
    /// Peak resident set size in KiB, as the request's [`MemoryAccounting`] measures it (with
    /// `PluginOnly`, `wait4`'s figure when the plugin was killed before it could stop at exit).
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
    let traced = request.memory == MemoryAccounting::PluginOnly;
    if traced {
        // The tracer is the thread that forks: this one, which follows the tracee to its end.
        if let Some(netns) = netns {
            netns.enter_on_spawn(&mut command)?;
        }
        // SAFETY: ptrace(PTRACE_TRACEME) is a single async-signal-safe syscall.
        unsafe {
            command.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // Untraced, started from a thread inside `netns` rather than joining it between fork and
    // exec: with nothing to run in the child, std uses posix_spawn (vfork), which does not copy
    // our page tables, the main cost of starting a plugin from a big process (in User-Mode
    // Linux most of all).
    let mut start = || {
        let started = Instant::now();
        spawn(&mut command).map(|child| (child, started))
    };
    let spawned = match netns {
        Some(netns) if !traced => netns.run(start)?,
        _ => start(),
    };
    let (mut child, started) = spawned.map_err(|e| {
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
    let exited = match request.memory {
        MemoryAccounting::WithDelegates => wait_until_exited(pid).map(|()| None),
        MemoryAccounting::PluginOnly => follow_to_exit(pid),
    };
    let wall_time = started.elapsed();
    // Disarmed before anything can return: it must never signal a pid we no longer own.
    let mut timed_out = watchdog.disarm();
    let own_peak_rss = exited?;
    let (status, tree_peak_rss) = reap(pid)?;
    let peak_rss_kib = own_peak_rss.unwrap_or(tree_peak_rss);

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
        member: None,
        binary: request.binary.clone(),
        command: request.command,
        command_sent: request.env.get("CNI_COMMAND").cloned(),
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

/// [`wait_until_exited`] for a plugin traced since its exec (`PTRACE_TRACEME`): lets every stop
/// go on (re-delivering the signals it was stopped for) and reads `VmHWM` at the stop before its
/// exit, when its memory still exists. The peak RSS in KiB, if the plugin got to that stop.
fn follow_to_exit(pid: Pid) -> io::Result<Option<u64>> {
    const EXIT_EVENT: i32 = libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8);
    let mut peak = None;
    let mut traced_exit = false;
    loop {
        // Look without consuming: an exit must stay for `reap`.
        let stop = match child_state(pid, libc::WEXITED | libc::WSTOPPED | libc::WNOWAIT)? {
            ChildState::Stopped(status) => status,
            ChildState::Exited | ChildState::Running => return Ok(peak),
        };
        // Consume only the stop (never an exit that raced in).
        child_state(pid, libc::WSTOPPED | libc::WNOHANG)?;
        let deliver = if stop == EXIT_EVENT {
            peak = vm_hwm_kib(pid);
            0
        } else if stop == libc::SIGTRAP && !traced_exit {
            // The stop right after exec: from here on, stop at exit (and die with us).
            let options = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
            // SAFETY: plain ptrace requests on our own stopped tracee.
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid.as_raw(), 0, options) };
            traced_exit = true;
            0
        } else if is_signal_delivery(pid) {
            stop & 0x7f
        } else {
            // A group stop (SIGSTOP and friends already delivered): delivering it again would
            // stop it again, for ever.
            0
        };
        // ESRCH: killed meanwhile (the watchdog); the next look sees the exit.
        // SAFETY: as above.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid.as_raw(), 0, deliver) };
    }
}

/// Whether the tracee's stop is for a signal about to be delivered (there is a siginfo).
fn is_signal_delivery(pid: Pid) -> bool {
    // SAFETY: siginfo_t is plain old data.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local, for our own stopped tracee.
    unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, pid.as_raw(), 0, &mut info) == 0 }
}

enum ChildState {
    Exited,
    /// A stop, with its status as `waitid` reports it (the signal, and a ptrace event above it).
    Stopped(i32),
    /// Nothing to report (with `WNOHANG`).
    Running,
}

fn child_state(pid: Pid, flags: libc::c_int) -> io::Result<ChildState> {
    loop {
        // SAFETY: siginfo_t is plain old data; zeroed is valid and tells "nothing" apart.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a local; pid is our own child.
        let result = unsafe {
            libc::waitid(
                libc::P_PID,
                pid.as_raw() as libc::id_t,
                &mut info,
                flags | libc::__WALL,
            )
        };
        if result != 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(io::Error::from(e)),
            }
        }
        // SAFETY: waitid filled `info` (or left it zeroed with WNOHANG).
        let (child, status) = unsafe { (info.si_pid(), info.si_status()) };
        return Ok(match info.si_code {
            _ if child == 0 => ChildState::Running,
            libc::CLD_TRAPPED | libc::CLD_STOPPED => ChildState::Stopped(status),
            _ => ChildState::Exited,
        });
    }
}

/// `VmHWM` of a live process, in KiB.
fn vm_hwm_kib(pid: Pid) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
