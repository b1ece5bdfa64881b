"""The MLflow parent run of a pipeline run on a compiled target (``pipespec observe start`` and
``finish``): the workers' ``pipespec exec`` nest their step runs under it (they are handed its
id in ``PIPESPEC_TRACKING_PARENT``).

``start`` is idempotent: the parent is found first by its tags ``pipespec.run_id`` and
``pipespec.target``, so a retried start task opens no second parent. ``finish`` logs the params,
ends the parent with the run's status (FINISHED, FAILED, KILLED) and never raises: an MLflow
that cannot be reached is a warning. The store: ``tracking.mlflow.uri``, else the worker's
``$MLFLOW_TRACKING_URI``, else ``sqlite:///`` ``.pipespec/mlflow.db`` beside the spec (the
local runner's default, so one machine's runs share one store). Imports MLflow only when
called.
"""

from __future__ import annotations

import json
import os
import re
from typing import Callable

from .. import ir
from ..runtime.context import spec_dir

STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_BACK = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "interrupted"}


def store_uri(pipe: ir.Pipeline) -> str:
    obs = pipe.observe
    if obs is not None and obs.mlflow_uri:
        return obs.mlflow_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{os.path.join(spec_dir(pipe), '.pipespec', 'mlflow.db')}"


def _client(pipe: ir.Pipeline, warn: Callable[[str], None], create: bool):
    """(client, experiment id) or None with one warning."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        warn("pipespec: warning: tracking: needs MLflow on this worker (pip install 'pipespec[mlflow]'); "
             "nothing is tracked")
        return None
    for k, v in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                 ("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")):
        os.environ.setdefault(k, v)            # an outage costs seconds, not minutes of retries
    uri = store_uri(pipe)
    obs = pipe.observe
    try:
        if uri.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(uri[len("sqlite:///"):]) or ".", exist_ok=True)
        client = MlflowClient(uri)
        name = obs.mlflow_experiment or pipe.name
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return client, exp.experiment_id
        if not create:
            return None
        arts = None
        if not obs.mlflow_uri and uri.startswith("sqlite:///"):
            arts = "file://" + os.path.join(os.path.dirname(uri[len("sqlite:///"):]), "mlflow-artifacts")
        return client, client.create_experiment(name, artifact_location=arts)
    except Exception as e:              # MLflow's own errors: an outage, a bad URI, a locked database
        warn(f"pipespec: warning: MLflow at {_shown(uri)} cannot be used ({type(e).__name__}); nothing is tracked")
        return None


def _find(client, experiment_id: str, run_id: str, target: str):
    if not re.fullmatch(r"[0-9A-Za-z._:+-]+", run_id) or not re.fullmatch(r"[0-9A-Za-z_-]+", target):
        return None                     # checked text only inside the filter's quotes
    found = client.search_runs([experiment_id], f"tags.`pipespec.run_id` = '{run_id}' and "
                               f"tags.`pipespec.target` = '{target}'", max_results=50)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    return min(parents, key=lambda r: r.info.start_time) if parents else None


def start(pipe: ir.Pipeline, run_id: str, target: str, warn: Callable[[str], None]) -> str:
    """The parent run's id ('' when MLflow cannot be used)."""
    got = _client(pipe, warn, create=True)
    if got is None:
        return ""
    client, eid = got
    try:
        found = _find(client, eid, run_id, target)
        if found is not None:
            return found.info.run_id
        tags = {"pipespec.pipeline": pipe.name, "pipespec.spec_digest": pipe.digest(), "pipespec.target": target,
                "pipespec.run_id": run_id, "mlflow.source.name": pipe.source or ""}
        commit = os.environ.get("GITHUB_SHA") or os.environ.get("PIPESPEC_GIT_COMMIT")
        if commit and re.fullmatch(r"[0-9a-f]{7,64}", commit):
            tags["pipespec.git_commit"] = commit
        return client.create_run(eid, run_name=pipe.name, tags=tags).info.run_id
    except Exception as e:
        warn(f"pipespec: warning: the MLflow parent run was not opened ({type(e).__name__}); nothing is tracked")
        return ""


def find_id(pipe: ir.Pipeline, run_id: str, target: str, warn: Callable[[str], None]) -> str:
    """The parent run's id, opened by the run's start task ('' when there is none, or MLflow
    cannot be used: a warning, never an error)."""
    got = _client(pipe, warn, create=False)
    if got is None:
        return ""
    try:
        found = _find(got[0], got[1], run_id, target)
    except Exception as e:
        warn(f"pipespec: warning: the MLflow parent run was not found ({type(e).__name__})")
        return ""
    return found.info.run_id if found is not None else ""


def finish(run, parent_id: str | None, warn: Callable[[str], None]) -> None:
    """End the parent (``parent_id``, else the one tagged with the run's id) with the run's status."""
    pipe = run.pipeline
    got = _client(pipe, warn, create=False)
    if got is None:
        return
    client, eid = got
    try:
        if not parent_id:
            found = _find(client, eid, run.run_id, run.target)
            if found is None:
                warn(f"pipespec: warning: no MLflow parent run of run {run.run_id}: nothing to end")
                return
            parent_id = found.info.run_id
        from mlflow.entities import Param

        params = [Param(k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)[:6000])
                  for k, v in sorted(run.params.items())]
        logged = client.get_run(parent_id).data.params
        params = [p for p in params if p.key not in logged]       # a retried finish logs nothing twice
        if params:
            client.log_batch(parent_id, params=params[:100])
        client.set_terminated(parent_id, STATUS.get(run.status, "FAILED"), end_time=int(run.ended * 1000))
    except Exception as e:
        warn(f"pipespec: warning: the MLflow parent run was not ended ({type(e).__name__}: {e})")


def previous_status(pipe: ir.Pipeline, target: str, run_id: str, warn: Callable[[str], None]) -> str | None:
    """The status of the latest other ended parent run of the pipeline on ``target``."""
    got = _client(pipe, lambda _m: None, create=False)
    if got is None or not re.fullmatch(r"[0-9A-Za-z_-]+", target):
        return None
    client, eid = got
    try:
        found = client.search_runs([eid], f"tags.`pipespec.target` = '{target}' and attributes.status != 'RUNNING'",
                                   order_by=["attributes.start_time DESC"], max_results=20)
    except Exception:
        return None
    for r in found:
        if "mlflow.parentRunId" in r.data.tags or r.data.tags.get("pipespec.run_id") == run_id:
            continue
        if r.data.tags.get("pipespec.pipeline") == pipe.name:
            return _BACK.get(r.info.status)
    return None


def _shown(uri: str) -> str:
    import urllib.parse

    p = urllib.parse.urlsplit(uri)
    return f"{p.scheme}://{p.hostname}" if p.hostname else p.scheme + ":"
