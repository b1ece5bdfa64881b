"""notify:/metrics:/tracking: carried out by the compiled Airflow DAG itself, under the real
Airflow 3 (`airflow dags test`): a start task opens the one MLflow parent run (a real SQLite
store) and hands its id to the step's `pipespec exec`; the finish teardown ends it with the run's
status, pushes the metrics to a real Pushgateway, and sends the alerts to real receivers on
127.0.0.1 — a failed run pages (PagerDuty trigger) and tells Slack, the next successful run
resolves with the same dedup_key and says "recovered". Then the same through a real
deployment (api-server, scheduler, dag-processor, LocalExecutor) triggered over the REST API."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

from airflow_support import compile_dag
from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
sys.path.insert(0, str(ROOT / "tests" / "integrations"))
import verify  # noqa: E402
from servers import Recorder, free_port  # noqa: E402

pytestmark = pytest.mark.slow

PD_KEY = "PDKEY0123456789abcdef0123456789ab"
SLACK_TOKEN = "SL4CK-path-5ecret-77aa"

SPEC = """\
pipespec: 1
name: watched
params:
  fail: {type: bool, default: false}
secrets:
  slack_hook: {env: SLACK_HOOK}
  pd_key: {env: PD_KEY}
steps:
  evaluate:
    run: |
      test ${{ params.fail }} = false || exit 1
      printf '{"auc": 0.7}' > ${{ outputs.scores }}
    outputs: {scores: metrics}
  report:
    needs: [evaluate]
    run: echo report
notify:
  channels:
    team: {type: slack, secret: slack_hook}
    oncall: {type: pagerduty, secret: pd_key, severity: critical, url: "PD_URL"}
  on_failure: [oncall, team]
  on_recovery: [oncall, team]
  when:
    - if: ${{ steps.evaluate.outputs.scores.auc < 0.8 }}
      send: [team]
      message: AUC below 0.8
tracking:
  mlflow: {uri: "MLFLOW_URI", experiment: watched}
metrics:
  pushgateway: "PUSH_URL"
"""


@pytest.fixture
def pushgateway(tmp_path):
    from tooling.debs import DebError, ensure_binary

    try:
        exe = ensure_binary("prometheus-pushgateway")
    except DebError as e:
        pytest.fail(f"the Pushgateway cannot be had: {e}")
    port = free_port()
    log = open(tmp_path / "pushgateway.log", "w")
    proc = subprocess.Popen([str(exe), f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _metrics(url: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith("pipespec_")}


def test_failure_then_recovery_from_the_dag_itself(tmp_path, monkeypatch, pushgateway):
    MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient
    http = Recorder().start()
    try:
        proj = tmp_path / "proj"
        proj.mkdir()
        db = tmp_path / "mlflow.db"
        spec = proj / "pipeline.yaml"
        spec.write_text(SPEC.replace("PD_URL", http.url + "/v2/enqueue").replace("PUSH_URL", pushgateway)
                        .replace("MLFLOW_URI", f"sqlite:///{db}"))
        dag = tmp_path / "watched.py"
        compile_dag(spec, dag, "pipeline.yaml")
        text = dag.read_text()
        assert "PipespecObserve" in text and "pipespec__finish" in text
        bag = verify.airflow_check(dag)             # the real DagBag: loads, no warning
        assert not bag["import_errors"] and not bag["captured_warnings"], bag
        tasks = bag["dags"]["watched"]["tasks"]
        assert tasks["pipespec__start"]["upstream"] == [] and tasks["evaluate"]["upstream"] == ["pipespec__start"]
        assert tasks["pipespec__finish"]["upstream"] == ["evaluate", "report"] and tasks["pipespec__finish"]["is_teardown"]
        monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(proj))
        # the secrets are Airflow Variables (here from the environment, AIRFLOW_VAR_<NAME>)
        monkeypatch.setenv("AIRFLOW_VAR_SLACK_HOOK", f"{http.url}/services/{SLACK_TOKEN}")
        monkeypatch.setenv("AIRFLOW_VAR_PD_KEY", PD_KEY)

        rep = verify.airflow_run(dag, "watched", {"fail": True}, workdir=tmp_path / "run1", with_pipespec=True)
        states = rep["states"]
        assert states["evaluate"] == "failed" and states["report"] == "upstream_failed", rep
        assert states["pipespec__start"] == "success" and states["pipespec__finish"] == "success", rep
        assert rep["run_state"] == "failed", rep
        parent1 = rep["xcom"]["pipespec__start"]["return_value"]
        assert parent1
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert [(p["event_action"], p["dedup_key"], p["payload"]["source"]) for p in pd] == [
            ("trigger", "pipespec/watched", "pipespec/airflow")]
        assert pd[0]["payload"]["custom_details"]["failed_steps"] == ["evaluate"]
        assert pd[0]["routing_key"] == PD_KEY and pd[0]["payload"]["severity"] == "critical"
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched FAILED (run manual__") and slack.endswith(
            "target airflow)\nfailed steps: evaluate")
        m = _metrics(pushgateway)
        base = (("instance", ""), ("job", "pipespec"), ("pipeline", "watched"), ("target", "airflow"))
        assert m[("pipespec_run_success", base)] == 0.0
        assert ("pipespec_run_last_success_timestamp_seconds", base) not in m

        http.requests.clear()
        rep = verify.airflow_run(dag, "watched", {"fail": False}, workdir=tmp_path / "run2", with_pipespec=True)
        assert rep["run_state"] == "success" and rep["states"]["pipespec__finish"] == "success", rep
        parent2 = rep["xcom"]["pipespec__start"]["return_value"]
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert pd == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/watched"}]
        texts = [q.json()["text"].splitlines() for q in http.at("/services/")]
        assert [t[0].split(" (")[0] for t in texts] == ["pipespec: watched recovered", "pipespec: watched alert"]
        assert texts[1][-1] == "AUC below 0.8"
        m = _metrics(pushgateway)
        assert m[("pipespec_run_success", base)] == 1.0
        assert m[("pipespec_run_last_success_timestamp_seconds", base)] > time.time() - 600
        step = tuple(sorted(base + (("step", "evaluate"),)))
        assert m[("pipespec_step_success", step)] == 1.0
        assert ("pipespec_step_duration_seconds", step) in m
        auc = tuple(sorted(step + (("metric", "auc"), ("output", "scores"))))
        assert m[("pipespec_model_metric", auc)] == 0.7

        c = MlflowClient(f"sqlite:///{db}")
        exp = c.get_experiment_by_name("watched")
        parents = [r for r in c.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
        assert {r.info.run_id: r.info.status for r in parents} == {parent1: "FAILED", parent2: "FINISHED"}
        assert all(r.data.tags["pipespec.target"] == "airflow" for r in parents)
        for rep_text in (json.dumps(rep),):
            assert PD_KEY not in rep_text and SLACK_TOKEN not in rep_text
    finally:
        http.stop()


def test_failure_then_recovery_through_the_real_scheduler(tmp_path):
    """The same DAG through a real deployment (api-server, scheduler, dag-processor, the
    LocalExecutor: each task in its own worker process), triggered over the REST API."""
    import secrets as _secrets

    from test_airflow_scheduler import START_TIMEOUT, Deployment

    MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient
    http = Recorder().start()
    dep = None
    try:
        proj, home, dags = tmp_path / "proj", tmp_path / "home", tmp_path / "dags"
        for d in (proj, home, dags):
            d.mkdir()
        db = tmp_path / "mlflow.db"
        spec = proj / "pipeline.yaml"
        spec.write_text(SPEC.replace("PD_URL", http.url + "/v2/enqueue").replace("PUSH_URL", http.url)
                        .replace("MLFLOW_URI", f"sqlite:///{db}"))
        compile_dag(spec, dags / "watched.py", "pipeline.yaml")
        env_dir = verify.ensure("airflow", with_pipespec=True, quiet=True)
        env = verify.tool_environ(env_dir)
        port = free_port()
        env.update({
            "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PIPESPEC_PROJECT_DIR": str(proj), "PYTHONUNBUFFERED": "1",
            "AIRFLOW_VAR_SLACK_HOOK": f"{http.url}/services/{SLACK_TOKEN}", "AIRFLOW_VAR_PD_KEY": PD_KEY,
        })
        dep = Deployment(tmp_path, env, port)
        r = subprocess.run([dep.airflow(), "db", "migrate"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, start_new_session=True)
        assert r.returncode == 0, r.stderr[-3000:]
        dep.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        dep.start("scheduler", "scheduler")
        dep.start("dag-processor", "dag-processor")

        def healthy():
            _, h = dep.request("GET", "/api/v2/monitor/health", auth=False, timeout=5)
            return h["metadatabase"]["status"] == "healthy" and h["scheduler"]["status"] == "healthy"
        dep.wait_until("a healthy deployment", healthy, START_TIMEOUT)
        _, tok = dep.request("GET", "/auth/token", auth=False)
        dep.token = tok["access_token"]
        dep.wait_until("the DAG parsed", lambda: any(d["dag_id"] == "watched" for d in dep.request(
            "GET", "/api/v2/dags?limit=100")[1]["dags"]), START_TIMEOUT, every=2)
        assert dep.request("PATCH", "/api/v2/dags/watched", {"is_paused": False})[0] == 200

        run_id = dep.trigger("watched", {"fail": True})
        run = dep.wait_run("watched", run_id)
        tis = dep.task_instances("watched", run_id)
        assert run["state"] == "failed", tis
        assert tis["evaluate"]["state"] == "failed" and tis["pipespec__finish"]["state"] == "success", tis
        dep.wait_until("the failure alert", lambda: http.at("/v2/enqueue"), 30)
        (pd,) = [q.json() for q in http.at("/v2/enqueue")]
        assert (pd["event_action"], pd["dedup_key"], pd["payload"]["source"]) == (
            "trigger", "pipespec/watched", "pipespec/airflow")
        assert pd["payload"]["custom_details"]["run_id"] == run_id.replace(":", "_").replace("+", "_")
        parent1 = dep.xcom("watched", run_id, "pipespec__start", -1)

        http.requests.clear()
        run_id = dep.trigger("watched", {"fail": False})
        run = dep.wait_run("watched", run_id)
        assert run["state"] == "success", dep.task_instances("watched", run_id)
        (pd,) = [q.json() for q in http.at("/v2/enqueue")]
        assert pd == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/watched"}
        texts = [q.json()["text"].split(" (")[0] for q in http.at("/services/")]
        assert texts == ["pipespec: watched recovered", "pipespec: watched alert"]
        (push,) = http.at("/metrics/")
        assert push.path == "/metrics/job/pipespec/pipeline/watched/target/airflow"
        assert 'pipespec_step_success{pipeline="watched",target="airflow",step="evaluate"} 1.0' in push.body.decode()
        parent2 = dep.xcom("watched", run_id, "pipespec__start", -1)

        c = MlflowClient(f"sqlite:///{db}")
        exp = c.get_experiment_by_name("watched")
        parents = [r for r in c.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
        assert {r.info.run_id: r.info.status for r in parents} == {parent1: "FAILED", parent2: "FINISHED"}
    finally:
        if dep is not None:
            dep.stop_all()
        http.stop()
