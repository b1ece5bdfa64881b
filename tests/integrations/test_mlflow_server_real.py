"""A real ``mlflow server`` (the full ``mlflow`` package, in its own cached tool env built by
tests/tooling/envs.py, bound to 127.0.0.1, started and stopped by PID here): ``pipespec run``
of a small spec with ``tracking.mlflow.uri: http://127.0.0.1:PORT``, read back through MLflow's
own client over HTTP — the parent and nested runs, metrics, tags, the registered version with
its ``champion`` alias and its link back to the run; a second, cached run adds no version; and
``pipespec exec`` under a parent opened through the client (as a target does) adds its nested
run on the same server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from servers import mlflow_server

pytestmark = pytest.mark.slow
pytest.importorskip("mlflow")

SPEC = """\
pipespec: 1
name: churn
steps:
  train:
    foreach: [forest, logreg]
    call: steps:train
    with: {kind: "${{ item }}"}
    outputs: {scores: metrics}
  fit:
    call: steps:fit
    outputs: {model: model}
tracking:
  mlflow:
    experiment: churn-server
    uri: URI
    register: [{step: fit, output: model, model: churn, alias: champion}]
"""

STEPS = """\
import json, os


def train(kind, scores):
    with open(scores, "w") as f:
        json.dump({"auc": 0.9 if kind == "forest" else 0.7}, f)


def fit(model):
    os.makedirs(model)
    with open(os.path.join(model, "weights.txt"), "w") as f:
        f.write("w")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def _env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "PIPESPEC_")) and k != "GITHUB_OUTPUT"}


def test_run_and_exec_tracked_on_a_real_mlflow_server(server, tmp_path):
    from mlflow.tracking import MlflowClient

    (tmp_path / "pipeline.yaml").write_text(SPEC.replace("URI", server))
    (tmp_path / "steps.py").write_text(STEPS)
    cmd = [sys.executable, "-m", "pipespec", "run", "pipeline.yaml", "--progress", "plain"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr + r.stdout

    c = MlflowClient(server)
    eid = c.get_experiment_by_name("churn-server").experiment_id
    runs = c.search_runs([eid])
    [parent] = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    assert parent.info.status == "FINISHED" and parent.data.tags["pipespec.target"] == "local"
    pipespec_run = parent.data.tags["pipespec.run_id"]
    kids = {x.info.run_name: x for x in runs if x.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(kids) == {"train[forest]", "train[logreg]", "fit"}
    assert kids["train[forest]"].data.metrics == {"auc": 0.9} and kids["train[logreg]"].data.metrics == {"auc": 0.7}
    assert kids["train[logreg]"].data.params == {"item": "logreg"}
    assert all(k.info.status == "FINISHED" and k.data.tags["pipespec.run_id"] == pipespec_run
               and k.data.tags["pipespec.spec_digest"] == parent.data.tags["pipespec.spec_digest"]
               for k in kids.values())
    v = c.get_model_version_by_alias("churn", "champion")
    assert str(v.version) == "1" and v.run_id == kids["fit"].info.run_id
    assert v.tags["pipespec.run_id"] == pipespec_run
    assert v.source.startswith("models:/m-")           # the version's source: a LoggedModel of that run
    model = c.get_logged_model(v.model_id or v.source[len("models:/"):])
    assert model.source_run_id == kids["fit"].info.run_id and model.name == "model"

    # a second run: every step cached, so no new version (the alias stays on version 1)
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr + r.stdout
    assert [str(x.version) for x in c.search_model_versions("name = 'churn'")] == ["1"]
    assert len([x for x in c.search_runs([eid]) if "mlflow.parentRunId" not in x.data.tags]) == 2

    # a worker's exec under a parent the target opened, on the same server
    target_parent = c.create_run(eid, run_name="churn", tags={"pipespec.target": "airflow"}).info.run_id
    env = {**_env(), "PIPESPEC_TRACKING_PARENT": target_parent, "PIPESPEC_TARGET": "airflow"}
    r = subprocess.run([sys.executable, "-m", "pipespec", "exec", "pipeline.yaml", "--step", "train",
                        "--item-index", "1", "--run-id", "af-1"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    [leg] = c.search_runs([eid], f"tags.`mlflow.parentRunId` = '{target_parent}'")
    assert leg.info.run_name == "train[logreg]" and leg.info.status == "FINISHED"
    assert leg.data.metrics == {"auc": 0.7} and leg.data.tags["pipespec.target"] == "airflow"
    assert leg.data.tags["pipespec.run_id"] == "af-1"
