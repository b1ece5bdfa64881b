"""``tracking.mlflow`` on the local runner, with the real MLflow client and a real SQLite
tracking store, read back through MLflow's own client: one parent run per pipeline run, a
nested run per step instance (fan-out legs named by item) with its metrics, tags, the step's
own ``mlflow.log_metric`` landing in the pipeline's run (MLFLOW_RUN_ID reached the step), and a
registered version with its ``champion`` alias whose run is the training step's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow               # MLflow's import and first migration take ~15 s
mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

SPEC = """\
pipespec: 1
name: churn
params:
  fail: {type: bool, default: false}
steps:
  train:
    foreach: [forest, logreg]
    call: steps:train
    with: {kind: "${{ item }}"}
    outputs: {scores: metrics}
  fit:
    call: steps:fit
    with: {fail: "${{ params.fail }}"}
    outputs: {model: model}
tracking:
  mlflow:
    experiment: churn-exp
    register: [{step: fit, output: model, model: churn, alias: champion}]
"""

STEPS = """\
import json, os

import mlflow


def train(kind, scores):
    with open(scores, "w") as f:
        json.dump({"auc": 0.9 if kind == "forest" else 0.7}, f)


def fit(fail, model):
    if fail:
        raise SystemExit(1)
    os.makedirs(model)
    with open(os.path.join(model, "weights.txt"), "w") as f:
        f.write("w")
    mlflow.log_metric("from_step_code", 42.0)        # attaches to MLFLOW_RUN_ID: the pipeline's run
"""


def _run(folder, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "GITHUB_OUTPUT"}
    return subprocess.run([sys.executable, "-m", "pipespec", "run", "pipeline.yaml", "--progress", "plain", *args],
                          cwd=folder, capture_output=True, text=True, timeout=300, env=env)


def test_runs_metrics_registry_and_alias_read_back(tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    r = _run(tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr + r.stdout
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{tmp_path / '.pipespec' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("churn-exp")
    runs = c.search_runs([exp.experiment_id])
    parents = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    assert len(parents) == 1                    # one run per pipeline run, not one per step process
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["pipespec.target"] == "local" and len(parent.data.tags["pipespec.spec_digest"]) == 64
    assert parent.data.params == {"fail": "false"}
    assert parent.data.metrics["from_step_code"] == 42.0
    pipespec_run = parent.data.tags["pipespec.run_id"]
    children = {x.info.run_name: x for x in runs if x.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"train[forest]", "train[logreg]", "fit"}
    assert children["train[forest]"].data.metrics == {"auc": 0.9}
    assert children["train[logreg]"].data.params == {"item": "logreg"}
    assert all(x.info.status == "FINISHED" and x.data.tags["pipespec.run_id"] == pipespec_run
               for x in children.values())
    v = c.get_model_version_by_alias("churn", "champion")
    assert str(v.version) == "1" and v.run_id == children["fit"].info.run_id
    assert v.tags["pipespec.run_id"] == pipespec_run

    r = _run(tmp_path, "-p", "fail=true")       # a failed run is FAILED in MLflow, not FINISHED
    assert r.returncode == 1
    runs = c.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
    latest = next(x for x in runs if "mlflow.parentRunId" not in x.data.tags)
    assert latest.info.status == "FAILED" and latest.info.run_id != parent.info.run_id
    fit = next(x for x in runs if x.data.tags.get("mlflow.parentRunId") == latest.info.run_id
               and x.info.run_name == "fit")
    assert fit.info.status == "FAILED"
    assert str(c.get_model_version_by_alias("churn", "champion").version) == "1"    # still the good one


def test_an_unreachable_tracking_server_is_a_warning(tmp_path):
    from servers import free_port

    spec = SPEC.replace("experiment: churn-exp", f"experiment: churn-exp\n    uri: http://127.0.0.1:{free_port()}")
    (tmp_path / "pipeline.yaml").write_text(spec)
    (tmp_path / "steps.py").write_text(STEPS.replace('    mlflow.log_metric("from_step_code", 42.0)', "    pass"))
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pipespec: warning: MLflow at http://127.0.0.1 cannot be used" in r.stderr


def test_resume_continues_the_runs_mlflow_run(tmp_path):
    """Found: `pipespec resume` opened a second MLflow parent run for the same pipespec run.
    A resumed run is one run: its parent MLflow run is reopened and ends with the resume's
    status, and each step instance has one nested run (those the resume reused are not logged
    again)."""
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS.replace("    if fail:\n", "    if fail or not os.path.exists('ok'):\n"))
    r = _run(tmp_path)
    assert r.returncode == 1, r.stderr + r.stdout
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{tmp_path / '.pipespec' / 'mlflow.db'}")
    eid = c.get_experiment_by_name("churn-exp").experiment_id
    [first] = [x for x in c.search_runs([eid]) if "mlflow.parentRunId" not in x.data.tags]
    assert first.info.status == "FAILED"
    (tmp_path / "ok").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "GITHUB_OUTPUT"}
    rid = first.data.tags["pipespec.run_id"]
    r = subprocess.run([sys.executable, "-m", "pipespec", "resume", rid, "--progress", "plain"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr + r.stdout
    runs = c.search_runs([eid])
    parents = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    assert [p.info.run_id for p in parents] == [first.info.run_id]          # the same run, reopened
    assert parents[0].info.status == "FINISHED"
    children = [x.info.run_name for x in runs if x.data.tags.get("mlflow.parentRunId") == first.info.run_id]
    assert sorted(children) == ["fit", "fit", "train[forest]", "train[logreg]"], children   # fit: failed, then ran
    assert str(c.get_model_version_by_alias("churn", "champion").version) == "1"
