"""MLflow tracking and registry (``tracking.mlflow``; the optional extra ``pipespec[mlflow]``;
imported only when a spec has ``tracking:``, never by validate/compile).

One pipeline run is one MLflow parent run; each step instance is one nested run under it
(fan-out legs named by item, ``step[item]``). Two callers, one code path for what a nested run
holds (``nested_tags``, ``log_result``, ``register``):

- ``pipespec run``: ``Tracker.start()`` opens the parent before the steps start and puts
  ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_ID`` and ``MLFLOW_RUN_ID`` (the parent) in the
  environment the steps inherit; ``finish(runner)`` adds the nested runs from the runner's step
  states, registers each ``register:`` output and ends the parent.
- ``pipespec exec`` on a compiled target's worker: the target opens the parent and hands its id
  in ``$PIPESPEC_TRACKING_PARENT``; ``StepTracker.open()`` opens (or, for a retry of the same
  instance, reopens) the instance's nested run before the step starts, the step's process gets
  ``MLFLOW_RUN_ID`` = the nested run, and ``close(result)`` logs the result, registers and ends
  it with the step's status.

Any MLflow failure is a warning: it never changes a step's or a run's result.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from typing import Any, Callable, Mapping

PARENT_ENV = "PIPESPEC_TRACKING_PARENT"     # the target's MLflow parent run id, for its workers

# a run's or a step instance's status -> MLflow's: a timed-out or killed step is KILLED, not FINISHED
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "timeout": "KILLED", "interrupted": "KILLED",
           "cancelled": "KILLED"}
_RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")         # MLflow's run ids are 32 hex digits
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")       # a step name (checked by the spec's schema)


def _ms(t: float | None) -> int | None:
    return int(t * 1000) if t is not None else None


def mlflow_status(status: str) -> str:
    return _STATUS.get(status, "FAILED")


def store_uri(obs, store_dir: str, environ: Mapping[str, str] = os.environ) -> str:
    """Where runs go: the spec's ``uri:``, else ``$MLFLOW_TRACKING_URI`` (a deployment's own
    setting), else ``sqlite:///STORE/mlflow.db`` (MLflow's own default kind of store)."""
    return (obs.mlflow_uri or environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{os.path.join(os.path.abspath(store_dir), 'mlflow.db')}")


def _quick_outage() -> None:
    # an outage costs seconds, not MLflow's default minutes of retries (the user's settings win)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def _client(warn: Callable[[str], None]):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        warn("pipespec: warning: tracking: needs MLflow (pip install 'pipespec[mlflow]'); nothing is tracked")
        return None
    _quick_outage()
    import logging

    # MLflow's INFO lines (creating the store's tables, "Successfully registered model") are not
    # the run's output; its warnings and errors still show
    logging.getLogger("mlflow").setLevel(max(logging.WARNING, logging.getLogger("mlflow").level))
    return MlflowClient


def instance_label(step: str, index: int | None, item: Any) -> str:
    from ..runner.state import instance_label as label

    return label(step, index, item)


def nested_tags(pipeline, step: str, index: int | None, run_id: str, target: str,
                commit: str | None, parent_id: str) -> dict[str, str]:
    """The tags of a step instance's nested run, on every target."""
    tags = {"mlflow.parentRunId": parent_id, "pipespec.step": step, "pipespec.index": _slot(index),
            "pipespec.run_id": run_id, "pipespec.spec_digest": pipeline.digest(), "pipespec.target": target,
            "pipespec.pipeline": pipeline.name}
    if commit:
        tags["pipespec.git_commit"] = commit
    return tags


def _slot(index: int | None) -> str:
    return "_" if index is None else str(index)


def metric_entities(metrics: dict | None, ts: int, step: int = 0) -> list:
    """Every numeric field of every ``metrics`` output: ``field``, or ``output.field`` when the
    step has more than one metrics output."""
    from mlflow.entities import Metric

    metrics = metrics or {}
    return [Metric(k if len(metrics) == 1 else f"{out}.{k}", float(v), ts, step)
            for out, fields in metrics.items() if isinstance(fields, dict)
            for k, v in fields.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def log_result(client, rid: str, metrics: dict | None, status: str, end_ms: int, *,
               item: Any = None, index: int | None = None, attempt: int = 0, tags: dict | None = None) -> None:
    """A step instance's result on its nested run: metrics, the ``item`` param of a fan-out leg,
    then the run ended with the instance's status."""
    from mlflow.entities import Param, RunTag

    params = [Param("item", _text(item))] if index is not None and attempt <= 1 else []
    client.log_batch(rid, metrics=metric_entities(metrics, end_ms, max(attempt - 1, 0)), params=params,
                     tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    client.set_terminated(rid, mlflow_status(status), end_time=end_ms)


def register(client, uri: str, experiment_id: str, reg, path: str | None, source_run_id: str,
             run_id: str) -> str | None:
    """A model output as a LoggedModel of the step's nested run (so the version links back to
    it), registered as a new version of ``reg.model``; ``reg.alias`` points at it. The version."""
    if not path or not os.path.exists(path):
        return None
    lm = client.create_logged_model(experiment_id, name=reg.output, source_run_id=source_run_id)
    if os.path.isdir(path):
        client.log_model_artifacts(lm.model_id, path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy2(path, os.path.join(tmp, os.path.basename(path)))
            client.log_model_artifacts(lm.model_id, tmp)
    client.finalize_logged_model(lm.model_id, "READY")
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(uri)        # a SQLite registry finds the LoggedModel of models:/ID there
    # the client's calls, not mlflow.register_model: the same store calls without its prints
    try:
        client.create_registered_model(reg.model)
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(reg.model, f"models:/{lm.model_id}", run_id=source_run_id,
                                          tags={"pipespec.run_id": run_id}, model_id=lm.model_id)
    if reg.alias:
        client.set_registered_model_alias(reg.model, reg.alias, version.version)
    return str(version.version)


def _fanout_warning(step: str) -> str:
    return (f"pipespec: warning: tracking: '{step}' is a fan-out: which leg to register is not said; "
            "nothing registered")


class Tracker:
    """``pipespec run``'s parent run and, after the run, its nested runs."""

    def __init__(self, client, uri: str, experiment_id: str, parent_id: str, pipeline, warn) -> None:
        self.client, self.uri, self.experiment_id, self.parent_id = client, uri, experiment_id, parent_id
        self.pipeline, self.warn = pipeline, warn

    @classmethod
    def start(cls, pipeline, store_dir: str, warn: Callable[[str], None],
              resume: str | None = None) -> "Tracker | None":
        """The pipeline run's MLflow run, opened before any step: a new one, or with ``resume``
        (a pipespec run id) that run's own, reopened (a resumed run is one run)."""
        obs = pipeline.observe
        MlflowClient = _client(warn)
        if MlflowClient is None:
            return None
        os.makedirs(store_dir, exist_ok=True)
        default = store_uri(obs, store_dir, {})
        uri = store_uri(obs, store_dir)
        try:
            client = MlflowClient(uri)
            name = obs.mlflow_experiment or pipeline.name
            exp = client.get_experiment_by_name(name)
            if exp is not None:
                eid = exp.experiment_id
            else:
                arts = None if uri != default else "file://" + os.path.join(os.path.abspath(store_dir),
                                                                             "mlflow-artifacts")
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
        from mlflow.entities import Param, RunTag

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
                tags = nested_tags(pipe, name, inst.index, runner.run_id, "local", commit, self.parent_id)
                tags["pipespec.cache_hit"] = str(bool(inst.cache_hit)).lower()
                run = c.create_run(self.experiment_id, run_name=inst.label, start_time=_ms(inst.started) or now,
                                   tags=tags)
                children[(name, inst.index)] = run.info.run_id
                log_result(c, run.info.run_id, inst.metrics, inst.status, _ms(inst.ended) or now,
                           item=inst.item, index=inst.index)
        for reg in pipe.observe.register:
            self._register(runner, reg, children)
        c.set_terminated(self.parent_id, mlflow_status(runner.status), end_time=now)

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
                self.warn(_fanout_warning(reg.step))
            return                              # the step did not succeed: nothing to register
        inst = done[0]
        if inst.cache_hit:
            return            # the run that produced it registered it: a cached result is no new version
        register(self.client, self.uri, self.experiment_id, reg, inst.artifacts.get(reg.output),
                 children[(reg.step, inst.index)], runner.run_id)


class StepTracker:
    """``pipespec exec``'s nested run: one step instance on a compiled target's worker, under
    the parent run the target opened (``$PIPESPEC_TRACKING_PARENT``).

    A retry of the same instance (a new exec process, the target's own retry) reopens the
    instance's nested run — found by its tags ``pipespec.step`` and ``pipespec.index`` under the
    parent — instead of opening a second one: one nested run per step instance, as on the local
    runner, with the tag ``pipespec.attempt`` counting the processes that ran it and each
    attempt's metrics logged at MLflow step ``attempt - 1`` (their history keeps every attempt).
    """

    def __init__(self, client, uri: str, experiment_id: str, parent_id: str, run_id: str, attempt: int,
                 pipeline, step, inputs, warn) -> None:
        self.client, self.uri, self.experiment_id, self.parent_id = client, uri, experiment_id, parent_id
        self.run_id, self.attempt, self.pipeline, self.step, self.inputs = run_id, attempt, pipeline, step, inputs
        self.warn = warn

    @classmethod
    def open(cls, pipeline, step, inputs, warn: Callable[[str], None],
             environ: Mapping[str, str] = os.environ, given=None) -> "StepTracker | None":
        """The nested run of this step instance, opened before the step starts; None (and one
        warning) when MLflow cannot be used, or when no parent was handed over (silently).
        ``given``: the names of the params the worker was handed (None: all); only those are
        logged on the parent — a default filled in here is not the run's value (a Kubeflow task
        gets only the params its step reads), and MLflow keeps a param's first value."""
        parent = environ.get(PARENT_ENV, "").strip()
        if not parent or pipeline.observe is None or not pipeline.observe.tracking:
            return None
        if not _RUN_ID.fullmatch(parent) or not _NAME.fullmatch(step.name):
            warn(f"pipespec: warning: ${PARENT_ENV} is not an MLflow run id; this step is not tracked")
            return None
        MlflowClient = _client(warn)
        if MlflowClient is None:
            return None
        from ..runtime.context import spec_dir

        uri = store_uri(pipeline.observe, os.path.join(spec_dir(pipeline), ".pipespec"), environ)
        try:
            c = MlflowClient(uri)
            parent_run = c.get_run(parent)
            eid = parent_run.info.experiment_id
            # the target that opened the parent (observe start --target T); no compiled file sets
            # $PIPESPEC_TARGET for its workers
            target = environ.get("PIPESPEC_TARGET") or parent_run.data.tags.get("pipespec.target") or "exec"
            found = c.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent}' and tags.`pipespec.step` = "
                                  f"'{step.name}' and tags.`pipespec.index` = '{_slot(inputs.index)}'",
                                  max_results=10, order_by=["attributes.start_time ASC"])
            if found:                   # a retry of this instance: its one nested run, reopened
                rid = found[0].info.run_id
                attempt = int(found[0].data.tags.get("pipespec.attempt", "1")) + 1
                c.update_run(rid, status="RUNNING")
                c.set_tag(rid, "pipespec.attempt", str(attempt))
            else:
                tags = nested_tags(pipeline, step.name, inputs.index, inputs.run_id, target,
                                   _head_commit(pipeline), parent)
                tags["pipespec.attempt"] = "1"
                run = c.create_run(eid, run_name=instance_label(step.name, inputs.index, inputs.item), tags=tags)
                rid, attempt = run.info.run_id, 1
                _log_params(c, parent, {k: v for k, v in inputs.params.items()
                                        if given is None or k in given}, warn)
        except Exception as e:          # an outage, a bad URI, an unknown parent: MLflow's own errors
            warn(f"pipespec: warning: MLflow at {_shown(uri)} cannot be used ({type(e).__name__}); "
                 "this step is not tracked")
            return None
        return cls(c, uri, eid, parent, rid, attempt, pipeline, step, inputs, warn)

    def env(self) -> dict[str, str]:
        """For the step's process: plain ``mlflow.*`` in ``call:`` code logs into the nested run."""
        return {"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_EXPERIMENT_ID": self.experiment_id,
                "MLFLOW_RUN_ID": self.run_id}

    def close(self, result) -> None:
        """The result logged, the step's model outputs registered, the run ended with its status."""
        try:
            end = _ms(time.time())
            log_result(self.client, self.run_id, result.metrics, result.status, end, item=self.inputs.item,
                       index=self.inputs.index, attempt=self.attempt,
                       tags={"pipespec.attempts": str(result.attempts), "pipespec.status": result.status})
            if not result.ok:
                return
            for reg in self.pipeline.observe.register:
                if reg.step != self.step.name:
                    continue
                if self.step.foreach is not None:
                    self.warn(_fanout_warning(reg.step))
                    continue
                register(self.client, self.uri, self.experiment_id, reg, result.artifacts.get(reg.output),
                         self.run_id, self.inputs.run_id)
        except Exception as e:
            self.warn(f"pipespec: warning: MLflow tracking of this step did not finish ({type(e).__name__}: {e})")
            try:
                self.client.set_terminated(self.run_id, mlflow_status(result.status))
            except Exception:
                pass


def _log_params(client, parent: str, params: dict, warn) -> None:
    """The params a worker was given, on the parent run, as the local runner logs them: every
    worker of the run logs the same values (MLflow accepts a param logged again with its value)."""
    from mlflow.entities import Param

    if not params:
        return
    try:
        client.log_batch(parent, params=[Param(k, _text(v)) for k, v in sorted(params.items())][:100])
    except Exception as e:
        warn(f"pipespec: warning: the params were not logged to the parent run ({type(e).__name__})")


def _head_commit(pipeline) -> str | None:
    from ..runner.gitinfo import head_commit
    from ..runtime.context import spec_dir

    try:
        return head_commit(spec_dir(pipeline))
    except OSError:
        return None


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
