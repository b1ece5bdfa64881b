"""Helpers for pytest: verify / run a generated file with the REAL target tools.

Each function ensures its cached env (tests/tooling/envs.py; built on first use, ~15-25 s), runs
the matching script inside it in a subprocess and returns the script's parsed JSON report
(always with "ok", "errors", "warnings"), plus "_returncode", "_seconds" and "_stderr" (tail).

    from tests.tooling import verify          # or, inside tests/tooling: from . import verify
    rep = verify.airflow_check("out/dag.py"); assert rep["ok"], rep["errors"]

A script that crashes without printing its JSON raises ToolingError (stderr included).
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping

HERE = Path(__file__).resolve().parent
try:
    from . import envs  # imported as a package module (tests.tooling.verify / tooling.verify)
except ImportError:  # imported as a plain module with tests/tooling on sys.path
    sys.path.insert(0, str(HERE))
    import envs  # type: ignore  # noqa: E402

__all__ = ["ToolingError", "airflow_check", "airflow_run", "kfp_check", "kfp_local_run",
           "github_check", "act_run", "ensure", "tool_environ"]

ensure = envs.ensure


class ToolingError(RuntimeError):
    pass


def tool_environ(env_dir: Path) -> dict[str, str]:
    """The environment a tooling script (and every task or job it starts) runs with: the env's
    bin/ first on PATH, so `airflow`, `act` and (with_pipespec) `pipespec` resolve there; after
    it the test run's PATH, whose first entry is the running venv's scripts (tests/conftest.py)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(env_dir) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(env_dir)
    env.pop("PYTHONPATH", None)  # never leak the caller's sys.path into the target env
    env.pop("PYTHONHOME", None)
    return env


def _run_script(env_name: str, script: str, args: list[str], *, with_pipespec: bool = False,
                timeout: float = 900, cwd: str | None = None) -> dict:
    env_dir = envs.ensure(env_name, with_pipespec=with_pipespec, quiet=True)
    py = envs.env_python(env_dir)
    env = tool_environ(env_dir)
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(py), str(HERE / script), *args], capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise ToolingError(f"{script} timed out after {timeout} s") from exc
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise ToolingError(f"{script} printed no JSON report (rc={r.returncode}).\n"
                           f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}") from None
    report["_returncode"] = r.returncode
    report["_seconds"] = round(time.monotonic() - t0, 2)
    report["_stderr"] = r.stderr[-4000:]
    return report


_scratch: list[str] = []


def _workdir(workdir, prefix: str) -> str:
    """The caller's folder, else a fresh one under one scratch folder of this process, removed at
    exit (reports name files inside it, so it lives as long as the test run)."""
    if workdir is not None:
        return str(workdir)
    if not _scratch:
        _scratch.append(tempfile.mkdtemp(prefix="pipespec-tooling-runs-"))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return tempfile.mkdtemp(prefix=prefix, dir=_scratch[0])


def airflow_check(path, *, known_pools=None) -> dict:
    """DagBag-load a DAG file or folder. Report: dags{dag_id: {tasks{id: operator, trigger_rule,
    upstream, retries, pool, queue, owner, ...}, params{name: {schema, default}}, schedule,
    timetable, owner, tags, max_active_runs, dagrun_timeout}}, import_errors, captured_warnings,
    dag_warnings (with ``known_pools``: the DAGs using a pool not in it)."""
    args = [str(path)] + (["--known-pools", ",".join(known_pools)] if known_pools is not None else [])
    return _run_script("airflow", "check_airflow.py", args, timeout=300)


def airflow_run(dag_file, dag_id: str, conf: Mapping | None = None, *, workdir=None,
                timeout: float = 600, with_pipespec: bool = False) -> dict:
    """`airflow dags test` in a throwaway AIRFLOW_HOME. Report: states{"task"|"task[i]": state},
    xcom{"task"|"task[i]": {key: value}}, tries, run_state, returncode, output_tail."""
    args = [str(dag_file), dag_id, "--workdir", _workdir(workdir, "pipespec-airflow-run-"),
            "--timeout", str(timeout)]
    if conf is not None:
        args += ["--conf", json.dumps(conf)]
    return _run_script("airflow", "run_airflow.py", args, with_pipespec=with_pipespec,
                       timeout=timeout + 120)


def kfp_check(path) -> dict:
    """Strict proto parse + kfp load + semantic/CEL checks of a KFP IR YAML."""
    return _run_script("kfp", "check_kfp.py", [str(path)], timeout=300)


def kfp_local_run(ir_path, args: Mapping | None = None, *, workdir=None, timeout: float = 900,
                  with_pipespec: bool = False) -> dict:
    """Run the IR with kfp.local SubprocessRunner(use_venv=False). Report: outputs{pipeline
    output: value}, tasks{"task" | "for-loop-1-iteration-0/task": {parameters, artifacts}}."""
    a = [str(ir_path), "--args", json.dumps(dict(args or {})),
         "--workdir", _workdir(workdir, "pipespec-kfp-run-")]
    return _run_script("kfp", "run_kfp_local.py", a, with_pipespec=with_pipespec, timeout=timeout)


def github_check(path, *, skip: Iterable[str] = ()) -> dict:
    """GitHub's parser + check-jsonschema + actionlint. Report: checkers{parser|schema|actionlint:
    {ok, errors, seconds}}, errors prefixed by checker name, jobs[{id, needs}]."""
    a = [str(path)]
    if skip:
        a += ["--skip", ",".join(skip)]
    return _run_script("github", "check_github.py", a, timeout=300)


def act_run(workflow, inputs: Mapping | None = None, *, workdir=None, timeout: float = 600,
            files: Iterable[str] = (), event: str = "workflow_dispatch", secret_file=None,
            env: Mapping | None = None) -> dict:
    """Run with nektos/act on the host (self-hosted). Report: jobs{id: success|failure|skipped},
    legs{"job (k=v)": result}, job_outputs{job: {name: value}}, step_outputs, returncode."""
    a = [str(workflow), "--workdir", _workdir(workdir, "pipespec-act-run-"), "--event", event,
         "--timeout", str(timeout)]
    for k, v in (inputs or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        a += ["--input", f"{k}={v}"]
    for f in files:
        a += ["--file", str(f)]
    if secret_file is not None:
        a += ["--secret-file", str(secret_file)]
    for k, v in (env or {}).items():
        a += ["--env", f"{k}={v}"]
    return _run_script("github", "run_act.py", a, timeout=timeout + 60)
