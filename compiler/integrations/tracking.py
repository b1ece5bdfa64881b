"""MLflow tracking and registry for ``pipespec run`` (``tracking.mlflow``; the optional extra
``pipespec[mlflow]``; imported only when a spec has ``tracking:``, never by validate/compile).

``Tracker.start()`` opens one parent run before the steps start and puts
``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_ID`` and ``MLFLOW_RUN_ID`` in the environment the
steps inherit, so ``call:``/``run:`` code logs with plain ``mlflow.*`` into the pipeline's run
(one MLflow run per pipeline run, not one per process). ``finish(runner)`` then adds a nested
run per step instance (fan-out legs named by item) with its metrics outputs, times and status,
the pipeline's params and tags, registers each ``register:`` model output as a LoggedModel
version whose run is the step's nested run, and points the alias at it. Any MLflow failure is
a warning: it never changes the run's result.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from typing import Callable

_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "timeout": "FAILED", "interrupted": "KILLED",
           "cancelled": "KILLED"}


def _ms(t: float | None) -> int | None:
    return int(t * 1000) if t is not None else None


class Tracker:
    def __init__(self, client, uri: str, experiment_id: str, parent_id: str, pipeline, warn) -> None:
        self.client, self.uri, self.experiment_id, self.parent_id = client, uri, experiment_id, parent_id
        self.pipeline, self.warn = pipeline, warn

    @classmethod
    def start(cls, pipeline, store_dir: str, warn: Callable[[str], None],
              resume: str | None = None) -> "Tracker | None":
        """The pipeline run's MLflow run, opened before any step: a new one, or with ``resume``
        (a pipespec run id) that run's own, reopened (a resumed run is one run)."""
        obs = pipeline.observe
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            warn("pipespec: warning: tracking: needs MLflow (pip install 'pipespec[mlflow]'); nothing is tracked")
            return None
        os.makedirs(store_dir, exist_ok=True)
        # an outage costs seconds, not MLflow's default minutes of retries (the user's settings win)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        uri = obs.mlflow_uri or f"sqlite:///{os.path.join(os.path.abspath(store_dir), 'mlflow.db')}"
        try:
            client = MlflowClient(uri)
            name = obs.mlflow_experiment or pipeline.name
            exp = client.get_experiment_by_name(name)
            if exp is not None:
                eid = exp.experiment_id
            else:
                arts = None if obs.mlflow_uri else "file://" + os.path.join(os.path.abspath(store_dir), "mlflow-artifacts")
                eid = client.create_experiment(name, artifact_location=arts)
            parent = _resumed_parent(client, eid, resume) if resume else None
            if parent is not None:
                client.update_run(parent.info.run_id, status="RUNNING")
            else:
                parent = client.create_run(eid, run_name=pipeline.name, tags={
                    "pipespec.pipeline": pipeline.name, "pipespec.spec_digest": pipeline.digest(),
                    "pipespec.target": "local", "mlflow.source.name": pipeline.source or ""})
        except Exception as e:          # an outage, a bad URI, a locked database: MLflow's own errors
            warn(f"pipespec: warning: MLflow at {_shown(uri)} cannot be used ({type(e).__name__}); nothing is tracked")
            return None
        return cls(client, uri, eid, parent.info.run_id, pipeline, warn)

    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_EXPERIMENT_ID": self.experiment_id,
                "MLFLOW_RUN_ID": self.parent_id}

    def finish(self, runner) -> None:
        try:
            self._finish(runner)
        except Exception as e:
            self.warn(f"pipespec: warning: MLflow tracking did not finish ({type(e).__name__}: {e})")

    def _finish(self, runner) -> None:
        from mlflow.entities import Metric, Param, RunTag

        c, pipe = self.client, self.pipeline
        now = _ms(time.time())
        tags = [RunTag("pipespec.run_id", runner.run_id)]
        commit = _git_commit(runner)
        if commit:
            tags.append(RunTag("pipespec.git_commit", commit))
        params = [Param(k, _text(v)) for k, v in sorted(runner.params.items())]
        c.log_batch(self.parent_id, params=params[:100], tags=tags)
        children: dict[tuple[str, int | None], str] = {}
        logged = self._logged_children() if getattr(runner, "resume", None) else {}
        for name, st in runner.states.items():
            for inst in st.instances:
                if inst.status in ("pending", "not_run") and inst.started is None:
                    continue
                item = _text(inst.item) if inst.index is not None else None
                if inst.cache_hit and (name, item) in logged:
                    # reused by the resume, and already a nested run of this run
                    children[(name, inst.index)] = logged[(name, item)]
                    continue
                run = c.create_run(self.experiment_id, run_name=inst.label, start_time=_ms(inst.started) or now, tags={
                    "mlflow.parentRunId": self.parent_id, "pipespec.step": name, "pipespec.run_id": runner.run_id,
                    "pipespec.cache_hit": str(bool(inst.cache_hit)).lower()})
                rid = run.info.run_id
                children[(name, inst.index)] = rid
                ts = _ms(inst.ended) or now
                metrics = [Metric(k if len(inst.metrics) == 1 else f"{out}.{k}", float(v), ts, 0)
                           for out, fields in (inst.metrics or {}).items() if isinstance(fields, dict)
                           for k, v in fields.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
                p = [Param("item", _text(inst.item))] if inst.index is not None else []
                c.log_batch(rid, metrics=metrics, params=p)
                c.set_terminated(rid, _STATUS.get(inst.status, "FAILED"), end_time=ts)
        for reg in pipe.observe.register:
            self._register(runner, reg, children)
        c.set_terminated(self.parent_id, _STATUS.get(runner.status, "FAILED"), end_time=now)

    def _logged_children(self) -> dict[tuple[str, str | None], str]:
        """(step, item) -> the finished nested runs this run already has (before a resume)."""
        out = {}
        for r in self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
                                         max_results=5000):
            if r.info.status == "FINISHED" and "pipespec.step" in r.data.tags:
                out[(r.data.tags["pipespec.step"], r.data.params.get("item"))] = r.info.run_id
        return out

    def _register(self, runner, reg, children) -> None:
        st = runner.states.get(reg.step)
        done = [i for i in st.instances if i.status == "succeeded"] if st else []
        if len(done) != 1:
            if st is not None and st.step.foreach is not None:
                self.warn(f"pipespec: warning: tracking: '{reg.step}' is a fan-out: which leg to register "
                          "is not said; nothing registered")
            return                              # the step did not succeed: nothing to register
        inst = done[0]
        path = inst.artifacts.get(reg.output)
        if not path or not os.path.exists(path):
            return
        c = self.client
        lm = c.create_logged_model(self.experiment_id, name=reg.output, source_run_id=children[(reg.step, inst.index)])
        if os.path.isdir(path):
            c.log_model_artifacts(lm.model_id, path)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copy2(path, os.path.join(tmp, os.path.basename(path)))
                c.log_model_artifacts(lm.model_id, tmp)
        c.finalize_logged_model(lm.model_id, "READY")
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        version = mlflow.register_model(f"models:/{lm.model_id}", reg.model,
                                        tags={"pipespec.run_id": runner.run_id})
        if reg.alias:
            c.set_registered_model_alias(reg.model, reg.alias, version.version)


def _resumed_parent(client, experiment_id: str, run_id: str):
    """The MLflow run of pipespec run ``run_id`` (tagged when it finished), if there is one. A run
    id is checked text (``20261202-013853-605d``): it cannot break out of the filter's quotes."""
    if not re.fullmatch(r"[0-9A-Za-z-]+", run_id):
        return None
    found = client.search_runs([experiment_id], f"tags.`pipespec.run_id` = '{run_id}'", max_results=5000)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    return parents[0] if parents else None


def _text(v) -> str:
    import json

    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s[:6000]


def _shown(uri: str) -> str:
    import urllib.parse

    p = urllib.parse.urlsplit(uri)
    return f"{p.scheme}://{p.hostname}" if p.hostname else p.scheme + ":"


def _git_commit(runner) -> str | None:
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{os.path.join(runner.store_dir, 'runs.db')}?mode=ro", uri=True, timeout=10)
        try:
            row = db.execute("SELECT git_commit FROM runs WHERE id=?", (runner.run_id,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None
    except sqlite3.Error:
        return None
