"""A REAL Airflow 3 deployment as production runs one, bound to 127.0.0.1: `airflow db migrate`,
then `api-server`, `scheduler` (the LocalExecutor, parallelism 2) and `dag-processor` over a
SQLite metadata DB, from the tooling env (tests/tooling/envs.py, pipespec installed editable).
Runs are triggered and read back through the REST API (a JWT from the simple auth manager).

One harness for every user: tests/backends/test_airflow_scheduler.py, test_airflow_observe.py,
tests/integrations/test_churn_every_target.py and bench/targets.py.

    dep = Deployment.create(base, dags, proj, extra_env)   # env + a free port; nothing started
    try:
        dep.up(["churn"])                                   # migrate, start, healthy, parsed, unpaused
        run = dep.wait_run("churn", dep.trigger("churn", {"min_auc": 0.9}))
    finally:
        dep.stop_all()

Every process runs in its own process group and is stopped by its PID (SIGTERM, then SIGKILL);
every wait is bounded. A timeout or a process that died raises AssertionError with the logs.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from support import stop_group

START_TIMEOUT = 150      # s: db migrate + the api-server answering + the DAGs parsed
RUN_TIMEOUT = 240        # s: one DAG run, triggered to finished


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _verify():
    here = pathlib.Path(__file__).resolve().parent / "tooling"
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import verify

    return verify


class Deployment:
    def __init__(self, base: pathlib.Path, env: dict, port: int) -> None:
        self.base, self.env, self.port = base, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.token: str | None = None
        self.timings: dict = {}

    @classmethod
    def create(cls, base: pathlib.Path, dags: pathlib.Path, proj: pathlib.Path, extra_env: dict | None = None,
               *, home: pathlib.Path | None = None) -> "Deployment":
        """The deployment's environment (the airflow env's, with pipespec) over ``dags``, steps
        run with ``PIPESPEC_PROJECT_DIR=proj``; ``extra_env`` last. Starts nothing."""
        verify = _verify()
        home = home or base / "airflow_home"
        home.mkdir(parents=True, exist_ok=True)
        env = verify.tool_environ(verify.ensure("airflow", with_pipespec=True, quiet=True))
        port = free_port()
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
            "PIPESPEC_PROJECT_DIR": str(proj),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        })
        return cls(base, env, port)

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

    def up(self, dag_ids, timeout: float = START_TIMEOUT) -> None:
        """db migrate, the three processes, a healthy deployment, a token, ``dag_ids`` parsed and
        unpaused; ``timings`` gets db_migrate_s, healthy_s and ready_s."""
        t0 = time.monotonic()
        r = subprocess.run([self.airflow(), "db", "migrate"], env=self.env, cwd=self.base, capture_output=True,
                           text=True, timeout=max(120, timeout), start_new_session=True)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        self.timings["db_migrate_s"] = round(time.monotonic() - t0, 1)
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port))
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")

        def healthy():
            _, h = self.request("GET", "/api/v2/monitor/health", auth=False, timeout=5)
            return h["metadatabase"]["status"] == "healthy" and h["scheduler"]["status"] == "healthy"
        self.wait_until("a healthy deployment", healthy, timeout)
        self.timings["healthy_s"] = round(time.monotonic() - t0, 1)
        _, tok = self.request("GET", "/auth/token", auth=False)
        self.token = tok["access_token"]

        def parsed():
            _, body = self.request("GET", "/api/v2/dags?limit=100")
            return {d["dag_id"] for d in body["dags"]} >= set(dag_ids)
        self.wait_until("the DAGs parsed", parsed, timeout, every=2)
        for dag_id in dag_ids:
            status, _ = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            assert status == 200, dag_id
        self.timings["ready_s"] = round(time.monotonic() - t0, 1)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop_group(proc)

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
        raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})\n{self.logs()}")

    def trigger(self, dag_id: str, conf: dict) -> str:
        status, run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        assert status == 200, run
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        def done():
            _, run = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None
        return self.wait_until(f"run {run_id} of {dag_id}", done, timeout)

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
