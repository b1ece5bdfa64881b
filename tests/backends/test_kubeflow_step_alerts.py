"""Step alerts (notify.steps) and when: conditions (notify.when) on Kubeflow, where the exit task
`pipespec--finish` is handed the run's final status only: with a lasting
targets.kubeflow.pipeline_root every step's task records its outcome (and values) under
ROOT/_pipespec/runs/RUN/STEP/SLOT/, and the finish derives the step states from them and plans
the alerts with the local runner's core. Checked against the real pipeline-spec protobuf and run
with kfp.local, the alerts received by a real HTTP server on 127.0.0.1."""

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
from observe_support import compile_kubeflow  # noqa: E402

from pipespec.backends.base import CompileOptions  # noqa: E402
from pipespec.backends.kubeflow import KubeflowBackend  # noqa: E402
from pipespec.frontend import load_spec  # noqa: E402
from pipespec.integrations import collect  # noqa: E402
from pipespec.runtime.layout import Root  # noqa: E402

HOOK_TOKEN = "H00K-path-5ecret-41c2"

SPEC = """\
pipespec: 1
name: stepwatch
params:
  fail_train: {type: bool, default: false}
  auc: {type: float, default: 0.9}
  bad_leg: {type: int, default: -1}
  flaky: {type: string, default: ""}
secrets:
  hook: {env: ALERT_HOOK}
steps:
  evaluate:
    run: |
      printf '{"auc": %s}' ${{ params.auc }} > ${{ outputs.scores }}
    outputs: {scores: metrics}
    cache: false
  train:
    run: |
      test ${{ params.fail_train }} = false || exit 3
      test -z "$FLAKY" || test -e "$FLAKY" || { touch "$FLAKY"; exit 4; }
    env: {FLAKY: "${{ params.flaky }}"}
    retries: {limit: 1, delay: 1s}
    needs: [evaluate]
    cache: false
  legs:
    foreach: [0, 1, 2]
    run: test ${{ item }} != ${{ params.bad_leg }}
    needs: [train]
    cache: false
notify:
  channels:
    team: {type: webhook, secret: hook}
  steps:
    train: {on_failure: [team], on_success: [team], on_recovery: [team]}
    legs: {on_failure: [team]}
  when:
    - if: ${{ steps.evaluate.outputs.scores.auc < 0.7 }}
      send: [team]
      message: AUC below 0.7
metrics:
  pushgateway: "PUSH_URL"
targets:
  kubeflow: {pipeline_root: "RECORD_ROOT"}
"""


def _compile(tmp_path: pathlib.Path, spec_text: str = SPEC, url: str = "http://127.0.0.1:9") -> tuple:
    spec = tmp_path / "proj" / "pipeline.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(spec_text.replace("RECORD_ROOT", str(tmp_path / "records")).replace("PUSH_URL", url))
    out = tmp_path / "stepwatch.yaml"
    diags, pipe = compile_kubeflow(spec, out)
    return out, diags, pipe


def _executor_code(doc: dict, label: str) -> str:
    return doc["deploymentSpec"]["executors"][label]["container"]["command"][-1]


def test_each_step_records_its_outcome_under_the_pipeline_root(tmp_path):
    out, diags, _ = _compile(tmp_path)
    assert not [d for d in diags if d.code.startswith("W70")], [d.message for d in diags]
    doc, *_ = yaml.safe_load_all(out.read_text())
    root = str(tmp_path / "records")
    for label in ("exec-evaluate", "exec-train", "exec-legs"):
        assert f", locals(), record_root={root!r})\n" in _executor_code(doc, label)
    assert f"{root!r}, locals())" in _executor_code(doc, "exec-pipespec--finish")


def test_without_a_root_or_anything_that_needs_it_the_steps_record_nothing(tmp_path):
    no_root = SPEC.replace('targets:\n  kubeflow: {pipeline_root: "RECORD_ROOT"}\n', "")
    out, diags, _ = _compile(tmp_path, no_root)
    doc, *_ = yaml.safe_load_all(out.read_text())
    assert "record_root" not in _executor_code(doc, "exec-train")
    assert sorted(d.message.split(" is ")[0] for d in diags if d.code == "W701") == [
        "kubeflow: notify.steps", "kubeflow: notify.when"]
    # run-level alerts only: the exit task's status is enough, the step files stay as they were
    run_only = SPEC[:SPEC.index("  steps:\n    train")] + "  on_failure: [team]\n" + SPEC[SPEC.index("targets:"):]
    assert "metrics:" not in run_only
    out, diags, _ = _compile(tmp_path, run_only)
    doc, *_ = yaml.safe_load_all(out.read_text())
    assert "record_root" not in _executor_code(doc, "exec-train")
    assert not [d for d in diags if d.code == "W701"]


def test_what_a_task_cannot_record_is_said(tmp_path):
    spec = SPEC.replace("    needs: [evaluate]\n    cache: false\n", "    needs: [evaluate]\n").replace(
        "    outputs: {scores: metrics}\n    cache: false\n", "    outputs: {scores: metrics}\n")
    spec = spec.replace("notify:\n", "finally:\n  report:\n    run: echo ${{ run.status }}\nnotify:\n").replace(
        "    legs: {on_failure: [team]}\n", "    legs: {on_failure: [team]}\n    report: {on_failure: [team]}\n")
    _, diags, _ = _compile(tmp_path, spec)
    got = sorted((d.message, d.help) for d in diags if d.code == "W701")
    assert got == [
        ("kubeflow: notify.steps about finally: step 'report' is carried out by pipespec run only, not by the "
         "kubeflow target (the exit task runs beside the finally: tasks, not after them): its alerts and the "
         "conditions reading it are not checked", "run it with pipespec run, or drop it for this target"),
        ("kubeflow: notify.steps about step 'train' is not carried out on a run where KFP takes the step from its "
         "cache (a cache hit runs no container, so the task records nothing): no success or recovery alert about "
         "it, and no condition reading it, on such runs", "set cache: false on step 'train' (or accept it on cache "
         "hits)"),
        ("kubeflow: notify.when about step 'evaluate' is not carried out on a run where KFP takes the step from "
         "its cache (a cache hit runs no container, so the task records nothing): no success or recovery alert "
         "about it, and no condition reading it, on such runs", "set cache: false on step 'evaluate' (or accept "
         "it on cache hits)")]


def test_step_states_from_the_recorded_outcomes(tmp_path):
    """failed > not run > succeeded over a fan-out's legs; a leg never recorded makes the step not
    run; the last attempt's record stands."""
    _, _, pipe = _compile(tmp_path)
    root = Root(collect.results_root(str(tmp_path / "records")))
    run = "8c1d0a4e-run"
    root.put_outcome(run, "evaluate", None, {"status": "succeeded", "attempt": 1, "started": 10.0, "ended": 12.0})
    root.put_outcome(run, "train", None, {"status": "failed", "attempt": 1, "started": 12.0, "ended": 13.0})
    root.put_outcome(run, "train", None, {"status": "succeeded", "attempt": 2, "started": 14.0, "ended": 15.0})
    for i, st in enumerate(("succeeded", "timeout", "succeeded")):
        root.put_outcome(run, "legs", i, {"status": st, "started": 20.0 + i, "ended": 30.0 + i})
    got = collect.worker_states(pipe, root, run, {"fail_train": False, "auc": 0.9, "bad_leg": -1}, "2026-12-02")
    assert got == {"evaluate": {"status": "succeeded", "started": 10.0, "ended": 12.0, "duration": None},
                   "train": {"status": "succeeded", "started": 14.0, "ended": 15.0, "duration": None},
                   "legs": {"status": "failed", "started": 20.0, "ended": 32.0, "duration": None}}
    other = "8c1d0a4e-other"
    root.put_outcome(other, "legs", 0, {"status": "succeeded"})
    root.put_outcome(other, "legs", 2, {"status": "succeeded"})
    assert collect.worker_states(pipe, root, other, {}, "2026-12-02")["legs"]["status"] == "not_run"


def test_outcomes_in_an_object_store_through_fsspec(tmp_path):
    """The same records through fsspec (its in-memory file system stands for s3:// or gs://)."""
    pytest.importorskip("fsspec")
    _, _, pipe = _compile(tmp_path)
    root = Root(collect.results_root(f"memory://kfpalerts-{tmp_path.name}/root/"))
    assert root.remote
    try:
        root.put_outcome("r1", "legs", 1, {"status": "failed", "attempt": 1})
        root.put_outcome("r1", "legs", 0, {"status": "succeeded", "attempt": 1})
        root.put_outcome("r1", "legs", 2, {"status": "succeeded", "attempt": 1})
        root.put_outcome("r1", "evaluate", None, {"status": "succeeded", "attempt": 1})
        assert root.outcomes("r1", "legs") == {0: {"status": "succeeded", "attempt": 1},
                                               1: {"status": "failed", "attempt": 1},
                                               2: {"status": "succeeded", "attempt": 1}}
        got = collect.worker_states(pipe, root, "r1", {}, "2026-12-02")
        assert {k: v["status"] for k, v in got.items()} == {"evaluate": "succeeded", "legs": "failed"}
        assert root.fs.exists(f"/kfpalerts-{tmp_path.name}/root/_pipespec/runs/r1/legs/1/_outcome.json")
    finally:
        root.fs.rm(f"/kfpalerts-{tmp_path.name}", recursive=True)
        root.close()


@pytest.mark.slow
def test_the_spec_passes_the_real_protobuf(tmp_path):
    out, _, _ = _compile(tmp_path)
    rep = verify.kfp_check(out)
    assert rep["ok"], rep


def _alerts(http) -> list[dict]:
    return sorted((q.json() for q in http.at(f"/hook/{HOOK_TOKEN}")), key=lambda a: (a["event"], a["step"] or ""))


@pytest.mark.slow
def test_step_alerts_and_conditions_under_kfp_local(tmp_path, monkeypatch):
    http = Recorder().start()
    try:
        out, _, _ = _compile(tmp_path, url=http.url)
        monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(tmp_path / "proj"))
        monkeypatch.setenv("ALERT_HOOK", f"{http.url}/hook/{HOOK_TOKEN}")   # kfp.local has no k8s secrets

        # 1. train fails (evaluate before it succeeded, with auc 0.6 < 0.7): its failure alert and the condition
        rep = verify.kfp_local_run(out, {"fail_train": True, "auc": 0.6}, with_pipespec=True,
                                   workdir=tmp_path / "kfp1")
        assert not rep["ok"], rep
        got = _alerts(http)
        assert [(a["event"], a["step"], a["status"]) for a in got] == [
            ("condition", None, "failed"), ("failure", "train", "failed")], got
        cond, fail = got
        assert fail["failed_steps"] == ["train"] and fail["pipeline"] == "stepwatch"
        assert fail["target"] == "kubeflow" and fail["message"]
        assert fail["ended"] and fail["started"] is None      # KFP hands no task the run's start
        assert cond["message"] == "AUC below 0.7" and cond["run_id"] == fail["run_id"]
        run_id = fail["run_id"]
        rec = json.loads((tmp_path / "records" / "_pipespec" / "runs" / run_id / "train" / "_" /
                          "_outcome.json").read_text())
        assert rec["status"] == "failed" and rec["exit_code"] == 3 and rec["attempt"] == 2    # KFP retried it
        assert not (tmp_path / "records" / "_pipespec" / "runs" / run_id / "train" / "_" / "_done").exists()
        # the step and model metrics come from the same records
        (push,) = http.at("/metrics/")
        body = push.body.decode()
        labels = 'pipeline="stepwatch",target="kubeflow",step='
        for line in (f'pipespec_step_success{{{labels}"train"}} 0.0', f'pipespec_step_success{{{labels}"evaluate"}} 1.0',
                     f'pipespec_model_metric{{{labels}"evaluate",output="scores",metric="auc"}} 0.6'):
            assert line in body, body

        # 2. train fails once and succeeds when KFP retries it, auc 0.9: train's recovery alert (its last
        # attempt stands; the channel hears once), the condition is false: nothing else
        http.requests.clear()
        marker = tmp_path / "flaky-marker"
        rep = verify.kfp_local_run(out, {"auc": 0.9, "flaky": str(marker)}, with_pipespec=True,
                                   workdir=tmp_path / "kfp2")
        assert rep["ok"], rep["errors"]
        assert marker.exists()
        got = _alerts(http)
        assert [(a["event"], a["step"], a["status"], a["failed_steps"]) for a in got] == [
            ("recovery", "train", "succeeded", [])], got      # it failed in run 1: the record says so
        rec = json.loads((tmp_path / "records" / "_pipespec" / "runs" / got[0]["run_id"] / "train" / "_" /
                          "_outcome.json").read_text())
        assert (rec["status"], rec["exit_code"], rec["attempt"]) == ("succeeded", 0, 2)

        # 3. one leg of the fan-out fails: the fan-out's failure alert (train succeeded: told too)
        http.requests.clear()
        rep = verify.kfp_local_run(out, {"bad_leg": 1}, with_pipespec=True, workdir=tmp_path / "kfp3")
        assert not rep["ok"], rep
        got = _alerts(http)
        assert [(a["event"], a["step"], a["failed_steps"]) for a in got] == [
            ("failure", "legs", ["legs"]), ("success", "train", [])], got
        legs = tmp_path / "records" / "_pipespec" / "runs" / got[0]["run_id"] / "legs"
        assert {p.name: json.loads((p / "_outcome.json").read_text())["status"] for p in legs.iterdir()} == {
            "0": "succeeded", "1": "failed", "2": "succeeded"}
        assert HOOK_TOKEN not in json.dumps(rep)
    finally:
        http.stop()


# evaluate alone, cached (the default), its condition the only alert
CACHED = "\n".join(line for line in SPEC[:SPEC.index("  train:\n")].replace("stepwatch", "cachewatch").splitlines()
                   if line != "    cache: false") + "\n" + SPEC[SPEC.index("notify:"):SPEC.index("  steps:\n    train")] \
    + SPEC[SPEC.index("  when:"):SPEC.index("metrics:")] + SPEC[SPEC.index("targets:"):]

_RUN_TWICE = """\
import sys
from kfp import components, local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2], enable_caching=True)
comp = components.load_component_from_file(sys.argv[1])
for _ in range(2):
    comp(auc=0.6)
"""


@pytest.mark.slow
def test_a_cache_hit_records_nothing_as_its_w701_says(tmp_path):
    """kfp.local's own cache (enable_caching=True) runs the cached step's task only once: the
    second run records no outcome and its condition is not checked — what W701 warns of."""
    import subprocess

    import envs

    http = Recorder().start()
    try:
        out, diags, _ = _compile(tmp_path, CACHED)
        assert [d.help for d in diags if d.code == "W701"] == [
            "set cache: false on step 'evaluate' (or accept it on cache hits)"]
        script = tmp_path / "run_twice.py"
        script.write_text(_RUN_TWICE)
        env_dir = envs.ensure("kfp", with_pipespec=True, quiet=True)
        env = verify.tool_environ(env_dir)
        env.update(PIPESPEC_PROJECT_DIR=str(tmp_path / "proj"), ALERT_HOOK=f"{http.url}/hook/{HOOK_TOKEN}")
        r = subprocess.run([str(envs.env_python(env_dir)), str(script), str(out), str(tmp_path / "kroot")],
                           capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert [a["event"] for a in _alerts(http)] == ["condition"]          # the first run's only
        runs = sorted(p.name for p in (tmp_path / "records" / "_pipespec" / "runs").iterdir())
        assert len(runs) == 1, runs
        record = json.loads((tmp_path / "records" / "_pipespec" / "observe" / "cachewatch" /
                             "kubeflow.json").read_text())
        assert record["run_id"] != runs[0] and record["before"]["run_id"] == runs[0]   # both finished
    finally:
        http.stop()


def test_a_placeholder_in_the_embedded_root_is_refused(tmp_path):
    """The root is embedded in the tasks' commands, where KFP would replace a {{$...}} placeholder."""
    spec = tmp_path / "proj" / "pipeline.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(SPEC.replace("RECORD_ROOT", "s3://b/{{$.pipeline_job_uuid}}").replace("PUSH_URL", "http://x"))
    res = load_spec(str(spec))
    assert res.ok
    r = KubeflowBackend().compile(res.pipeline, CompileOptions("pipeline.yaml", None))
    assert not r.ok
    assert [d.message for d in r.diagnostics if d.severity == "error"] == [
        "kubeflow: targets.kubeflow.pipeline_root holds '{{$', which KFP replaces as a placeholder at run time "
        "(in s3://b/{{$.pipeline_job_uuid}})"]
