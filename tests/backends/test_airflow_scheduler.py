"""The compiled DAGs through a REAL Airflow 3 deployment, as production runs them.

`airflow dags test` (test_airflow_real.py) runs every task in one process. Here one deployment
per module, bound to 127.0.0.1 — `airflow db migrate`, then `api-server`, `scheduler` (the
LocalExecutor, parallelism 2) and `dag-processor`, SQLite metadata DB — runs each task in its
own worker process through the scheduler and the Execution API. The runs are triggered and
read back through the REST API (`POST /api/v2/dags/{id}/dagRuns`, a JWT from the simple auth
manager), and compared with `pipespec run` of the same spec and params:

1. churn, default params: every task succeeds; states, XCom values and metrics equal the
   local run's;
2. churn, min_auc=0.99 (the gate closed): deploy and monitor skipped, notify runs;
3. a step that fails after its retries: the run ends failed (as locally), the finally step
   (a teardown task) still ran and saw run.status `failed`, and a DAG-level
   on_failure_callback fired — attached by the deployment, through a cluster policy
   (`dag_policy` in airflow_local_settings.py), not by the compiled file.

The deployment is tests/airflow_deployment.py's (one harness with test_airflow_observe.py,
test_churn_every_target.py and bench/targets.py): every process runs in its own process group
and is stopped by its PID (SIGTERM, then SIGKILL) in a finally; every wait is bounded. Timings are printed (pytest -s) and kept in
`<tmp>/timings.json`.
"""

from __future__ import annotations

import json
import pathlib
import time

import pytest

from airflow_deployment import Deployment
from airflow_support import AIRFLOW_TO_LOCAL, CHURN_SPEC, compile_dag, copy_churn, local_metrics, local_run

pytestmark = pytest.mark.slow

DAG_IDS = ("churn", "fails-after-retries", "finally-fails")

FAILING = """\
pipespec: 1
name: fails-after-retries
steps:
  first:
    run: echo first
  flaky:
    needs: [first]
    retries: {limit: 1, delay: 1s, backoff: 1.0}
    run: 'echo "flaky attempt" >&2; exit 3'
  after:
    needs: [flaky]
    run: echo never
finally:
  cleanup:
    outputs:
      seen: string
    run: 'echo "seen=${{ run.status }}" >> "$PIPESPEC_OUTPUT"'
"""

# All steps succeed, the finally step fails: the one case where Airflow's run state differs from
# the local runner's (docs/targets/airflow.md, "Emulated or refused"); pinned here.
FINALLY_FAILS = """\
pipespec: 1
name: finally-fails
steps:
  work:
    run: echo work
finally:
  cleanup:
    run: 'echo "cleanup failed" >&2; exit 4'
"""

# The deployment's own failure callback, on every DAG (a cluster policy: the operator's way to add
# callbacks to DAG files it does not edit). It runs in the dag-processor and appends one JSON line.
LOCAL_SETTINGS = '''\
import json
import os


def _record_failure(context):
    dag_run = context.get("dag_run")
    with open(os.environ["PIPESPEC_TEST_CALLBACKS"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"dag_id": dag_run.dag_id, "run_id": dag_run.run_id,
                            "reason": context.get("reason")}) + "\\n")


def dag_policy(dag):
    dag.on_failure_callback = _record_failure
    dag.has_on_failure_callback = True   # computed when the DAG is built: the scheduler reads it
'''


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    base = tmp_path_factory.mktemp("airflow-scheduler")
    proj, home, dags = base / "proj", base / "airflow_home", base / "dags"
    for d in (home / "config", dags):
        d.mkdir(parents=True)
    compile_dag(copy_churn(proj), dags / "churn.py", CHURN_SPEC)
    (proj / "fail").mkdir()
    (proj / "fail" / "pipeline.yaml").write_text(FAILING, encoding="utf-8")
    compile_dag(proj / "fail" / "pipeline.yaml", dags / "fails_after_retries.py", "fail/pipeline.yaml")
    (proj / "finally_fails").mkdir()
    (proj / "finally_fails" / "pipeline.yaml").write_text(FINALLY_FAILS, encoding="utf-8")
    compile_dag(proj / "finally_fails" / "pipeline.yaml", dags / "finally_fails.py", "finally_fails/pipeline.yaml")
    (home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS, encoding="utf-8")

    dep = Deployment.create(base, dags, proj, {
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(home / "config"),        # airflow_local_settings (the cluster policy)
        "PIPESPEC_TEST_CALLBACKS": str(base / "callbacks.jsonl"),
    }, home=home)
    dep.proj = proj
    try:
        dep.up(DAG_IDS)
        yield dep
    finally:
        dep.stop_all()
        (base / "timings.json").write_text(json.dumps(dep.timings, indent=1))
        print(f"\nreal Airflow scheduler timings: {json.dumps(dep.timings)}")


def _run(dep: Deployment, dag_id: str, conf: dict, name: str) -> tuple[dict, dict]:
    t0 = time.monotonic()
    run_id = dep.trigger(dag_id, conf)
    run = dep.wait_run(dag_id, run_id)
    tis = dep.task_instances(dag_id, run_id)
    durations = sorted(ti["duration"] for ti in tis.values() if ti["duration"] is not None)
    dep.timings[name] = {"run_s": round(time.monotonic() - t0, 1), "tasks": len(tis),
                         "task_s_median": durations[len(durations) // 2] if durations else None,
                         "task_s_max": max(durations) if durations else None}
    return run, tis


def _steps(tis: dict) -> dict:
    """The task instances of steps (helper tasks have '__' in their id), in local-runner terms."""
    return {lbl: AIRFLOW_TO_LOCAL[ti["state"]] for lbl, ti in tis.items() if "__" not in ti["task_id"]}


@pytest.fixture(scope="module")
def local_churn(tmp_path_factory):
    """`pipespec run` of the churn example on a copy of its own (deploy writes a registry there)."""
    base = tmp_path_factory.mktemp("local-churn")
    spec = copy_churn(base / "proj")
    return {name: {**local_run(spec, base / f"store-{name}", conf), "proj": base / "proj"}
            for name, conf in (("default", {}), ("gate", {"min_auc": 0.99}))}


def _in_project(value, proj: pathlib.Path):
    """``value`` with the project's folder written as <proj> (a deployed model's URI names it)."""
    return json.loads(json.dumps(value).replace(str(proj), "<proj>"))


def _compare_with_local(dep, tis, local, run_id):
    assert _steps(tis) == {lbl: s["status"] for lbl, s in local["steps"].items()}
    compared = 0
    for lbl, ti in tis.items():
        if "__" in ti["task_id"] or ti["state"] != "success":
            continue
        result = dep.xcom("churn", run_id, ti["task_id"], ti["map_index"])
        mine = {k: _in_project(result[k], dep.proj) for k in ("values", "metrics")}
        theirs = {k: _in_project(local["steps"][lbl][k], local["proj"]) for k in ("values", "metrics")}
        assert mine == theirs, lbl
        compared += 1
    assert compared >= 6


def test_churn_through_the_scheduler(deployment, local_churn):
    dep = deployment
    run, tis = _run(dep, "churn", {}, "churn_default")
    states = {lbl: ti["state"] for lbl, ti in tis.items()}
    assert run["state"] == "success", (states, dep.logs())
    assert states == {
        "ingest": "success", "prepare": "success", "train__foreach": "success",
        "train[0]": "success", "train[1]": "success", "evaluate": "success",
        "deploy__if": "success", "deploy": "success", "monitor": "success", "notify": "success",
        "finally__succeeded": "success", "pipespec__start": "success", "pipespec__finish": "success",
    }
    # every task ran in a worker process of its own, once (the inert leaf after the finally
    # tasks is an EmptyOperator: the scheduler marks it without starting a worker)
    ran = {lbl: ti for lbl, ti in tis.items() if lbl != "finally__succeeded"}
    assert all(ti["try_number"] == 1 for ti in ran.values())
    assert len({ti["pid"] for ti in ran.values()}) == len(ran)
    _compare_with_local(dep, tis, local_churn["default"], run["dag_run_id"])
    metrics = local_metrics(local_churn["default"]["run_dir"])   # the files the local run wrote
    ev = dep.xcom("churn", run["dag_run_id"], "evaluate", -1)
    assert ev["metrics"]["metrics"] == metrics["evaluate"]
    mon = dep.xcom("churn", run["dag_run_id"], "monitor", -1)
    assert mon["metrics"]["report"] == metrics["monitor"]
    assert dep.xcom("churn", run["dag_run_id"], "deploy", -1)["values"]["version"] == "v1"


def test_churn_gate_closed_through_the_scheduler(deployment, local_churn):
    dep = deployment
    run, tis = _run(dep, "churn", {"min_auc": 0.99}, "churn_gate_closed")
    states = {lbl: ti["state"] for lbl, ti in tis.items()}
    assert run["state"] == "success", (states, dep.logs())
    assert states["deploy"] == states["monitor"] == "skipped" and states["notify"] == "success"
    assert states["deploy__if"] == "success" and states["evaluate"] == "success"
    _compare_with_local(dep, tis, local_churn["gate"], run["dag_run_id"])


@pytest.fixture(scope="module")
def finally_fails_run(deployment):
    """A run of finally-fails, triggered and not awaited: it runs beside the next test's run."""
    return deployment.trigger("finally-fails", {}), time.monotonic()


def test_failed_step_fails_the_run_and_finally_still_runs(deployment, finally_fails_run, tmp_path):
    dep = deployment
    run, tis = _run(dep, "fails-after-retries", {}, "failing")
    states = {lbl: ti["state"] for lbl, ti in tis.items()}
    local = local_run(dep.proj / "fail" / "pipeline.yaml", tmp_path / "store", {}, expect=1)
    # the run's final state is the local runner's, and no helper task stands in the graph
    assert run["state"] == "failed" and local["status"] == "failed", states
    assert states == {"first": "success", "flaky": "failed", "after": "upstream_failed", "cleanup": "success",
                      "finally__succeeded": "success"}
    assert _steps(tis) == {lbl: s["status"] for lbl, s in local["steps"].items()}
    # the step failed after its retry (2 tries), as locally (2 attempts)
    assert tis["flaky"]["try_number"] == 2 == local["steps"]["flaky"]["attempts"]
    # the finally step (a teardown task) ran and saw the run failed, as it does locally
    seen = dep.xcom("fails-after-retries", run["dag_run_id"], "cleanup", -1)["values"]
    assert seen == {"seen": "failed"} == local["steps"]["cleanup"]["values"]
    # the deployment's DAG-level failure callback fired for this run (it runs in the dag-processor)
    cb = pathlib.Path(dep.env["PIPESPEC_TEST_CALLBACKS"])

    def fired():
        lines = cb.read_text().splitlines() if cb.exists() else []
        return [json.loads(x) for x in lines if json.loads(x)["run_id"] == run["dag_run_id"]]
    [call] = dep.wait_until("the on_failure_callback", fired, 60)
    assert call["dag_id"] == "fails-after-retries" and call["reason"] == "task_failure"
    # and the churn runs, which succeeded, did not fire it
    assert all(json.loads(x)["dag_id"] != "churn" for x in cb.read_text().splitlines())


def test_a_failing_finally_step_fails_the_run(deployment, finally_fails_run, tmp_path):
    """A teardown task does not count for the run's state, so a finally step that fails after
    successful steps would leave the Airflow run successful; the inert leaf after the teardowns
    (all_success) is then upstream_failed, and the run ends failed, as `pipespec run` does."""
    dep = deployment
    run_id, t0 = finally_fails_run
    run = dep.wait_run("finally-fails", run_id)
    dep.timings["finally_fails"] = {"run_s": round(time.monotonic() - t0, 1)}
    states = {lbl: ti["state"] for lbl, ti in dep.task_instances("finally-fails", run_id).items()}
    assert states == {"work": "success", "cleanup": "failed", "finally__succeeded": "upstream_failed"}
    assert run["state"] == "failed"
    local = local_run(dep.proj / "finally_fails" / "pipeline.yaml", tmp_path / "store", {}, expect=1)
    assert local["status"] == "failed"
    assert {lbl: s["status"] for lbl, s in local["steps"].items()} == {"work": "succeeded", "cleanup": "failed"}
    # and the deployment's DAG-level failure callback fired for it, as for a failed step
    cb = pathlib.Path(dep.env["PIPESPEC_TEST_CALLBACKS"])

    def fired():
        lines = cb.read_text().splitlines() if cb.exists() else []
        return [json.loads(x) for x in lines if json.loads(x)["run_id"] == run_id]
    [call] = dep.wait_until("the on_failure_callback of finally-fails", fired, 60)
    assert call["dag_id"] == "finally-fails" and call["reason"] == "task_failure"
