"""The churn example (specs/churn, its real steps; tracking with the `champion` alias, alerts and
metrics as the example has them) on every target, against ONE real `mlflow server` and ONE
real HTTP alert receiver on 127.0.0.1, and what each target produced, read back through
MLflow's own client, the receiver and the Prometheus textfile.

Targets, in this order (sequential: one 2-core machine): the local runner (`pipespec run`),
`airflow dags test` (tests/tooling verify.airflow_run), a real Airflow deployment with its
scheduler (tests/airflow_deployment.py), kfp.local (verify.kfp_local_run) and act
(verify.act_run). Each runs the example twice: `models=[logreg,svm]` first (train[svm] fails:
there is no such kind; a failed run and its failure alert), then the defaults (a successful run,
the recovery alert, a new registered version with the alias champion).

The store reaches every target through `MLFLOW_TRACKING_URI` (the spec gives no `uri:`) and the
alert URL through each target's secret store (env, Airflow Variable, act secret file), a path
per target on the receiver. The copy of the example adds only `targets.github` (act's runner
has no checkout: the spec's absolute path, no setup, a lasting artifact root), a section no
other target reads — so every target runs the same IR (one spec digest).

Used by tests/integrations/test_churn_every_target.py; `table()` renders the side-by-side report.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (ROOT / "tests", ROOT / "tests" / "tooling", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import verify  # noqa: E402
from airflow_deployment import Deployment  # noqa: E402
from airflow_support import compile_dag  # noqa: E402

ALL = ("local", "dags test", "scheduler", "kfp.local", "act")
# PIPESPEC_EVERY_TARGETS=local,act runs a subset (while debugging one target); the default is all
TARGETS = tuple(t for t in ALL if t in os.environ.get("PIPESPEC_EVERY_TARGETS", ",".join(ALL)).split(","))
KEY = {"local": "local", "dags test": "dagstest", "scheduler": "scheduler", "kfp.local": "kfp", "act": "act"}
TAG = {"local": "local", "dags test": "airflow", "scheduler": "airflow", "kfp.local": "kubeflow", "act": "github"}
FAIL = {"models": ["logreg", "svm"]}        # train[svm]: no such model kind, the run fails
RUNS = (("failure", FAIL), ("recovery", {}))
TEXTFILE = ".pipespec/metrics/churn.prom"


def project(base: pathlib.Path) -> pathlib.Path:
    """A copy of the churn example (no run store, no registry) with targets.github for act; its spec."""
    proj = base / "proj"
    shutil.copytree(ROOT / "specs" / "churn", proj / "specs" / "churn",
                    ignore=shutil.ignore_patterns(".pipespec", "registry", "__pycache__"))
    spec = proj / "specs" / "churn" / "pipeline.yaml"
    spec.write_text(spec.read_text() + f"\ntargets:\n  github:\n    setup: false\n    artifact_root: {base / 'gh-root'}\n"
                    f"    spec_path: {spec}\n")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)    # the project root, wherever the tmp dir is
    return spec


def _compile(backend: str, spec: pathlib.Path) -> str:
    import importlib

    from pipespec.backends.base import CompileOptions
    from pipespec.frontend import load_spec

    cls = {"kubeflow": "KubeflowBackend", "github": "GithubBackend"}[backend]
    res = load_spec(str(spec))
    assert res.ok, [d.message for d in res.diagnostics]
    r = getattr(importlib.import_module(f"pipespec.backends.{backend}"), cls)().compile(
        res.pipeline, CompileOptions("specs/churn/pipeline.yaml", None))
    assert r.ok, [d.message for d in r.diagnostics]
    return r.text


class World:
    """The shared store and receiver, the project, and one method per target: each runs the
    example with ``params`` and returns (what the target said, seconds)."""

    def __init__(self, base: pathlib.Path, mlflow_url: str, receiver) -> None:
        self.base, self.mlflow, self.http = base, mlflow_url, receiver
        self.spec = project(base)
        self.proj = self.spec.parents[2]
        self.dags = base / "dags"
        self.dags.mkdir()
        compile_dag(self.spec, self.dags / "churn.py", "specs/churn/pipeline.yaml")
        self.dep: Deployment | None = None
        self.scheduler_up_s = 0.0             # the deployment coming up, not counted in a run's time

    def alert_url(self, target: str) -> str:
        return f"{self.http.url}/alerts/{KEY[target]}"

    def _env(self, target: str, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PIPESPEC_", "AIRFLOW"))}
        env.update(MLFLOW_TRACKING_URI=self.mlflow, PIPESPEC_PROJECT_DIR=str(self.proj), **extra)
        return env

    def run(self, target: str, params: dict, n: int) -> tuple[dict, float]:
        t0 = time.monotonic()
        up = self.scheduler_up_s
        said = getattr(self, "_" + KEY[target])(params, n)
        return said, round(time.monotonic() - t0 - (self.scheduler_up_s - up), 1)

    def _local(self, params: dict, n: int) -> dict:
        work = self.base / "local"
        work.mkdir(exist_ok=True)
        r = subprocess.run(["pipespec", "run", str(self.spec), "--progress", "plain", "--params-json",
                            json.dumps(params)], cwd=work, capture_output=True, text=True, timeout=600,
                           env=self._env("local", ALERT_WEBHOOK_URL=self.alert_url("local")))
        return {"ok": r.returncode == 0, "returncode": r.returncode, "tail": (r.stdout + r.stderr)[-3000:]}

    def _with_environ(self, env: dict, fn):
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            return fn()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _dagstest(self, params: dict, n: int) -> dict:
        env = self._env("dags test", AIRFLOW_VAR_ALERT_WEBHOOK=self.alert_url("dags test"))
        rep = self._with_environ(env, lambda: verify.airflow_run(
            self.dags / "churn.py", "churn", params, workdir=self.base / f"dagstest{n}", with_pipespec=True,
            timeout=600))
        return {"ok": rep.get("run_state") == "success", "run_state": rep.get("run_state"),
                "states": rep.get("states"), "run_id": rep.get("run_id"), "tail": rep.get("output_tail", "")[-2000:]}

    def _scheduler(self, params: dict, n: int) -> dict:
        if self.dep is None:
            base = self.base / "scheduler"
            base.mkdir()
            dep = Deployment.create(base, self.dags, self.proj, {
                "MLFLOW_TRACKING_URI": self.mlflow, "AIRFLOW_VAR_ALERT_WEBHOOK": self.alert_url("scheduler")})
            self.dep = dep
            t0 = time.monotonic()
            dep.up(["churn"])
            self.scheduler_up_s = round(time.monotonic() - t0, 1)
        run_id = self.dep.trigger("churn", params)
        run = self.dep.wait_run("churn", run_id, timeout=420)
        # a failed run may be marked failed before its finish teardown ended: the next run's
        # recovery needs the record that finish keeps
        self.dep.wait_until("the finish task", lambda: self.dep.task_instances("churn", run_id)[
            "pipespec__finish"]["state"] in ("success", "failed", "upstream_failed", "skipped"), 120)
        tis = self.dep.task_instances("churn", run_id)
        return {"ok": run["state"] == "success", "run_state": run["state"], "run_id": run_id,
                "states": {lbl: ti["state"] for lbl, ti in tis.items()}}

    def stop(self) -> None:
        if self.dep is not None:
            self.dep.stop_all()

    def _kfp(self, params: dict, n: int) -> dict:
        ir = self.base / "churn-kfp.yaml"
        if not ir.exists():
            ir.write_text(_compile("kubeflow", self.spec))
        # kfp.local has no Kubernetes secrets: the tasks inherit the environment
        env = self._env("kfp.local", ALERT_WEBHOOK_URL=self.alert_url("kfp.local"))
        rep = self._with_environ(env, lambda: verify.kfp_local_run(ir, params, with_pipespec=True,
                                                                   workdir=self.base / f"kfp{n}", timeout=900))
        return {"ok": bool(rep.get("ok")), "errors": rep.get("errors")}

    def _act(self, params: dict, n: int) -> dict:
        wf = self.base / "churn-gh.yml"
        if not wf.exists():
            wf.write_text(_compile("github", self.spec))
        secrets = self.base / "act-secrets.env"
        secrets.write_text(f"ALERT_WEBHOOK={self.alert_url('act')}\n")
        inputs = {k: json.dumps(v) for k, v in params.items()}
        rep = self._with_environ(self._env("act"), lambda: verify.act_run(
            wf, inputs, workdir=self.base / f"act{n}", timeout=900, secret_file=secrets,
            env={"MLFLOW_TRACKING_URI": self.mlflow, "GITHUB_RUN_ID": str(3000 + n)}))
        return {"ok": bool(rep.get("ok")) and set(rep.get("jobs", {}).values()) <= {"success", "skipped"},
                "jobs": rep.get("jobs"), "errors": rep.get("errors"), "stderr": rep.get("_stderr", "")[-2000:]}

    def textfile(self) -> str | None:
        f = self.spec.parent / TEXTFILE
        return f.read_text() if f.exists() else None

    def clear_textfile(self) -> None:
        (self.spec.parent / TEXTFILE).unlink(missing_ok=True)


# -- reading back ------------------------------------------------------------------------------

def parents(client, eid: str) -> dict:
    return {r.info.run_id: r for r in client.search_runs([eid], "", max_results=500)
            if "mlflow.parentRunId" not in r.data.tags}


def read_run(client, eid: str, parent) -> dict:
    """One pipeline run as MLflow holds it: the parent, its nested runs, and the versions of
    `churn` registered from them."""
    kids = client.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=500)
    nested = {k.info.run_name: {"status": k.info.status, "metrics": dict(k.data.metrics),
                                "params": dict(k.data.params), "run_id": k.info.run_id,
                                "tags": {t: v for t, v in k.data.tags.items() if t.startswith("pipespec.")}}
              for k in kids}
    by_run = {v["run_id"]: name for name, v in nested.items()}
    versions = [{"version": int(v.version), "step": by_run[v.run_id], "run_id": v.run_id,
                 "tag_run_id": v.tags.get("pipespec.run_id")}
                for v in client.search_model_versions("name = 'churn'") if v.run_id in by_run]
    return {"parent_id": parent.info.run_id, "status": parent.info.status, "name": parent.info.run_name,
            "tags": {t: v for t, v in parent.data.tags.items() if t.startswith("pipespec.")},
            "params": dict(parent.data.params), "nested": nested, "versions": versions}


def prom(text: str | None) -> dict:
    """The textfile's samples: {(name, sorted labels): value}."""
    if text is None:
        return {}
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


# -- the report --------------------------------------------------------------------------------

ROWS = ("parent runs", "nested runs", "metrics", "registered version / alias", "alerts", "Prometheus metrics",
        "wall time")


def _cell(row: str, got: dict) -> str:
    if got.get("error"):
        return "error: " + got["error"][:80].replace("|", "/")
    runs = [got["runs"][k] for k, _ in RUNS if k in got["runs"]]
    if row == "parent runs":
        return ", ".join(f"1 {r['status']}" for r in runs) + f" (tag target `{runs[0]['tags'].get('pipespec.target')}`)"
    if row == "nested runs":
        return " / ".join(f"{len(r['nested'])}: " + ", ".join(sorted(r["nested"])) if k == "recovery"
                          else f"{len(r['nested'])} (train[svm] {r['nested'].get('train[svm]', {}).get('status')})"
                          for (k, _), r in zip(RUNS, runs))
    rec = got["runs"].get("recovery")
    if row == "metrics":
        if rec is None:
            return "–"
        ev = rec["nested"].get("evaluate", {}).get("metrics", {})
        mon = rec["nested"].get("monitor", {}).get("metrics", {})
        return (f"evaluate {len(ev)} (auc {ev.get('auc', float('nan')):.4f}, f1 {ev.get('f1', float('nan')):.4f}); "
                f"monitor {len(mon)} (max_psi {mon.get('max_psi', float('nan')):.4f})")
    if row == "registered version / alias":
        vs = rec["versions"] if rec else []
        v = ", ".join(f"v{x['version']} from `{x['step']}`" for x in vs) or "none"
        return v + (f"; champion → v{got['champion']}" if got.get("champion") else "")
    if row == "alerts":
        return ", ".join(f"{a['event']} ({a['status']}, {','.join(a['failed_steps']) or '–'})" for a in got["alerts"])
    if row == "Prometheus metrics":
        m = got["prom"]
        names = {n for n, _ in m}
        model = sum(1 for n, _ in m if n == "pipespec_model_metric")
        steps = {dict(lb).get("step") for n, lb in m if n == "pipespec_step_success"}
        return f"{len(m)} samples: run {len([n for n in names if n.startswith('pipespec_run')])} kinds, " \
               f"step_success {len(steps)} steps, model_metric {model}"
    if row == "wall time":
        up = f" (deployment up: {got['up_s']:.0f} s more)" if got.get("up_s") else ""
        return " + ".join(f"{got['seconds'][k]:.0f} s" for k, _ in RUNS if k in got["seconds"]) + up
    raise KeyError(row)


def table(produced: dict) -> str:
    lines = ["| what each target produced | " + " | ".join(TARGETS) + " |",
             "|---|" + "---|" * len(TARGETS)]
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(_cell(row, produced.get(t, {"error": "not run"})) for t in TARGETS)
                     + " |")
    return "\n".join(lines) + "\n"
