"""What the real-Airflow tests share: compiling a spec to a DAG file, a throwaway copy of the
churn example, and the local runner's view of a run (`pipespec run`) to compare Airflow with.

Used by tests/backends/test_airflow_real.py (`airflow dags test`) and
tests/backends/test_airflow_scheduler.py (a real scheduler; the deployment: airflow_deployment.py).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

from support import ROOT

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.base import CompileOptions
from pipespec.frontend import load_spec

CHURN_SPEC = "specs/churn/pipeline.yaml"   # inside a project copy

# Airflow task states -> the local runner's step statuses
AIRFLOW_TO_LOCAL = {"success": "succeeded", "failed": "failed", "skipped": "skipped",
                    "upstream_failed": "not_run"}


def compile_dag(spec: pathlib.Path, dest: pathlib.Path, spec_path: str | None = None) -> None:
    """Compile ``spec`` for Airflow into ``dest`` (the DAG names ``spec_path``, default ``spec``)."""
    res = load_spec(str(spec))
    assert res.ok
    r = AirflowBackend().compile(res.pipeline, CompileOptions(spec_path or str(spec), str(dest)))
    assert r.ok, [d.message for d in r.diagnostics]
    dest.write_text(r.text, encoding="utf-8")


def copy_churn(proj: pathlib.Path) -> pathlib.Path:
    """A copy of the churn example under ``proj`` (no run store, no model registry); its spec."""
    shutil.copytree(ROOT / "specs" / "churn", proj / "specs" / "churn",
                    ignore=shutil.ignore_patterns(".pipespec", "registry", "__pycache__"))
    return proj / CHURN_SPEC


def local_run(spec: pathlib.Path, store: pathlib.Path, params: dict, *, expect: int = 0,
              timeout: float = 600) -> dict:
    """`pipespec run` of ``spec`` (no cache) into a fresh ``store``. Returns {"status": the run's
    final status, "run_dir": its results folder, "steps": {"step" | "step[i]": {"status",
    "attempts", "values", "metrics"}}} from the run's records."""
    from pipespec.runner.records import Records

    cmd = ["pipespec", "run", str(spec), "--store", str(store), "--no-cache", "--progress", "plain",
           "--params-json", json.dumps(params)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == expect, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    rec = Records(str(store))
    try:
        [run] = rec.db.execute("SELECT id, status FROM runs").fetchall()
        steps = {}
        for x in rec.executions(run["id"]):
            label = x["step"] if x["item_index"] < 0 else f"{x['step']}[{x['item_index']}]"
            steps[label] = {"status": x["status"], "attempts": x["attempts"],
                            "values": json.loads(x["values_json"] or "{}"),
                            "metrics": json.loads(x["metrics_json"] or "{}")}
    finally:
        rec.close()
    return {"status": run["status"], "run_dir": store / "runs" / run["id"], "steps": steps}


def local_metrics(run_dir: pathlib.Path) -> dict:
    """The churn run's evaluate metrics and monitor report, read from its results folder."""
    return {step: json.loads((run_dir / step / "_" / output).read_text())
            for step, output in (("evaluate", "metrics"), ("monitor", "report"))}
