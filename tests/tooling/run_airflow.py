#!/usr/bin/env python
"""Run one DAG end to end with the real Airflow 3 (`airflow dags test`) and report per-task states.

Runs INSIDE the `airflow` env (tests/tooling/envs.py). Usage:
    <airflow-env>/bin/python tests/tooling/run_airflow.py DAG_FILE DAG_ID [--conf JSON]
        [--workdir DIR] [--timeout SECONDS] [--keep-logs]

A throwaway AIRFLOW_HOME (SQLite) under --workdir (default: a new tempdir), the DAG file copied
into its own dags folder, `airflow db migrate`, `airflow dags test DAG_ID -c CONF`, then the
task-instance states and XComs read back from the metadata DB through Airflow's ORM.

Prints JSON: {"ok", "errors", "warnings", "returncode", "run_id", "run_state",
              "states": {"task" | "task[3]": state},
              "xcom": {"task" | "task[3]": {key: value}},
              "tries": {"task" | "task[3]": try_number},
              "output_tail": "...last lines of dags test output..."}
`ok` means: dags test exited 0. Check each task's state yourself (a failed task does not fail the
run when an all_done leaf succeeds). Exit code: 0 if ok else 1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _airflow_env(home: Path, dags: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _airflow_cmd(args: list[str]) -> list[str]:
    # the `airflow` console script next to this interpreter (the env's bin/)
    exe = Path(sys.executable).parent / "airflow"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "airflow", *args]


def _label(task_id: str, map_index: int) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


def _read_results(dag_id: str) -> dict:
    # imported only now: AIRFLOW_HOME etc. are already set in os.environ
    from sqlalchemy import select

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    out: dict = {"run_id": None, "run_state": None, "states": {}, "xcom": {}, "tries": {}}
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id)).all()
        if not runs:
            return out
        dr = runs[-1]
        out["run_id"] = dr.run_id
        out["run_state"] = str(getattr(dr.state, "value", dr.state))
        tis = session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dr.run_id)).all()
        for ti in sorted(tis, key=lambda t: (t.task_id, t.map_index)):
            lbl = _label(ti.task_id, ti.map_index)
            out["states"][lbl] = None if ti.state is None else str(getattr(ti.state, "value", ti.state))
            out["tries"][lbl] = ti.try_number
        rows = session.scalars(select(XComModel).where(
            XComModel.dag_id == dag_id, XComModel.run_id == dr.run_id)).all()
        for row in sorted(rows, key=lambda r: (r.task_id, r.map_index, r.key)):
            try:
                val = XComModel.deserialize_value(row)
            except Exception:  # pragma: no cover
                val = row.value
            try:
                json.dumps(val)
            except (TypeError, ValueError):
                val = repr(val)
            out["xcom"].setdefault(_label(row.task_id, row.map_index), {})[row.key] = val
    return out


def run(dag_file: str, dag_id: str, conf: str | None, workdir: str | None, timeout: float) -> dict:
    errors: list[str] = []
    base = Path(workdir or tempfile.mkdtemp(prefix="pipespec-airflow-run-")).resolve()
    home, dags = base / "airflow_home", base / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy2(dag_file, dags / Path(dag_file).name)
    env = _airflow_env(home, dags)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    log = base / "airflow-run.log"
    report: dict = {"workdir": str(base), "log": str(log)}
    with open(log, "w") as fh:
        r = subprocess.run(_airflow_cmd(["db", "migrate"]), env=env, stdout=fh, stderr=subprocess.STDOUT,
                           timeout=timeout)
        if r.returncode != 0:
            errors.append(f"airflow db migrate failed ({r.returncode}); see {log}")
            return {"ok": False, "errors": errors, "warnings": [], "returncode": r.returncode, **report}
        cmd = ["dags", "test", dag_id]
        if conf:
            cmd += ["-c", conf]
        try:
            r = subprocess.run(_airflow_cmd(cmd), env=env, stdout=fh, stderr=subprocess.STDOUT,
                               timeout=timeout)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = -9
            errors.append(f"airflow dags test timed out after {timeout} s")
    text = log.read_text(errors="replace")
    report["output_tail"] = "\n".join(text.splitlines()[-40:])
    if rc != 0 and not errors:
        errors.append(f"airflow dags test exited {rc}")
    for marker in ("ParamValidationError", "could not be found", "Traceback"):
        if marker in text and rc != 0:
            errors.append(f"log mentions {marker}")
    report.update(_read_results(dag_id))
    return {"ok": rc == 0 and not errors, "errors": errors, "warnings": [], "returncode": rc, **report}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dag_file")
    ap.add_argument("dag_id")
    ap.add_argument("--conf", "-c", default=None, help="JSON run conf (params)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args(argv)
    if a.conf:
        json.loads(a.conf)  # fail early on bad JSON
    from _report import emit, json_stdout
    out = json_stdout()
    report = run(a.dag_file, a.dag_id, a.conf, a.workdir, a.timeout)
    return emit(out, report)


if __name__ == "__main__":
    sys.exit(main())
