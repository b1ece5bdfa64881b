"""notify:/metrics:/tracking: in the compiled Kubeflow pipeline spec: every step inside the
exit handler, an exit task `pipespec--finish` reading the handler's PipelineTaskFinalStatus,
and (with tracking) a start task before the handler. Checked against the real pipeline-spec
protobuf and run with kfp.local: a failed run pages and tells Slack, the next run resolves and
says "recovered", the metrics are pushed and MLflow has one parent run per run, ended with the
run's status."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
import yaml

from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
sys.path.insert(0, str(ROOT / "tests" / "integrations"))
import verify  # noqa: E402
from servers import Recorder  # noqa: E402
from observe_support import PD_KEY, SLACK_TOKEN, compile_kubeflow, parents, watched  # noqa: E402


RECORDS = """\
targets:
  kubeflow: {pipeline_root: "RECORD_ROOT"}
"""


def _compile(tmp_path: pathlib.Path, url: str, edit=lambda text: text, records: bool = True) -> tuple[pathlib.Path, list]:
    spec = tmp_path / "proj" / "pipeline.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(edit(watched(url, f"sqlite:///{tmp_path / 'mlflow.db'}",
                                 tail=RECORDS.replace("RECORD_ROOT", str(tmp_path / "records")) if records else "")))
    out = tmp_path / "watched.yaml"
    diags, _ = compile_kubeflow(spec, out)
    return out, diags


def test_the_boundary_tasks(tmp_path):
    out, diags = _compile(tmp_path, "http://127.0.0.1:9")
    assert not [d for d in diags if d.code.startswith("W70")], [d.message for d in diags]
    doc, platform = yaml.safe_load_all(out.read_text())
    root = doc["root"]["dag"]["tasks"]
    assert sorted(root) == ["exit-handler", "pipespec--finish", "pipespec--start"]
    assert root["exit-handler"]["dependentTasks"] == ["pipespec--start"]
    fin = root["pipespec--finish"]
    assert fin["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert fin["inputs"]["parameters"]["run__status"] == {"taskFinalStatus": {"producerTask": "exit-handler"}}
    assert fin["inputs"]["parameters"]["params__fail"] == {"componentInputParameter": "fail"}
    assert root["pipespec--start"]["cachingOptions"] == {}
    assert "evaluate" in doc["components"]["comp-exit-handler"]["dag"]["tasks"]
    secrets = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-pipespec--finish"]
    assert secrets == {"secretAsEnv": [{"secretName": "pipespec-secrets", "keyToEnv": [
        {"secretKey": "pd-key", "envVar": "PD_KEY"}, {"secretKey": "slack-hook", "envVar": "SLACK_HOOK"}]}]}


def test_what_the_exit_task_cannot_do_is_said(tmp_path):
    # without a pipeline root no task's outcome reaches the exit task (with one:
    # tests/backends/test_kubeflow_step_alerts.py)
    def edit(text):
        return text.replace("  on_recovery: [oncall, team]\n", "  on_recovery: [oncall, team]\n  when:\n"
                            "    - {if: '${{ params.fail }}', send: [team]}\n  steps:\n"
                            "    evaluate: {on_failure: [team]}\n")
    _, diags = _compile(tmp_path, "http://127.0.0.1:9", edit, records=False)
    w701 = sorted((d.message, d.help) for d in diags if d.code == "W701")
    fix = ("set targets.kubeflow.pipeline_root to the lasting store the runs use (an object store URL such as "
           "s3://BUCKET/PATH or gs://BUCKET/PATH, or a folder every task shares): each step's task then records "
           "its outcome there for the exit task; or run it with pipespec run")
    assert w701 == [
        ("kubeflow: notify.steps is carried out by pipespec run only, not by the kubeflow target (the exit task "
         "sees the run's final status only: each task's own end reaches it only through a lasting pipeline root): "
         "no alert about one step is sent", fix),
        ("kubeflow: notify.when is carried out by pipespec run only, not by the kubeflow target (the exit task "
         "cannot read the steps' outputs: they reach it only through a lasting pipeline root): no when: condition "
         "is checked", fix)]


@pytest.mark.slow
def test_the_spec_passes_the_real_protobuf(tmp_path):
    out, _ = _compile(tmp_path, "http://127.0.0.1:9")
    rep = verify.kfp_check(out)
    assert rep["ok"], rep


@pytest.mark.slow
def test_failure_then_recovery_under_kfp_local(tmp_path, monkeypatch):
    pytest.importorskip("mlflow.tracking")
    http = Recorder().start()
    try:
        out, _ = _compile(tmp_path, http.url)
        monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(tmp_path / "proj"))
        # kfp.local has no Kubernetes secrets: the tasks inherit the environment
        monkeypatch.setenv("SLACK_HOOK", f"{http.url}/services/{SLACK_TOKEN}")
        monkeypatch.setenv("PD_KEY", PD_KEY)

        rep = verify.kfp_local_run(out, {"fail": True}, with_pipespec=True, workdir=tmp_path / "kfp1")
        assert not rep["ok"], rep                     # the run failed (its step did)
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert [(p["event_action"], p["dedup_key"], p["payload"]["source"]) for p in pd] == [
            ("trigger", "pipespec/watched", "pipespec/kubeflow")], rep
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched FAILED") and "target kubeflow" in slack
        (push,) = http.at("/metrics/")
        assert push.path == "/metrics/job/pipespec/pipeline/watched/target/kubeflow"
        assert 'pipespec_run_success{pipeline="watched",target="kubeflow"} 0.0' in push.body.decode()

        http.requests.clear()
        rep = verify.kfp_local_run(out, {"fail": False}, with_pipespec=True, workdir=tmp_path / "kfp2")
        assert rep["ok"], rep["errors"]
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert pd == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/watched"}]
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched recovered")
        assert 'pipespec_run_success{pipeline="watched",target="kubeflow"} 1.0' in http.at("/metrics/")[0].body.decode()

        found = parents(f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert sorted(r.info.status for r in found) == ["FAILED", "FINISHED"]
        assert all(r.data.tags["pipespec.target"] == "kubeflow" for r in found)
        assert PD_KEY not in json.dumps(rep) and SLACK_TOKEN not in json.dumps(rep)
    finally:
        http.stop()
