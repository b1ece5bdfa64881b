"""notify:/metrics:/tracking: in the compiled GitHub Actions workflow: a start job (the MLflow
parent run's id as its output) and a final `if: always()` job needing every job, whose statuses
reach `pipespec observe finish` through `toJSON(needs)` in env: and the channels' secrets
through `secrets.*` in env:. Checked with GitHub's own parser, the schema and actionlint, and
run for real with nektos/act: a failed run pages and tells Slack, the next run resolves and
says "recovered", the metrics are pushed, and MLflow has one parent run per run."""

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
from observe_support import PD_KEY, SLACK_TOKEN, parents, write_watched  # noqa: E402

from pipespec.backends.github import GithubBackend  # noqa: E402
from pipespec.backends.base import CompileOptions  # noqa: E402
from pipespec.frontend import load_spec  # noqa: E402

def _compile(spec: pathlib.Path) -> str:
    res = load_spec(str(spec))
    assert res.ok, [d.message for d in res.diagnostics]
    r = GithubBackend().compile(res.pipeline, CompileOptions(str(spec), None))
    assert r.ok, [d.message for d in r.diagnostics]
    from pipespec.integrations.targets import not_carried_out   # what compile adds (W701-W703)

    assert not [d for d in not_carried_out(res.pipeline, "github") if d.code == "W701"]
    return r.text


def _spec(tmp_path: pathlib.Path, url: str, target: str = "") -> pathlib.Path:
    return write_watched(tmp_path / "proj", url, f"sqlite:///{tmp_path / 'mlflow.db'}", tail=target)


def test_the_boundary_jobs(tmp_path):
    spec = _spec(tmp_path, "http://127.0.0.1:9")
    doc = yaml.safe_load(_compile(spec))
    jobs = doc["jobs"]
    assert list(jobs) == ["pipespec__start", "evaluate", "report", "pipespec__finish"]
    assert jobs["evaluate"]["needs"] == ["pipespec__start"]
    assert jobs["report"]["needs"] == ["pipespec__start", "evaluate"]
    fin = jobs["pipespec__finish"]
    assert fin["if"] == "${{ always() }}" and fin["needs"] == ["pipespec__start", "evaluate", "report"]
    step = fin["steps"][-1]
    assert "${{" not in step["run"]                     # statuses and secrets only through env:
    assert step["env"]["PIPESPEC_NEEDS"] == "${{ toJSON(needs) }}"
    assert step["env"]["PD_KEY"] == "${{ secrets.PAGERDUTY_KEY }}"
    assert step["env"]["SLACK_HOOK"] == "${{ secrets.SLACK_HOOK }}"
    exec_env = next(s for s in jobs["evaluate"]["steps"] if s.get("id") == "exec")["env"]
    assert exec_env["PIPESPEC_TRACKING_PARENT"] == "${{ needs.pipespec__start.outputs.parent }}"
    # without tracking: no start job, and the steps need nothing more
    spec.write_text(spec.read_text().split("tracking:")[0] + "metrics:" + spec.read_text().split("metrics:")[-1])
    doc = yaml.safe_load(_compile(spec))
    assert list(doc["jobs"]) == ["evaluate", "report", "pipespec__finish"] and "needs" not in doc["jobs"]["evaluate"]
    assert "PIPESPEC_TRACKING_PARENT" not in doc["jobs"]["pipespec__finish"]["steps"][-1]["env"]


@pytest.mark.slow
def test_the_boundary_jobs_pass_every_checker(tmp_path):
    out = tmp_path / "wf.yml"
    out.write_text(_compile(_spec(tmp_path, "http://127.0.0.1:9")))
    rep = verify.github_check(out)
    assert all(c["ok"] for c in rep["checkers"].values()), rep["checkers"]


@pytest.mark.slow
def test_failure_then_recovery_under_act(tmp_path):
    pytest.importorskip("mlflow.tracking")
    http = Recorder().start()
    try:
        root = tmp_path / "root"
        spec = _spec(tmp_path, http.url, f"targets:\n  github:\n    setup: false\n    artifact_root: {root}\n"
                                         f"    spec_path: {tmp_path / 'proj' / 'pipeline.yaml'}\n")
        wf = tmp_path / "watched.yml"
        wf.write_text(_compile(spec))
        secrets = tmp_path / "secrets.env"
        secrets.write_text(f"SLACK_HOOK={http.url}/services/{SLACK_TOKEN}\nPAGERDUTY_KEY={PD_KEY}\n")

        rep = verify.act_run(wf, {"fail": True}, workdir=tmp_path / "act1", timeout=600, secret_file=secrets,
                             env={"GITHUB_RUN_ID": "1001"})
        assert rep["jobs"] == {"pipespec__start": "success", "evaluate": "failure", "report": "skipped",
                               "pipespec__finish": "success"}, rep.get("errors") or rep["_stderr"]
        parent1 = rep["job_outputs"]["pipespec__start"]["parent"]
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert [(p["event_action"], p["dedup_key"], p["payload"]["source"]) for p in pd] == [
            ("trigger", "pipespec/watched", "pipespec/github")]
        assert pd[0]["routing_key"] == PD_KEY and pd[0]["payload"]["custom_details"]["failed_steps"] == ["evaluate"]
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched FAILED") and "target github" in slack
        (push,) = http.at("/metrics/")
        assert push.path == "/metrics/job/pipespec/pipeline/watched/target/github"
        assert 'pipespec_run_success{pipeline="watched",target="github"} 0.0' in push.body.decode()

        http.requests.clear()
        rep = verify.act_run(wf, {"fail": False}, workdir=tmp_path / "act2", timeout=600, secret_file=secrets,
                             env={"GITHUB_RUN_ID": "1002"})
        assert set(rep["jobs"].values()) == {"success"}, rep.get("errors") or rep["_stderr"]
        parent2 = rep["job_outputs"]["pipespec__start"]["parent"]
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert pd == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/watched"}]
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched recovered")
        (push,) = http.at("/metrics/")
        body = push.body.decode()
        assert 'pipespec_run_success{pipeline="watched",target="github"} 1.0' in body
        assert ('pipespec_model_metric{pipeline="watched",target="github",step="evaluate",output="scores",'
                'metric="auc"} 0.7') in body

        found = parents(f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert {r.info.run_id: r.info.status for r in found} == {parent1: "FAILED", parent2: "FINISHED"}
        log = json.dumps(rep)
        assert PD_KEY not in log and SLACK_TOKEN not in log
    finally:
        http.stop()
