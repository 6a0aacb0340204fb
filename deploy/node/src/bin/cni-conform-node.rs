//! `cni-conform-node`: the conformance DaemonSet's program. It runs `cni-conform run` (the
//! binary beside this one) with a report folder, prints the Markdown summary to the pod's log,
//! records the node's name and the suite's exit status in the report folder, and then stays up
//! (until SIGTERM) so the reports can be fetched with `kubectl cp`. The image has no shell, so the
//! readiness probe is `cni-conform-node done`: ready means finished, whatever the verdict.
//!
//! ```text
//! cni-conform-node [--report-dir DIR] [--node NAME] [--exit] -- CNI-CONFORM-RUN-ARGS...
//! cni-conform-node done [--report-dir DIR]
//! ```
//! Files it adds to the report folder: `node` (the node's name: `--node`, else `$NODE_NAME`,
//! else the host name); `error` when the suite's exit status is neither 0 nor 1 (its last stderr
//! lines: why it could not run, e.g. no 802.1Q); and, written last, `exit-status` (the suite's
//! exit status; 128+N when killed by signal N; 127 when it could not be started). `--exit`
//! exits with that status
//! instead of waiting (for a Job, or a run by hand).

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use cni_vlan_node::wait_for_termination;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Query {
    /// Exit 0 iff the run has finished (the readiness probe), whatever its verdict.
    Done,
}

/// Runs `cni-conform run` on this node, keeps its reports, prints the summary, stays up.
#[derive(Debug, PartialEq, Eq, clap::Parser)]
#[command(name = "cni-conform-node", version)]
struct Options {
    #[arg(value_enum)]
    query: Option<Query>,
    /// Where the reports, `node`, `error` and `exit-status` go.
    #[arg(long, default_value = "/reports", value_name = "DIR")]
    report_dir: PathBuf,
    /// The node's name (default: $NODE_NAME, else the host name).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Exit with the suite's status instead of waiting for SIGTERM.
    #[arg(long)]
    exit: bool,
    /// Arguments of `cni-conform`, after `--` (e.g. `-- run --filter chained`).
    #[arg(last = true, value_name = "CNI-CONFORM-RUN-ARGS")]
    run_args: Vec<String>,
}

impl Options {
    fn done(&self) -> bool {
        self.query == Some(Query::Done)
    }
}

/// The parsed command line; the report folder is this program's to give, not cni-conform's.
fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let options = <Options as clap::Parser>::try_parse_from(args).map_err(|e| e.to_string())?;
    if options
        .run_args
        .iter()
        .any(|a| a == "--report-dir" || a.starts_with("--report-dir="))
    {
        return Err("give --report-dir before --, not to cni-conform".into());
    }
    Ok(options)
}

fn log(message: &str) {
    cni_vlan_node::log("cni-conform-node", message);
}

fn node_name(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| {
            fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Writes a small file whole or not at all (the collector may read it at any time).
fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text)?;
    fs::rename(&temp, path)
}

/// `cni-conform` beside this program.
fn suite_binary() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("cni-conform"))
}

/// How many of the suite's last stderr lines are kept for the `error` file.
const ERROR_LINES: usize = 5;

/// Runs the command with its stderr passed through line by line, keeping the last lines.
fn run_keeping_stderr_tail(command: &mut Command) -> io::Result<(ExitStatus, String)> {
    let mut child = command.stderr(Stdio::piped()).spawn()?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("{line}");
        if tail.len() == ERROR_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait()?;
    let mut text = Vec::from(tail).join("\n");
    text.push('\n');
    Ok((status, text))
}

/// Runs the suite and returns its exit status as a number (see the module's doc).
fn run_suite(options: &Options) -> Result<i32, String> {
    let dir = &options.report_dir;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let status_file = dir.join("exit-status");
    if status_file.exists() {
        log("the report folder holds an earlier run (the container restarted); running again");
    }
    // An earlier run's files (a restarted container keeps its emptyDir) must not pass for this
    // run's: exit-status first, so the folder never looks finished meanwhile.
    for name in [
        "exit-status",
        "error",
        "report.json",
        "report.xml",
        "summary.md",
    ] {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
        }
    }
    match fs::remove_dir_all(dir.join("repro")) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot remove {}: {e}",
                dir.join("repro").display()
            ));
        }
    }
    let node = node_name(options.node.clone());
    write_file(&dir.join("node"), &format!("{node}\n"))
        .map_err(|e| format!("cannot write {}: {e}", dir.join("node").display()))?;
    let suite = suite_binary().map_err(|e| format!("cannot find own binary: {e}"))?;
    let mut command = Command::new(&suite);
    command.args(&options.run_args).arg("--report-dir").arg(dir);
    log(&format!(
        "node {node}: {} {} --report-dir {}",
        suite.display(),
        options.run_args.join(" "),
        dir.display()
    ));
    let (code, stderr_tail) = match run_keeping_stderr_tail(&mut command) {
        Ok((status, tail)) => (
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            tail,
        ),
        Err(e) => {
            let message = format!("cannot start {}: {e}", suite.display());
            log(&message);
            (127, message)
        }
    };
    // Why the suite could not run at all (bad arguments, no netns, no 802.1Q): the collector
    // shows it beside the node's verdict.
    let error_file = dir.join("error");
    if code != 0 && code != 1 {
        write_file(&error_file, &stderr_tail)
            .map_err(|e| format!("cannot write {}: {e}", error_file.display()))?;
    }
    let summary = dir.join("summary.md");
    let mut out = io::stdout().lock();
    match fs::read_to_string(&summary) {
        Ok(text) => {
            let _ = writeln!(out, "\n----- {} -----\n{text}", summary.display());
        }
        Err(e) => {
            let _ = writeln!(out, "\n(no summary: {}: {e})", summary.display());
        }
    }
    let _ = out.flush();
    write_file(&status_file, &format!("{code}\n"))
        .map_err(|e| format!("cannot write {}: {e}", status_file.display()))?;
    let verdict = match code {
        0 => "PASS",
        1 => "FAIL",
        _ => "ERROR",
    };
    let kept = if code == 0 || code == 1 {
        "report.xml, report.json, summary.md, repro/"
    } else {
        "no report: see error"
    };
    log(&format!(
        "node {node}: {verdict} (cni-conform exit status {code}); reports in {} ({kept})",
        dir.display()
    ));
    Ok(code)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cni-conform-node: {e}");
            return ExitCode::from(2);
        }
    };
    if options.done() {
        let status_file = options.report_dir.join("exit-status");
        return if status_file.is_file() {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "cni-conform-node: {} not written yet",
                status_file.display()
            );
            ExitCode::FAILURE
        };
    }
    let code = match run_suite(&options) {
        Ok(code) => code,
        Err(e) => {
            log(&e);
            if options.exit {
                return ExitCode::from(2);
            }
            2
        }
    };
    if options.exit {
        return ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX));
    }
    log("waiting for SIGTERM (the reports stay until the pod goes)");
    wait_for_termination();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse_line(s: &str) -> Result<Options, String> {
        parse(std::iter::once("cni-conform-node".to_owned()).chain(args(s)))
    }

    #[test]
    fn suite_arguments_follow_the_double_dash() {
        let o = parse_line("--report-dir /r --node n1 --exit -- run --filter chained").unwrap();
        assert_eq!(o.report_dir, PathBuf::from("/r"));
        assert_eq!(o.node.as_deref(), Some("n1"));
        assert!(o.exit && !o.done());
        assert!(parse_line("done --report-dir /r").unwrap().done());
        assert_eq!(o.run_args, args("run --filter chained"));
    }

    #[test]
    fn the_report_folder_is_ours_to_give() {
        let e = parse_line("-- run --report-dir /x").unwrap_err();
        assert!(e.contains("give --report-dir before --"), "{e}");
        let e = parse_line("--filter x").unwrap_err();
        assert!(e.contains("--filter"), "{e}");
    }

    #[test]
    fn a_suite_that_cannot_start_is_status_127_and_still_recorded() {
        // Test binaries run from target/<profile>/deps/, where no file is named `cni-conform`.
        let tmp = tempfile::tempdir().unwrap();
        let options = Options {
            query: None,
            report_dir: tmp.path().join("reports"),
            node: Some("node-x".into()),
            exit: true,
            run_args: vec!["--no-such-flag-for-this-test".into()],
        };
        let code = run_suite(&options).unwrap();
        assert_eq!(code, 127);
        let dir = &options.report_dir;
        assert_eq!(fs::read_to_string(dir.join("node")).unwrap(), "node-x\n");
        assert_eq!(
            fs::read_to_string(dir.join("exit-status")).unwrap(),
            format!("{code}\n")
        );
        let error = fs::read_to_string(dir.join("error")).unwrap();
        assert!(error.starts_with("cannot start "), "{error}");
    }

    #[test]
    fn an_earlier_runs_reports_do_not_survive_a_rerun() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("reports");
        fs::create_dir_all(dir.join("repro")).unwrap();
        for name in [
            "report.json",
            "report.xml",
            "summary.md",
            "repro/x@1.0.0-1.sh",
        ] {
            fs::write(dir.join(name), "old").unwrap();
        }
        fs::write(dir.join("exit-status"), "0\n").unwrap();
        let options = Options {
            query: None,
            report_dir: dir.clone(),
            node: Some("node-x".into()),
            exit: true,
            run_args: vec![],
        };
        assert_eq!(run_suite(&options).unwrap(), 127);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["error", "exit-status", "node"]);
    }
}
