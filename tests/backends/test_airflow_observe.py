"""notify:/metrics:/tracking: carried out by the compiled Airflow DAG itself, under the real
Airflow 3 (`airflow dags test`): a start task opens the one MLflow parent run (a real SQLite
store) and hands its id to the step's `pipespec exec`; the finish teardown ends it with the run's
status, pushes the metrics to a real Pushgateway, and sends the alerts to real receivers on
127.0.0.1 — a failed run pages (PagerDuty trigger) and tells Slack, the next successful run
resolves with the same dedup_key and says "recovered". Then the same through a real
deployment (api-server, scheduler, dag-processor, LocalExecutor) triggered over the REST API."""

from __future__ import annotations

import json
import sys
import time

import pytest

from airflow_deployment import Deployment
from airflow_support import compile_dag
from observe_support import PD_KEY, SLACK_TOKEN, parents, watched
from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
sys.path.insert(0, str(ROOT / "tests" / "integrations"))
import servers  # noqa: E402
import verify  # noqa: E402
from servers import Recorder, pushed  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def pushgateway(tmp_path):
    with servers.pushgateway(tmp_path) as url:
        yield url


def test_failure_then_recovery_from_the_dag_itself(tmp_path, monkeypatch, pushgateway):
    pytest.importorskip("mlflow.tracking")
    http = Recorder().start()
    try:
        proj = tmp_path / "proj"
        proj.mkdir()
        db = tmp_path / "mlflow.db"
        spec = proj / "pipeline.yaml"
        spec.write_text(watched(http.url, f"sqlite:///{db}", push_url=pushgateway, when=True))
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
        m = pushed(pushgateway)
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
        m = pushed(pushgateway)
        assert m[("pipespec_run_success", base)] == 1.0
        assert m[("pipespec_run_last_success_timestamp_seconds", base)] > time.time() - 600
        step = tuple(sorted(base + (("step", "evaluate"),)))
        assert m[("pipespec_step_success", step)] == 1.0
        assert ("pipespec_step_duration_seconds", step) in m
        auc = tuple(sorted(step + (("metric", "auc"), ("output", "scores"))))
        assert m[("pipespec_model_metric", auc)] == 0.7

        found = parents(f"sqlite:///{db}")
        assert {r.info.run_id: r.info.status for r in found} == {parent1: "FAILED", parent2: "FINISHED"}
        assert all(r.data.tags["pipespec.target"] == "airflow" for r in found)
        for rep_text in (json.dumps(rep),):
            assert PD_KEY not in rep_text and SLACK_TOKEN not in rep_text
    finally:
        http.stop()


def test_failure_then_recovery_through_the_real_scheduler(tmp_path):
    """The same DAG through a real deployment (api-server, scheduler, dag-processor, the
    LocalExecutor: each task in its own worker process), triggered over the REST API."""
    pytest.importorskip("mlflow.tracking")
    http = Recorder().start()
    dep = None
    try:
        proj, home, dags = tmp_path / "proj", tmp_path / "home", tmp_path / "dags"
        for d in (proj, home, dags):
            d.mkdir()
        db = tmp_path / "mlflow.db"
        spec = proj / "pipeline.yaml"
        spec.write_text(watched(http.url, f"sqlite:///{db}", when=True))
        compile_dag(spec, dags / "watched.py", "pipeline.yaml")
        dep = Deployment.create(tmp_path, dags, proj, {
            "AIRFLOW_VAR_SLACK_HOOK": f"{http.url}/services/{SLACK_TOKEN}", "AIRFLOW_VAR_PD_KEY": PD_KEY}, home=home)
        dep.up(["watched"])

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

        found = parents(f"sqlite:///{db}")
        assert {r.info.run_id: r.info.status for r in found} == {parent1: "FAILED", parent2: "FINISHED"}
    finally:
        if dep is not None:
            dep.stop_all()
        http.stop()
