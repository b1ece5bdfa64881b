#!/usr/bin/env python
"""Execute a KFP v2 IR YAML for real with kfp.local (SubprocessRunner, no venv per task).

Runs INSIDE the `kfp` env (tests/tooling/envs.py). Usage:
    <kfp-env>/bin/python tests/tooling/run_kfp_local.py IR_YAML [--args JSON] --workdir DIR [--runner docker]

kfp.local only runs Lightweight Python Components (the command must run
`kfp.dsl.executor_main`); container components are refused. Tasks run with THIS interpreter
(use_venv=False), so whatever a task imports (e.g. pipespec) must be installed in the kfp env.

Prints JSON: {"ok", "errors", "warnings", "outputs": {pipeline output: value},
              "tasks": {task dir name: {"parameters": {...}, "artifacts": {...}}},
              "pipeline_root": DIR, "seconds": n}
Artifacts are reported as {"uri", "path", "metadata", "schema_title"}.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path


def _jsonable(v):
    if hasattr(v, "uri") and hasattr(v, "metadata"):  # kfp dsl Artifact
        return {"uri": getattr(v, "uri", None), "path": getattr(v, "path", None),
                "metadata": _jsonable(dict(getattr(v, "metadata", {}) or {})),
                "schema_title": getattr(v, "schema_title", None)}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


def _task_outputs(root: Path) -> dict:
    """Per-task outputs as written under the pipeline root by kfp.local's executor.

    Layout (kfp 2.17): <root>/<pipeline-name>-<timestamp>/<task>/executor_output.json, loop
    iterations as <root>/<run>/for-loop-1-iteration-<i>/<task>/...; output artifacts are files or
    dirs named after the output beside executor_output.json. Keys are the path below the run dir,
    e.g. "total" or "for-loop-1-iteration-0/square".
    """
    tasks: dict = {}
    if not root.exists():
        return tasks
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        return tasks
    run_dir = runs[-1]
    for eo in sorted(run_dir.rglob("executor_output.json")):
        tdir = eo.parent
        entry: dict = {"parameters": {}, "artifacts": {}}
        try:
            data = json.loads(eo.read_text())
            entry["parameters"] = data.get("parameterValues", {})
            for k, v in (data.get("artifacts") or {}).items():
                entry["artifacts"][k] = [{"uri": a.get("uri"), "metadata": a.get("metadata", {})}
                                         for a in (v.get("artifacts") or [])]
        except ValueError:
            pass
        for f in sorted(tdir.iterdir()):
            if f.name != "executor_output.json" and f.name not in entry["artifacts"]:
                entry["artifacts"][f.name] = [{"uri": str(f), "metadata": {}}]
        tasks[str(tdir.relative_to(run_dir))] = entry
    return tasks


def run(ir: str, args: dict, workdir: str, runner: str = "subprocess") -> dict:
    errors: list[str] = []
    root = Path(workdir).resolve() / "pipeline_root"
    root.mkdir(parents=True, exist_ok=True)
    os.chdir(Path(workdir).resolve())  # kfp.local writes some files relative to cwd
    from kfp import components, local

    t0 = time.monotonic()
    # docker: every task in its component's image, in a container (needs the `docker` package
    # and DOCKER_HOST; tests/containers); subprocess: with this interpreter
    chosen = local.DockerRunner() if runner == "docker" else local.SubprocessRunner(use_venv=False)
    local.init(runner=chosen, pipeline_root=str(root), raise_on_error=True)
    comp = components.load_component_from_file(ir)
    outputs: dict = {}
    try:
        task = comp(**args)
        outs = getattr(task, "outputs", None)
        if isinstance(outs, dict):
            outputs = {k: _jsonable(v) for k, v in outs.items()}
        elif outs is not None:
            outputs = {"Output": _jsonable(outs)}
    except Exception as exc:
        errors.append(re.sub(r"\x1b\[[0-9;]*m", "", f"kfp.local: {type(exc).__name__}: {exc}"))
        errors.append("traceback: " + "".join(traceback.format_exception(exc))[-3000:])
    return {"ok": not errors, "errors": errors, "warnings": [], "outputs": outputs,
            "tasks": _task_outputs(root), "pipeline_root": str(root),
            "seconds": round(time.monotonic() - t0, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ir")
    ap.add_argument("--args", default="{}", help="JSON object of pipeline arguments")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runner", choices=("subprocess", "docker"), default="subprocess")
    a = ap.parse_args(argv)
    ir = str(Path(a.ir).resolve())
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    from _report import emit, json_stdout
    out = json_stdout()
    report = run(ir, json.loads(a.args), a.workdir, a.runner)
    report["log_hint"] = "task logs go to stderr"
    return emit(out, report)


if __name__ == "__main__":
    sys.exit(main())
