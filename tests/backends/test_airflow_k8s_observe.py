"""notify:/metrics:/tracking: under ``targets.airflow.operator: kubernetes``: the start and finish
tasks are pods (PipespecObservePod) like the steps, in the steps' image, the channels' secrets as
Kubernetes secret references in the finish pod.

No Kubernetes cluster can run here (no images, no kind/k3s binaries), and none is faked. What is
checked with the real tools instead:
- the DAG loads in the real DagBag (Airflow 3.3.2 + cncf-kubernetes provider) with the boundary
  tasks where they belong (operator, trigger rule, teardown, upstream);
- each task's own ``execute()`` runs up to the point where KubernetesPodOperator would contact the
  cluster, and the real provider builds the pod it would create (check_airflow_pods.py): image,
  command, arguments, plain environment, secret references;
- the pods' commands, run as processes here (the image would run the same ``pipespec``), talk
  to a real MLflow SQLite store and real HTTP receivers on 127.0.0.1: the start pod's XCom file
  is JSON the provider accepts, a failed run pages and the next one resolves and says recovered;
- under ``airflow dags test`` (the real scheduler loop and Task SDK) the start and finish tasks
  get through their own code (the task states read from the Task SDK) to the provider's pod
  build, and fail only where the cluster is missing.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from support import ROOT

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.base import CompileOptions
from pipespec.frontend import check_text

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
sys.path.insert(0, str(ROOT / "tests" / "integrations"))

from observe_support import PD_KEY, SLACK_TOKEN, WATCHED, WHEN   # noqa: E402  the python operator's spec

XCOM = "/airflow/xcom/return.json"
# the same spec, its secrets also in Kubernetes, its steps in pods
SPEC = (WATCHED.replace("WHEN", WHEN).replace("{env: SLACK_HOOK}", "{env: SLACK_HOOK, kubernetes: alerts/slack}")
        .replace("{env: PD_KEY, github: PAGERDUTY_KEY}", "{env: PD_KEY, github: PAGERDUTY_KEY, kubernetes: alerts/pagerduty}")
        + """targets:
  airflow: {operator: kubernetes, image: ghcr.io/acme/steps:1, namespace: ml, artifact_root: "ROOT",
            spec_path: pipeline.yaml}
""")
assert "kubernetes: alerts/slack" in SPEC and "kubernetes: alerts/pagerduty" in SPEC


def _spec(pd="http://127.0.0.1:9/v2/enqueue", push="http://127.0.0.1:9", mlflow="http://mlflow:5000",
          root="s3://b/p") -> str:
    return SPEC.replace("PD_URL", pd).replace("PUSH_URL", push).replace("MLFLOW_URI", mlflow).replace("ROOT", root)


def _compile(text: str, image: str | None = None):
    res = check_text(text, "pipeline.yaml")
    assert res.ok, [d.message for d in res.diagnostics]
    backend = AirflowBackend()
    backend.step_image = image                                      # pipespec compile --image
    return backend.compile(res.pipeline, CompileOptions("pipeline.yaml"))


def _said(text: str) -> list:
    from pipespec.integrations.targets import not_carried_out   # what compile adds (W701-W703)

    res = check_text(text, "pipeline.yaml")
    assert res.ok
    return not_carried_out(res.pipeline, "airflow")


def _codes(text: str) -> list[str]:
    return [d.code for d in _said(text)]


# -- compile time (fast) ---------------------------------------------------------------------------

def test_the_boundary_tasks_are_pods_and_no_w701():
    r = _compile(_spec())
    assert r.ok and not r.diagnostics, [d.message for d in r.diagnostics]
    assert _codes(_spec()) == []
    text = r.text
    assert 'pipespec__start = PipespecObservePod(' in text and 'pipespec__finish = PipespecObservePod(' in text
    assert "pipespec__start >> [evaluate, report]" in text
    assert "[evaluate, report] >> pipespec__finish" in text and ").as_teardown()" in text
    # the finish pod reads the channels' secrets from Kubernetes, by name: no value in the DAG
    assert 'secrets=[Secret("env", "SLACK_HOOK", "alerts", "slack"), Secret("env", "PD_KEY", "alerts", ' \
           '"pagerduty")]' in text
    assert "Variable" not in text and "subprocess" not in text     # nothing runs on the worker itself
    assert "PipespecObserve(" not in text


def test_what_a_pod_per_task_loses_is_said():
    # no tracking server: the default store would be a file in each pod (W702); no object store
    # and no server: the previous run's record is lost with the finish pod (W703)
    local = _spec(root="/shared/art").replace('uri: "http://mlflow:5000", ', "")
    w702, w703 = _said(local)
    assert (w702.code, w703.code) == ("W702", "W703")
    assert w702.message.startswith("airflow: tracking: has no uri: every pod runs on a fresh machine")
    assert "targets.airflow.artifact_root to a lasting store (an object store URL)" in w703.help
    # an object store keeps the record; a tracking server keeps the runs
    assert _codes(_spec(root="s3://b/p").replace('uri: "http://mlflow:5000", ', "")) == ["W702"]
    assert _codes(local.replace("  on_recovery: [oncall, team]\n", "")) == ["W702"]
    assert _codes(_spec(root="/shared/art")) == []
    # the python operator's workers share the artifact root and the default store's machine
    python = local.replace("operator: kubernetes, ", "")
    assert _codes(python) == []


def test_the_start_and_finish_image():
    # targets.airflow.image first; else the one image of every step; else the default, said
    no_target_image = _spec().replace("image: ghcr.io/acme/steps:1, ", "")
    same = no_target_image.replace("steps:\n", "defaults:\n  image: ghcr.io/acme/one:2\nsteps:\n", 1)
    r = _compile(same)
    assert r.ok and r.text.count('image="ghcr.io/acme/one:2"') == 4, [d.message for d in r.diagnostics]
    r = _compile(no_target_image)
    msgs = [d.message for d in r.diagnostics if d.code == "W600"]
    assert any("start and finish pods of notify:/metrics:/tracking: use python:3.11-slim" in m for m in msgs), msgs
    r = AirflowBackend()
    r.step_image = "local/built:abc"                                 # pipespec compile --image
    out = r.compile(check_text(no_target_image, "pipeline.yaml").pipeline, CompileOptions("pipeline.yaml"))
    assert out.text.count('image="local/built:abc"') == 4


def test_without_tracking_there_is_no_start_pod_and_steps_get_no_parent():
    text = _compile(_spec().replace('tracking:\n  mlflow: {uri: "http://mlflow:5000", experiment: watched}\n',
                                    "")).text
    assert "pipespec__start =" not in text and "xcom_pull" not in text
    assert "PIPESPEC_TRACKING_PARENT" not in text and "pipespec__finish = PipespecObservePod(" in text


def test_observe_start_writes_its_xcom_as_json(tmp_path):
    """``--output-json``: what the KubernetesPodOperator's XCom sidecar reads must be JSON (the
    provider json.loads it); without tracking the parent is null, so the XCom is None."""
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(_spec().replace('tracking:\n  mlflow: {uri: "http://mlflow:5000", experiment: watched}\n', ""))
    out = tmp_path / "xcom" / "return.json"
    r = subprocess.run([sys.executable, "-m", "pipespec", "observe", "start", str(spec), "--run-id", "r1",
                        "--target", "airflow", "--output-json", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) is None


# -- the real tools (slow) -------------------------------------------------------------------------

def _check_pods(dag_dir: pathlib.Path, run: dict) -> dict:
    import verify

    given = dag_dir.parent / "run.json"      # beside the DAG folder, not in it
    given.write_text(json.dumps(run))
    return verify._run_script("airflow-k8s", "check_airflow_pods.py", [str(dag_dir), "--run", f"@{given}"],
                              timeout=300, cwd=str(ROOT / "tests" / "tooling"))


def _pods(dag_dir: pathlib.Path, run: dict) -> dict:
    rep = _check_pods(dag_dir, run)
    assert rep["ok"], rep["errors"] or rep["_stderr"]
    assert not rep["warnings"], rep["warnings"]
    return rep["pods"]


def pod_env(pod: dict, secrets: dict[str, str]) -> dict[str, str]:
    """The pod's environment as Kubernetes would set it: its plain variables, and each secret
    reference's variable set to the value the Kubernetes secret holds (``secrets``, by ref)."""
    env = dict(pod["env"])
    for ref in pod["env_from_secrets"]:
        env[ref.split("=")[0]] = secrets[ref]
    return env


def _run_pod(pod: dict, proj: pathlib.Path, xcom: pathlib.Path, secrets: dict[str, str]) -> subprocess.CompletedProcess:
    """A pod's container command as a process here: ``pipespec`` of this checkout (the image's),
    its arguments as built, its environment (``pod_env``). The XCom file goes to ``xcom``
    instead of the pod's /airflow/xcom volume."""
    assert pod["command"] == ["pipespec"]
    args = [str(xcom) if a == XCOM else a for a in pod["args"]]
    xcom.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPESPEC_", "MLFLOW_"))}
    env.update(pod_env(pod, secrets))
    return subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=proj, env=env, capture_output=True,
                          text=True, timeout=300)


def one_run(dag_dir, proj, tmp, run_id, conf, secrets, run_pod=_run_pod) -> tuple[str, dict, list]:
    """Airflow's part, done by the test in the order the scheduler would: start's pod, the step
    pods (each only when its upstream succeeded), then finish's pod with the task states. Each
    pod's XCom file is ``tmp/RUN/TASK/return.json``."""
    pods = _pods(dag_dir, {"run_id": run_id, "conf": conf})
    start = pods["watched.pipespec__start"]
    xcom = tmp / run_id / "pipespec__start" / "return.json"
    r = run_pod(start, proj, xcom, secrets)
    assert r.returncode == 0, r.stderr
    parent = json.loads(xcom.read_text())             # the provider's parse of the XCom file
    assert isinstance(parent, str) and parent
    pods = _pods(dag_dir, {"run_id": run_id, "conf": conf, "xcom": {"pipespec__start": parent}})
    crumbs = [{"task_id": "pipespec__start", "map_index": -1, "state": "success", "duration": 1.0}]
    ok = True
    for step in ("evaluate", "report"):
        pod = pods[f"watched.{step}"]
        assert pod["env"] == {"PIPESPEC_TRACKING_PARENT": parent}
        if not ok:
            crumbs.append({"task_id": step, "map_index": -1, "state": "upstream_failed", "duration": None})
            continue
        r = run_pod(pod, proj, tmp / run_id / step / "return.json", secrets)
        ok = r.returncode == 0
        crumbs.append({"task_id": step, "map_index": -1, "state": "success" if ok else "failed", "duration": 0.5})
    pods = _pods(dag_dir, {"run_id": run_id, "conf": conf, "xcom": {"pipespec__start": parent},
                           "breadcrumbs": crumbs})
    finish = pods["watched.pipespec__finish"]
    r = run_pod(finish, proj, tmp / run_id / "pipespec__finish" / "return.json", secrets)
    assert r.returncode == 0, r.stderr
    return parent, finish, crumbs


@pytest.mark.slow
def test_the_pods_carry_out_tracking_alerts_and_metrics(tmp_path):
    two_runs(tmp_path)


def two_runs(tmp_path, run_pod=_run_pod, build=None) -> None:
    """A failed run, then a successful one, each pod run by ``run_pod``; ``build(proj)`` (if
    given) builds the image of the spec's folder and returns its tag, compiled in as with
    ``compile --image``. Also run in a real container: tests/containers/test_airflow_k8s_pods_real.py."""
    from servers import Recorder

    MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient
    http = Recorder().start()
    try:
        proj, dag_dir = tmp_path / "proj", tmp_path / "dags"
        proj.mkdir()
        dag_dir.mkdir()
        db = tmp_path / "mlflow.db"
        text = _spec(pd=http.url + "/v2/enqueue", push=http.url, mlflow=f"sqlite:///{db}",
                     root=f"file://{tmp_path / 'store'}")
        (proj / "pipeline.yaml").write_text(text)
        image = build(proj) if build else None
        r = _compile(text, image)
        assert r.ok and not r.diagnostics, [d.message for d in r.diagnostics]
        (dag_dir / "watched.py").write_text(r.text)
        secrets = {"SLACK_HOOK=alerts/slack": f"{http.url}/services/{SLACK_TOKEN}",
                   "PD_KEY=alerts/pagerduty": PD_KEY}

        parent1, finish, crumbs = one_run(dag_dir, proj, tmp_path, "manual__1", {"fail": True}, secrets, run_pod)
        assert [c["state"] for c in crumbs] == ["success", "failed", "upstream_failed"]
        assert finish["env_from_secrets"] == ["PD_KEY=alerts/pagerduty", "SLACK_HOOK=alerts/slack"]
        assert not finish["xcom_sidecar"] and finish["image"] == (image or "ghcr.io/acme/steps:1")
        opt = dict(zip(finish["args"][3::2], finish["args"][4::2]))
        assert opt["--status"] == "failed" and opt["--parent"] == parent1
        assert json.loads(opt["--steps-json"]) == {"evaluate": {"status": "failed", "duration": 0.5},
                                                   "report": {"status": "upstream_failed", "duration": None}}
        assert PD_KEY not in json.dumps(finish) and SLACK_TOKEN not in json.dumps(finish)
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert [(p["event_action"], p["dedup_key"], p["payload"]["source"]) for p in pd] == [
            ("trigger", "pipespec/watched", "pipespec/airflow")]
        assert pd[0]["routing_key"] == PD_KEY and pd[0]["payload"]["custom_details"]["failed_steps"] == ["evaluate"]
        (slack,) = [q.json()["text"] for q in http.at("/services/")]
        assert slack.startswith("pipespec: watched FAILED (run manual__1")
        (push,) = http.at("/metrics/")
        assert push.path == "/metrics/job/pipespec/pipeline/watched/target/airflow"
        assert 'pipespec_run_success{pipeline="watched",target="airflow"} 0.0' in push.body.decode()

        http.requests.clear()
        parent2, finish, crumbs = one_run(dag_dir, proj, tmp_path, "manual__2", {"fail": False}, secrets, run_pod)
        assert [c["state"] for c in crumbs] == ["success", "success", "success"]
        # the record of run 1, kept under the artifact root (an object store URL here: file://)
        pd = [q.json() for q in http.at("/v2/enqueue")]
        assert pd == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/watched"}]
        # and the when: condition over evaluate's output (read from the artifact root by the finish pod)
        texts = [q.json()["text"].splitlines() for q in http.at("/services/")]
        assert [t[0].split(" (")[0] for t in texts] == ["pipespec: watched recovered", "pipespec: watched alert"]
        assert texts[1][-1] == "AUC below 0.8"
        (push,) = http.at("/metrics/")
        body = push.body.decode()
        assert 'pipespec_step_success{pipeline="watched",target="airflow",step="evaluate"} 1.0' in body
        assert 'pipespec_model_metric{pipeline="watched",target="airflow",step="evaluate",output="scores",' \
               'metric="auc"} 0.7' in body

        c = MlflowClient(f"sqlite:///{db}")
        exp = c.get_experiment_by_name("watched")
        runs = c.search_runs([exp.experiment_id])
        parents = {r.info.run_id: r.info.status for r in runs if "mlflow.parentRunId" not in r.data.tags}
        assert parents == {parent1: "FAILED", parent2: "FINISHED"}
        nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent2]
        assert sorted(r.data.tags["mlflow.runName"] for r in nested) == ["evaluate", "report"]
        assert all(r.data.tags["pipespec.target"] == "airflow" for r in runs if r.info.run_id in parents)
    finally:
        http.stop()


@pytest.mark.slow
def test_the_dag_loads_in_the_real_dagbag(tmp_path):
    import verify

    (tmp_path / "watched.py").write_text(_compile(_spec()).text)
    # with a finally: step too (and a name of its own): finish waits for it, the run's leaf stays the steps'
    fin = _spec().replace("name: watched", "name: watched-fin").replace(
        "notify:\n", "finally:\n  cleanup:\n    run: echo ${{ run.status }}\nnotify:\n", 1)
    (tmp_path / "watched_fin.py").write_text(_compile(fin).text)
    rep = verify._run_script("airflow-k8s", "check_airflow.py", [str(tmp_path)], timeout=300)
    assert rep["ok"], rep["errors"]
    assert not rep["import_errors"] and not rep["captured_warnings"], rep
    tasks = rep["dags"]["watched"]["tasks"]
    start, finish = tasks["pipespec__start"], tasks["pipespec__finish"]
    assert start["operator"] == finish["operator"] == "PipespecObservePod"
    assert start["upstream"] == [] and sorted(start["downstream"]) == ["evaluate", "report"]
    assert not start["is_teardown"] and start["trigger_rule"] == "all_success"
    assert finish["is_teardown"] and finish["upstream"] == ["evaluate", "report"]
    assert finish["trigger_rule"] == "all_done_setup_success"
    assert tasks["evaluate"]["upstream"] == ["pipespec__start"]
    tasks = rep["dags"]["watched-fin"]["tasks"]
    assert tasks["pipespec__finish"]["upstream"] == ["cleanup", "evaluate", "report"]
    assert tasks["cleanup"]["is_teardown"] and tasks["cleanup"]["operator"] == "PipespecPodOperator"
    assert tasks["finally__succeeded"]["upstream"] == ["cleanup"]
    assert sorted(tasks["pipespec__start"]["downstream"]) == ["cleanup", "evaluate", "report"]


@pytest.mark.slow
def test_under_dags_test_the_boundary_tasks_reach_the_cluster_call(tmp_path):
    """The real Task SDK runs start's and finish's execute() (finish reads the task states from
    it) through to the provider's pod build; with no cluster here, each then fails on the
    missing Kubernetes configuration — and on nothing before it."""
    import verify

    dag = tmp_path / "watched.py"
    dag.write_text(_compile(_spec()).text)
    rep = verify._run_script("airflow-k8s", "run_airflow.py", [str(dag), "watched", "--workdir", str(tmp_path / "w")],
                             with_pipespec=True, timeout=600)
    assert rep["states"] == {"pipespec__start": "failed", "evaluate": "upstream_failed",
                             "report": "upstream_failed", "pipespec__finish": "failed"}, rep
    log = pathlib.Path(rep["log"]).read_text(errors="replace")
    for task in ("pipespec__start", "pipespec__finish"):
        part = log.split(f"[DAG TEST] starting task_id={task} ")[1].split(f"[DAG TEST] end task task_id={task} ")[0]
        assert f"Building pod watched-pipespec-{task.split('__')[1]}-" in part, part[-3000:]
        assert 'watched.py", line' in part and "in execute\n    result = super().execute(context)" in part
        assert "ConfigException: Invalid kube-config file. No configuration found." in part
        assert part.count("Traceback (most recent call last)") == 2    # in-cluster, then kube-config: nothing else


FAN = """\
pipespec: 1
name: fan
params:
  items: {type: list, default: [1, 2]}
secrets:
  hook: {env: HOOK, kubernetes: alerts/hook}
steps:
  leg:
    foreach: ${{ params.items }}
    run: echo ${{ item }}
notify:
  channels:
    audit: {type: webhook, secret: hook}
  on_failure: [audit]
targets:
  airflow: {operator: kubernetes, image: ghcr.io/acme/steps:1, artifact_root: "ROOT", spec_path: pipeline.yaml}
"""


@pytest.mark.slow
def test_thousands_of_task_states_fit_in_the_finish_pods_argument_or_fail_clearly(tmp_path):
    """The states travel as one argument of the finish pod's command, which Linux caps at 131071
    bytes (measured here: 131072 gives E2BIG): past it the durations are dropped, and past that
    the finish task fails saying why, instead of a pod that cannot start."""
    from servers import Recorder

    proj, dag_dir = tmp_path / "proj", tmp_path / "dags"
    proj.mkdir()
    dag_dir.mkdir()
    text = FAN.replace("ROOT", f"file://{tmp_path / 'store'}")
    (proj / "pipeline.yaml").write_text(text)
    (dag_dir / "fan.py").write_text(_compile(text).text)

    def crumbs(n):
        return [{"task_id": "leg", "map_index": i, "state": "failed" if i == 7 else "success", "duration": 12.345678}
                for i in range(n)]
    pods = _pods(dag_dir, {"run_id": "manual__big", "breadcrumbs": crumbs(3000)})
    states = json.loads(dict(zip(pods["fan.pipespec__finish"]["args"][3::2],
                                 pods["fan.pipespec__finish"]["args"][4::2]))["--steps-json"])
    assert len(states) == 3000 and states["leg_7"] == "failed" and states["leg_8"] == "success"
    http = Recorder().start()
    try:
        r = _run_pod(pods["fan.pipespec__finish"], proj, tmp_path / "x" / "return.json",
                     {"HOOK=alerts/hook": http.url + "/hook"})
        assert r.returncode == 0, r.stderr
        (alert,) = [q.json() for q in http.at("/hook")]
        assert alert["status"] == "failed" and alert["event"] == "failure", alert
    finally:
        http.stop()

    rep = _check_pods(dag_dir, {"breadcrumbs": crumbs(7000)})
    assert rep["errors"] == ["fan.pipespec__finish: RuntimeError: 7000 task instances: their states do not fit in "
                             "one argument of the finish pod's command (131071 bytes)"], rep["errors"]
