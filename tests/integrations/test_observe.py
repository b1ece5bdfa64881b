"""``pipespec observe start|finish``, what every compiled target's tasks run at the pipeline's
boundary, against real servers on 127.0.0.1 and a real SQLite MLflow store: the steps run
through ``pipespec exec`` with an artifact root as on a target's workers, then ``finish``
sends the failure, then the recovery (PagerDuty trigger, then resolve with the same
dedup_key), pushes the metrics (pushadd, grouped by pipeline and target), and ends the one
MLflow parent run that a retried ``start`` did not duplicate."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from observe_support import PD_KEY, SLACK_TOKEN
from test_run_alerts import HOOK_TOKEN, SPEC as ALERT_SPEC

SPEC = ALERT_SPEC + """\
  steps:
    evaluate: {on_failure: [oncall], on_recovery: [oncall]}
metrics:
  pushgateway: "PUSH_URL"
"""


def _setup(tmp_path: pathlib.Path, http, smtp, spec_text: str = SPEC) -> tuple[pathlib.Path, dict]:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(spec_text.replace("PD_URL", http.url + "/v2/enqueue").replace("PUSH_URL", http.url))
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_OUTPUT", "MLFLOW_TRACKING_URI")}
    env.update(SLACK_HOOK=f"{http.url}/services/{SLACK_TOKEN}", AUDIT_HOOK=f"{http.url}/audit/{HOOK_TOKEN}",
               PD_KEY=PD_KEY, SMTP_URL=smtp.url if smtp else "smtp://127.0.0.1:1")
    return spec, env


def _pipespec(env: dict, *args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _target_run(spec: pathlib.Path, env: dict, run_id: str, fail: bool) -> subprocess.CompletedProcess:
    """One run as a target runs it: exec on a 'worker', then finish with the task states."""
    root = spec.parent / "root"
    params = json.dumps({"fail": fail})
    r = _pipespec(env, "exec", str(spec), "--step", "evaluate", "--run-id", run_id, "--artifact-root", str(root),
                  "--params-json", params, cwd=spec.parent)
    assert (r.returncode != 0) == fail, r.stderr
    state = "failed" if fail else "success"
    return _pipespec(env, "observe", "finish", str(spec), "--run-id", run_id, "--target", "airflow",
                     "--status", state, "--artifact-root", str(root), "--params-json", params,
                     "--steps-json", json.dumps({"evaluate": state}), "--started", "2026-12-02T01:00:00Z",
                     cwd=spec.parent)


def test_finish_sends_failure_then_recovery_and_pushes_metrics(tmp_path, http, smtp):
    parser = pytest.importorskip("prometheus_client.parser")
    spec, env = _setup(tmp_path, http, smtp)

    r = _target_run(spec, env, "manual__1", fail=True)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    pd = [q.json() for q in http.at("/v2/enqueue")]
    assert [(p["event_action"], p["dedup_key"]) for p in pd] == [
        ("trigger", "pipespec/churn"), ("trigger", "pipespec/churn/evaluate")]
    assert pd[0]["payload"]["source"] == "pipespec/airflow"
    assert pd[0]["payload"]["custom_details"]["failed_steps"] == ["evaluate"]
    assert pd[0]["payload"]["custom_details"]["run_id"] == "manual__1"
    (slack,) = [q.json() for q in http.at("/services/")]
    assert slack["text"] == "pipespec: churn FAILED (run manual__1, target airflow)\nfailed steps: evaluate"
    (push,) = http.at("/metrics/")
    assert push.method == "POST" and push.path == "/metrics/job/pipespec/pipeline/churn/target/airflow"
    fams = {f.name: f for f in parser.text_string_to_metric_families(push.body.decode())}
    assert "pipespec_run_last_success_timestamp_seconds" not in fams     # pushadd keeps the last success
    (ok,) = fams["pipespec_run_success"].samples
    assert ok.value == 0.0 and ok.labels == {"pipeline": "churn", "target": "airflow"}
    assert "pipespec_step_attempts_total" not in fams                    # no store of runs: no counters

    http.requests.clear()
    r = _target_run(spec, env, "manual__2", fail=False)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    pd = [q.json() for q in http.at("/v2/enqueue")]
    assert pd == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/churn"},
                  {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/churn/evaluate"}]
    texts = [q.json()["text"].splitlines()[0] for q in http.at("/services/")]
    assert texts == ["pipespec: churn recovered (run manual__2, target airflow)",
                     "pipespec: churn alert (run manual__2, target airflow)"]     # auc 0.7 < 0.8
    (audit,) = [q.json() for q in http.at("/audit/")]
    assert (audit["event"], audit["status"], audit["target"], audit["started"]) == (
        "success", "succeeded", "airflow", "2026-12-02T01:00:00Z")
    (push,) = http.at("/metrics/")
    fams = {f.name: f for f in parser.text_string_to_metric_families(push.body.decode())}
    assert fams["pipespec_run_last_success_timestamp_seconds"].samples[0].value > 0
    (auc,) = fams["pipespec_model_metric"].samples
    assert auc.value == 0.7 and auc.labels["step"] == "evaluate" and auc.labels["metric"] == "auc"

    # finish retried for the same run: compared with the run before it still (no second recovery
    # would be wrong; a success after a success would be), so the alerts are the same
    http.requests.clear()
    r = _pipespec(env, "observe", "finish", str(spec), "--run-id", "manual__2", "--target", "airflow",
                  "--status", "success", "--artifact-root", str(spec.parent / "root"), cwd=spec.parent)
    assert r.returncode == 0, r.stderr
    assert [q.json()["event_action"] for q in http.at("/v2/enqueue")] == ["resolve", "resolve"]
    for t in (r.stdout, r.stderr):
        assert PD_KEY not in t and SLACK_TOKEN not in t and HOOK_TOKEN not in t


def test_a_failing_channel_is_a_warning_and_exit_0(tmp_path, http):
    spec, env = _setup(tmp_path, http, None)
    http.status["/services/"] = 500
    r = _target_run(spec, env, "run-1", fail=True)
    assert r.returncode == 0
    assert ("pipespec: warning: the failure alert to channel 'team' (slack) was not sent: "
            "127.0.0.1 answered HTTP 500") in r.stderr
    assert SLACK_TOKEN not in r.stderr


def test_bad_status_is_a_usage_error(tmp_path, http):
    spec, env = _setup(tmp_path, http, None)
    r = _pipespec(env, "observe", "finish", str(spec), "--run-id", "r1", "--target", "airflow",
                  "--status", "meh", cwd=spec.parent)
    assert r.returncode == 2 and "--status: 'meh' is not a run's end" in r.stderr
    r = _pipespec(env, "observe", "finish", str(spec), "--run-id", "../x", "--target", "airflow",
                  "--status", "failed", cwd=spec.parent)
    assert r.returncode == 2 and "--run-id" in r.stderr
    r = _pipespec(env, "observe", "start", str(spec), "--run-id", "r1", "--target", "airflow",
                  "--digest", "sha256:00", cwd=spec.parent)
    assert r.returncode == 65


TRACKED = """\
pipespec: 1
name: tracked
params:
  fail: {type: bool, default: false}
steps:
  evaluate:
    run: test ${{ params.fail }} = false
tracking:
  mlflow: {experiment: tracked-exp}
"""


def test_start_is_idempotent_and_finish_ends_the_one_parent(tmp_path):
    MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TRACKED)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    ids = []
    for _ in range(2):                          # a retried start task
        r = _pipespec(env, "observe", "start", str(spec), "--run-id", "manual__A", "--target", "airflow",
                      "--output", str(tmp_path / "parent.txt"), cwd=tmp_path)
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
        ids.append(r.stdout.strip())
    assert ids[0] and ids[0] == ids[1] == (tmp_path / "parent.txt").read_text()
    r = _pipespec(env, "observe", "finish", str(spec), "--run-id", "manual__A", "--target", "airflow",
                  "--status", "failed", "--params-json", '{"fail": true}', cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    c = MlflowClient(f"sqlite:///{tmp_path / '.pipespec' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("tracked-exp")
    (run,) = c.search_runs([exp.experiment_id])
    assert run.info.run_id == ids[0] and run.info.status == "FAILED"
    assert run.data.tags["pipespec.target"] == "airflow" and run.data.tags["pipespec.run_id"] == "manual__A"
    assert run.data.params == {"fail": "true"}
    # the next run's recovery, with no artifact root: from the previous parent run in MLflow
    r = _pipespec(env, "observe", "start", str(spec), "--run-id", "manual__B", "--target", "airflow", cwd=tmp_path)
    parent_b = r.stdout.strip()
    assert parent_b and parent_b != ids[0]
    r = _pipespec({**env, "PIPESPEC_TRACKING_PARENT": parent_b}, "observe", "finish", str(spec), "--run-id",
                  "manual__B", "--target", "airflow", "--status", "success", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert c.get_run(parent_b).info.status == "FINISHED"


def test_unreachable_mlflow_is_a_warning_and_an_empty_parent(tmp_path):
    pytest.importorskip("mlflow.tracking")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TRACKED.replace("{experiment: tracked-exp}", "{uri: 'http://127.0.0.1:9'}"))
    r = _pipespec(dict(os.environ), "observe", "start", str(spec), "--run-id", "r1", "--target", "github",
                  cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "\n"
    assert "pipespec: warning: MLflow at http://127.0.0.1" in r.stderr


def test_each_targets_words_for_states_are_read():
    from pipespec.frontend import check_text
    from pipespec.integrations.collect import run_state, step_states

    pipe = check_text("""\
pipespec: 1
name: words
steps:
  fan:
    foreach: [1, 2, 3]
    run: echo ${{ item }}
  fan_2:
    run: echo two
""", "p.yaml").pipeline
    # Airflow: mapped legs as step_N (one failed fails the step), durations, a helper task left out
    got = step_states(pipe, {"fan_0": {"status": "success", "duration": 1.5}, "fan_1": {"status": "failed",
                             "duration": 2.5}, "fan_2": "success", "fan__foreach": "success", "pipespec__start": "x"})
    assert got == {"fan": {"status": "failed", "started": None, "ended": None, "duration": 2.5},
                   "fan_2": {"status": "succeeded", "started": None, "ended": None, "duration": None}}
    # GitHub: toJSON(needs) gives {job: {result, outputs}}
    got = step_states(pipe, {"fan": {"result": "skipped", "outputs": {}}, "fan_2": {"result": "cancelled"}})
    assert (got["fan"]["status"], got["fan_2"]["status"]) == ("skipped", "not_run")
    assert [run_state(w) for w in ("success", "failure", "SUCCEEDED", "CANCELED", "meh")] == [
        "succeeded", "failed", "succeeded", "interrupted", None]
