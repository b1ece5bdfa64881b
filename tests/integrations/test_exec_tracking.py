"""``pipespec exec`` on a worker, under a parent MLflow run a target opened and handed over in
``$PIPESPEC_TRACKING_PARENT``: the real MLflow client and a real SQLite tracking store, the
parent created here through MLflow's own client (as a target does), everything read back
through it. Each step instance is one nested run (a fan-out leg named by its item) with its
metrics, tags and status; ``call:`` code's plain ``mlflow.log_metric`` lands in the nested run
(MLFLOW_RUN_ID reached it); the registered version's run is the step's nested run and the alias
points at it; a retry of the same instance (a new exec process) reopens its one nested run; a
timeout ends it KILLED; an outage is a warning; without the parent, exec says nothing of MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow               # every exec imports MLflow (~3 s)
mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

SPEC = """\
pipespec: 1
name: churn
params:
  rows: {type: int, default: 100}
steps:
  score:
    call: steps:score
    outputs: {scores: metrics}
  train:
    foreach: [forest, logreg]
    call: steps:train
    with: {kind: "${{ item }}"}
    outputs: {quality: metrics}
  fit:
    call: steps:fit
    outputs: {model: model}
  flaky:
    call: steps:flaky
    outputs: {scores: metrics}
  slow:
    run: sleep 20
    timeout: 1s
  long:
    run: sleep 60
tracking:
  mlflow:
    experiment: churn-exp
    register: [{step: fit, output: model, model: churn, alias: champion}]
"""

STEPS = """\
import json, os

import mlflow


def score(scores):
    with open(scores, "w") as f:
        json.dump({"auc": 0.81, "f1": 0.5}, f)
    assert os.environ["MLFLOW_RUN_ID"] != os.environ["PARENT_FOR_TEST"]
    mlflow.log_metric("from_step_code", 42.0)        # attaches to MLFLOW_RUN_ID: the nested run


def train(kind, quality):
    with open(quality, "w") as f:
        json.dump({"auc": 0.9 if kind == "forest" else 0.7}, f)


def fit(model):
    os.makedirs(model)
    with open(os.path.join(model, "weights.txt"), "w") as f:
        f.write("w")


def flaky(scores):
    if not os.path.exists("second-attempt"):
        open("second-attempt", "w").close()
        raise SystemExit(3)
    with open(scores, "w") as f:
        json.dump({"auc": 0.6}, f)
"""


@pytest.fixture
def store(tmp_path):
    from mlflow.tracking import MlflowClient

    (tmp_path / "pipeline.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    uri = f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"
    (tmp_path / "tracking").mkdir()
    c = MlflowClient(uri)
    eid = c.create_experiment("churn-exp", artifact_location=(tmp_path / "tracking" / "artifacts").as_uri())
    parent = c.create_run(eid, run_name="churn", tags={"pipespec.target": "airflow"}).info.run_id
    return tmp_path, uri, c, eid, parent


def _exec(folder, step, *args, parent=None, uri=None, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "PIPESPEC_")) and k != "GITHUB_OUTPUT"}
    if parent is not None:
        env["PIPESPEC_TRACKING_PARENT"] = parent
        env["PARENT_FOR_TEST"] = parent
    if uri is not None:
        env["MLFLOW_TRACKING_URI"] = uri
    env["PIPESPEC_TARGET"] = "airflow"
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pipespec", "exec", "pipeline.yaml", "--step", step,
                           "--run-id", "manual-1", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300, env=env)


def _children(c, eid, parent):
    runs = c.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.info.run_name: r for r in runs}


def test_each_exec_is_one_nested_run_of_the_targets_parent(store):
    folder, uri, c, eid, parent = store
    for step, args in (("score", ("--params-json", '{"rows": 100}')), ("train", ("--item-index", "0")),
                       ("train", ("--item-index", "1")), ("fit", ())):
        r = _exec(folder, step, *args, parent=parent, uri=uri)
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    kids = _children(c, eid, parent)
    assert set(kids) == {"score", "train[forest]", "train[logreg]", "fit"}
    score = kids["score"]
    assert score.info.status == "FINISHED"
    assert score.data.metrics == {"auc": 0.81, "f1": 0.5, "from_step_code": 42.0}   # outputs + call: code
    tags = score.data.tags
    assert tags["pipespec.run_id"] == "manual-1" and tags["pipespec.target"] == "airflow"
    assert tags["pipespec.step"] == "score" and tags["pipespec.index"] == "_" and tags["pipespec.attempt"] == "1"
    assert len(tags["pipespec.spec_digest"]) == 64
    ir = subprocess.run([sys.executable, "-m", "pipespec", "ir", "pipeline.yaml", "--digest"], cwd=folder,
                        capture_output=True, text=True, timeout=60)
    assert ir.returncode == 0 and ir.stdout.strip().endswith(tags["pipespec.spec_digest"]), ir.stdout
    assert kids["train[forest]"].data.metrics == {"auc": 0.9}
    assert kids["train[logreg]"].data.params == {"item": "logreg"}
    assert kids["train[logreg]"].data.tags["pipespec.index"] == "1"
    assert c.get_run(parent).data.params == {"rows": "100"}          # the params, on the parent
    assert c.get_run(parent).info.status == "RUNNING"                # the parent is the target's to end
    v = c.get_model_version_by_alias("churn", "champion")
    assert str(v.version) == "1" and v.run_id == kids["fit"].info.run_id
    assert v.tags["pipespec.run_id"] == "manual-1"


def test_a_retry_reopens_the_instances_one_nested_run(store):
    folder, uri, c, eid, parent = store
    r = _exec(folder, "flaky", parent=parent, uri=uri)
    assert r.returncode == 3, r.stderr
    [first] = _children(c, eid, parent).values()
    assert first.info.status == "FAILED" and first.data.tags["pipespec.attempt"] == "1"
    r = _exec(folder, "flaky", parent=parent, uri=uri)              # the target's retry: a new process
    assert r.returncode == 0, r.stderr
    kids = _children(c, eid, parent)
    assert list(kids) == ["flaky"]                                  # still one nested run
    again = kids["flaky"]
    assert again.info.run_id == first.info.run_id and again.info.status == "FINISHED"
    assert again.data.tags["pipespec.attempt"] == "2"
    history = c.get_metric_history(again.info.run_id, "auc")
    assert [(m.value, m.step) for m in history] == [(0.6, 1)]      # logged by attempt 2


def test_a_timeout_ends_the_nested_run_killed(store):
    folder, uri, c, eid, parent = store
    r = _exec(folder, "slow", parent=parent, uri=uri)
    assert r.returncode == 124, r.stderr
    assert _children(c, eid, parent)["slow"].info.status == "KILLED"


def test_sigterm_stops_the_step_and_ends_its_nested_run_killed(store):
    """The platform killing the task (Airflow, a pod's deletion: SIGTERM to exec) must not leave
    the nested run RUNNING forever, as a crashed run marked nothing."""
    folder, uri, c, eid, parent = store
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PIPESPEC_")) and k != "GITHUB_OUTPUT"}
    env.update({"PIPESPEC_TRACKING_PARENT": parent, "MLFLOW_TRACKING_URI": uri})
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "exec", "pipeline.yaml", "--step", "long", "--run-id", "m-2"],
                         cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while "long" not in _children(c, eid, parent):          # the nested run is open: the step runs
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.5)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode != 0, err
    run = _children(c, eid, parent)["long"]
    assert run.info.status == "KILLED", err
    assert run.data.tags["pipespec.status"] == "cancelled"


def test_the_runner_honours_mlflow_tracking_uri(store, tmp_path):
    """``pipespec run`` with no ``uri:`` in the spec and ``$MLFLOW_TRACKING_URI`` set (a team's
    own MLflow): the runs go there, not to the run store's default database."""
    folder, uri, c, eid, parent = store
    spec = "pipespec: 1\nname: churn\nsteps:\n  score:\n    call: steps:train\n    with: {kind: forest}\n" \
           "    outputs: {quality: metrics}\ntracking:\n  mlflow: {experiment: churn-exp}\n"
    (folder / "small.yaml").write_text(spec)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PIPESPEC_")) and k != "GITHUB_OUTPUT"}
    env["MLFLOW_TRACKING_URI"] = uri
    r = subprocess.run([sys.executable, "-m", "pipespec", "run", "small.yaml", "--progress", "plain"], cwd=folder,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert not (folder / ".pipespec" / "mlflow.db").exists()
    [local] = [x for x in c.search_runs([eid]) if x.data.tags.get("pipespec.target") == "local"
               and "mlflow.parentRunId" not in x.data.tags]
    [score] = c.search_runs([eid], f"tags.`mlflow.parentRunId` = '{local.info.run_id}'")
    assert score.data.metrics == {"auc": 0.9} and score.data.tags["pipespec.target"] == "local"


def test_an_outage_is_a_warning_and_the_step_succeeds(store):
    from servers import free_port

    folder, _uri, c, eid, parent = store
    r = _exec(folder, "train", "--item-index", "0", parent=parent, uri=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 0, r.stderr
    assert "pipespec: warning: MLflow at http://127.0.0.1 cannot be used" in r.stderr
    assert "this step is not tracked" in r.stderr
    assert _children(c, eid, parent) == {}


def test_without_a_parent_exec_says_nothing_of_mlflow(store):
    folder, uri, c, eid, parent = store
    r = _exec(folder, "train", "--item-index", "0", uri=uri)
    assert r.returncode == 0, r.stderr
    assert "mlflow" not in r.stderr.lower() and "tracking" not in r.stderr.lower(), r.stderr
    assert _children(c, eid, parent) == {}


def test_a_parent_that_is_not_a_run_id_is_refused_with_a_warning(store):
    folder, uri, c, eid, parent = store
    r = _exec(folder, "train", "--item-index", "0", parent="x' or '1'='1", uri=uri)
    assert r.returncode == 0, r.stderr
    assert "$PIPESPEC_TRACKING_PARENT is not an MLflow run id" in r.stderr
    assert _children(c, eid, parent) == {}


def test_the_nested_run_takes_the_target_of_its_parent(store):
    """No compiled target sets $PIPESPEC_TARGET for its workers: the target a nested run is tagged
    with is its parent's (the run `pipespec observe start --target T` opened), never 'exec'.
    (Found by tests/integrations/test_churn_every_target.py: kfp.local's and act's nested runs
    said 'exec'.)"""
    folder, uri, c, eid, parent = store
    r = _exec(folder, "score", parent=parent, uri=uri, env_extra={"PIPESPEC_TARGET": ""})
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert _children(c, eid, parent)["score"].data.tags["pipespec.target"] == "airflow"


def test_a_worker_logs_on_the_parent_only_the_params_it_was_given(store):
    """A Kubeflow task is handed only the params its step reads; exec's defaults for the others
    are not the run's values, and MLflow keeps a param's first value: the finish task, which gets
    every param, must find them unlogged. (Found by test_churn_every_target.py: kfp.local's
    failed run of churn with models=[logreg,svm] had models=["logreg", "forest"] on its parent.)"""
    folder, uri, c, eid, parent = store
    r = _exec(folder, "score", parent=parent, uri=uri)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert c.get_run(parent).data.params == {}                       # rows was not given: not logged
    r = _exec(folder, "fit", "--params-json", '{"rows": 250}', parent=parent, uri=uri)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert c.get_run(parent).data.params == {"rows": "250"}
