#!/usr/bin/env python3
"""Tests deploy/collect-reports on report folders made by real runs of cni-conform-node (made by
deploy/check): RUNS/pass (the reference vlan, exit 0), RUNS/fail (upstream's vlan, which has no
chaining: exit 1 with --require-feature chaining), RUNS/unsupported (the same without it: exit 0,
chaining unsupported) and RUNS/error (a bad cni-conform argument: exit 2).

  collect_reports.py RUNS

Checks the node x verdict table and exit status of --summarize, an unfinished node (a real
folder without its exit-status), and the kubectl path with a fake kubectl (there is no cluster
here) that serves those folders as pods, one of whose copies fails."""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

COLLECT = pathlib.Path(__file__).resolve().parent.parent / "collect-reports"

FAKE_KUBECTL = r'''#!/usr/bin/env python3
# Stands in for kubectl: pods are the folders of $FAKE_PODS (nodeName from their `node` file).
import json, os, pathlib, shutil, sys
pods = pathlib.Path(os.environ["FAKE_PODS"])
args = sys.argv[1:]
with open(pods.parent / "kubectl.log", "a") as log:
    log.write(" ".join(args) + "\n")
if args[:2] == ["get", "pods"]:
    items = [{"metadata": {"name": p.name},
              "spec": {"nodeName": (p / "node").read_text().strip()
                       if (p / "node").is_file() else p.name}}
             for p in sorted(pods.iterdir())]
    print(json.dumps({"items": items}))
elif args[0] == "cp":
    source, target = args[-2], args[-1]
    pod, _, path = source.partition(":")
    assert path == "/reports", path
    if (pods / pod / "_cp_fails").is_file():
        sys.exit("error: unable to upgrade connection: container not found (\"conform\")")
    shutil.copytree(pods / pod, target)
else:
    sys.exit("fake kubectl: unexpected arguments %r" % args)
'''


def collect(*args, env=None):
    return subprocess.run([sys.executable, str(COLLECT), *args], capture_output=True, text=True,
                          env=env)


def table(output):
    """node -> row cells, from the Markdown table."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("node", "---"):
            rows[cells[0]] = cells
    return rows


def check(condition, message, output=""):
    if not condition:
        sys.exit("collect_reports: %s\n%s" % (message, output))


def main():
    runs = pathlib.Path(sys.argv[1])
    for name, status in (("pass", "0"), ("fail", "1"), ("unsupported", "0"), ("error", "2")):
        got = (runs / name / "exit-status").read_text().strip()
        check(got == status, "the real run %s ended with status %s, not %s" % (name, got, status))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        out = tmp / "out"
        for name in ("pass", "fail", "unsupported", "error"):
            shutil.copytree(runs / name, out / name)
        shutil.copytree(runs / "pass", out / "running")
        (out / "running" / "exit-status").unlink()
        (out / "running" / "node").write_text("node-running\n")
        result = collect("--summarize", str(out))
        text = result.stdout
        check(result.returncode == 1, "exit %d with failing nodes, expected 1" % result.returncode,
              text + result.stderr)
        rows = table(text)
        check(set(rows) == {"node-pass", "node-fail", "node-unsupported", "node-error",
                            "node-running"},
              "rows: %s" % sorted(rows), text)
        p = rows["node-pass"]
        check(p[1] == "PASS" and p[3] == "0" and int(p[2]) >= 1, "pass row: %s" % p, text)
        f = rows["node-fail"]
        check(f[1] == "FAIL" and int(f[3]) >= 1, "fail row: %s" % f, text)
        check("chained-seed@1.0.0" in text, "the failing case of node-fail is not listed", text)
        u = rows["node-unsupported"]
        check(u[1] == "PASS" and u[2] == "0" and u[3] == "0" and u[7] == "1 unsupported",
              "unsupported row (a PASS that says what was declined): %s" % u, text)
        check(rows["node-error"][1] == "ERROR" and "exit status 2: " in rows["node-error"][7]
              and "9.9" in rows["node-error"][7],
              "error row: %s" % rows["node-error"], text)
        check(rows["node-running"][1] == "UNFINISHED", "running row: %s" % rows["node-running"],
              text)
        check(p[6].endswith(")") and "(" in p[6], "kernel column: %s" % p[6], text)
        check((out / "summary.md").read_text() == text, "summary.md differs from the output")
        print(text)

        only_pass = tmp / "only-pass"
        shutil.copytree(runs / "pass", only_pass / "pass")
        result = collect("--summarize", str(only_pass))
        check(result.returncode == 0, "exit %d when every node passed" % result.returncode,
              result.stdout + result.stderr)

        # kubectl path, with the fake kubectl.
        pods = tmp / "pods"
        shutil.copytree(runs / "pass", pods / "cni-conform-aaaaa")
        shutil.copytree(runs / "fail", pods / "cni-conform-bbbbb")
        (pods / "cni-conform-ccccc").mkdir(parents=True)
        (pods / "cni-conform-ccccc" / "node").write_text("node-gone\n")
        (pods / "cni-conform-ccccc" / "_cp_fails").write_text("")
        kubectl = tmp / "kubectl"
        kubectl.write_text(FAKE_KUBECTL)
        kubectl.chmod(0o755)
        env = {"FAKE_PODS": str(pods), "PATH": "/usr/bin:/bin"}
        fetched = tmp / "fetched"
        result = collect("--kubectl", str(kubectl), "-o", str(fetched), env=env)
        rows = table(result.stdout)
        check(result.returncode == 1, "fetch: exit %d, expected 1" % result.returncode,
              result.stdout + result.stderr)
        check({k: v[1] for k, v in rows.items()} ==
              {"node-pass": "PASS", "node-fail": "FAIL", "node-gone": "FETCH-FAILED"},
              "fetch: verdicts %s" % rows, result.stdout + result.stderr)
        check((fetched / "node-pass" / "report.json").is_file()
              and (fetched / "node-fail" / "report.xml").is_file(),
              "fetch: the reports are not in OUT/<node>/")
        log = (tmp / "kubectl.log").read_text()
        check("get pods -n cni-vlan -l app.kubernetes.io/name=cni-conform -o json" in log
              and "cp -n cni-vlan -c conform cni-conform-aaaaa:/reports" in log,
              "fetch: kubectl was called as %r" % log)
        again = collect("--kubectl", str(kubectl), "-o", str(fetched), env=env)
        check(again.returncode != 0 and "exists already" in again.stderr,
              "fetch into a used folder must refuse", again.stdout + again.stderr)
    print("collect_reports: node x verdict table right for real pass/fail/unsupported/error "
          "runs, an unfinished node, and the kubectl path (fake kubectl)")


if __name__ == "__main__":
    main()
