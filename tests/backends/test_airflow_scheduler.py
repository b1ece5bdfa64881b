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

Every process runs in its own process group and is stopped by its PID (SIGTERM, then SIGKILL)
in a finally; every wait is bounded. Timings are printed (pytest -s) and kept in
`<tmp>/timings.json`.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from airflow_support import AIRFLOW_TO_LOCAL, CHURN_SPEC, compile_dag, copy_churn, local_metrics, local_run
from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
import verify  # noqa: E402  (tests/tooling/verify.py)

pytestmark = pytest.mark.slow

DAG_IDS = ("churn", "fails-after-retries", "finally-fails")
START_TIMEOUT = 150      # s: db migrate + the api-server answering + both DAGs parsed
RUN_TIMEOUT = 240        # s: one DAG run, triggered to finished

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group the process leads (its PID: every worker it forked gets it
    too), then SIGKILL while the leader lives; bounded waits. Never signalled once the leader is
    reaped: its PID could then belong to another process."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


class Deployment:
    def __init__(self, base: pathlib.Path, env: dict, port: int) -> None:
        self.base, self.env, self.port = base, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.token: str | None = None
        self.timings: dict = {}

    def airflow(self) -> str:
        return str(pathlib.Path(self.env["VIRTUAL_ENV"]) / "bin" / "airflow")

    def start(self, name: str, *args: str) -> None:
        log = open(self.base / f"{name}.log", "w")
        try:
            self.procs[name] = subprocess.Popen([self.airflow(), *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                cwd=self.base, start_new_session=True)
        finally:
            log.close()

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            _stop(proc)

    def logs(self, n: int = 30) -> str:
        out = []
        for name in self.procs:
            lines = (self.base / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name} (exit {self.procs[name].poll()}) ---\n" + "\n".join(lines[-n:]))
        return "\n".join(out)

    # -- REST ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, *, auth: bool = True, timeout: float = 15):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")

    def wait_until(self, what: str, probe, timeout: float, every: float = 1.0):
        """Call ``probe`` until it returns something truthy (bounded); a dead process fails early."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            assert not dead, f"{dead} exited while waiting for {what}\n{self.logs()}"
            try:
                got = probe()
                if got:
                    return got
            except (urllib.error.URLError, OSError, ValueError) as e:  # not up yet
                last = e
            time.sleep(every)
        pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})\n{self.logs()}")

    def trigger(self, dag_id: str, conf: dict) -> str:
        status, run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        assert status == 200, run
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str) -> dict:
        def done():
            _, run = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None
        return self.wait_until(f"run {run_id} of {dag_id}", done, RUN_TIMEOUT)

    def task_instances(self, dag_id: str, run_id: str) -> dict:
        _, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        out = {}
        for ti in body["task_instances"]:
            label = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            out[label] = ti
        return out

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> object:
        _, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
                                      f"/xcomEntries/return_value?map_index={map_index}&deserialize=true"
                                      f"&stringify=false")
        return body["value"]


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

    t0 = time.monotonic()
    env_dir = verify.ensure("airflow", with_pipespec=True, quiet=True)
    env = verify.tool_environ(env_dir)
    port = _free_port()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),   # one secret for every process
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(home / "config"),        # airflow_local_settings (the cluster policy)
        "PIPESPEC_PROJECT_DIR": str(proj),
        "PIPESPEC_TEST_CALLBACKS": str(base / "callbacks.jsonl"),
        "PYTHONUNBUFFERED": "1",
    })
    dep = Deployment(base, env, port)
    dep.proj = proj
    try:
        r = subprocess.run([dep.airflow(), "db", "migrate"], env=env, cwd=base, capture_output=True,
                           text=True, timeout=120, start_new_session=True)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        dep.timings["db_migrate_s"] = round(time.monotonic() - t0, 1)
        dep.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        dep.start("scheduler", "scheduler")
        dep.start("dag-processor", "dag-processor")

        def healthy():
            _, h = dep.request("GET", "/api/v2/monitor/health", auth=False, timeout=5)
            return h["metadatabase"]["status"] == "healthy" and h["scheduler"]["status"] == "healthy"
        dep.wait_until("a healthy deployment", healthy, START_TIMEOUT)
        dep.timings["healthy_s"] = round(time.monotonic() - t0, 1)
        _, tok = dep.request("GET", "/auth/token", auth=False)
        dep.token = tok["access_token"]

        def parsed():
            _, body = dep.request("GET", "/api/v2/dags?limit=100")
            return {d["dag_id"] for d in body["dags"]} >= set(DAG_IDS)
        dep.wait_until("the DAGs parsed", parsed, START_TIMEOUT, every=2)
        for dag_id in DAG_IDS:
            status, _ = dep.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            assert status == 200
        dep.timings["ready_s"] = round(time.monotonic() - t0, 1)
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
