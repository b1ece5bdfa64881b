"""Inside a Kubeflow task: turn what KFP hands a component into one ``pipespec.runtime`` step run.

The compiled pipeline gives every step a lightweight-Python executor (``kfp.dsl.executor_main``
bootstrap, so it also runs under ``kfp.local``). Its function only declares the step's inputs
and outputs with KFP annotations and calls ``run_task(spec, step, digest, locals())`` here.

Input names carry their meaning (docs/targets/kubeflow.md, "Names"):
``params__P`` a parameter, ``steps__S__O`` an upstream output (value, artifact or a list of
them for a fan-in), ``foreach__item``/``foreach__items`` the loop item and the whole list,
``run__status`` the exit handler's final status. Outputs keep their own names; ``metrics__M``
is metrics output M as a Struct parameter, for conditions. Names in the spec never hold
``__``, so the two kinds cannot collide.

KFP delivers every number as a double: values are brought back to their declared types before
the step sees them. The step runs with ``retry=False``: KFP's retryPolicy retries the task.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from typing import Any

RUN_ID_FLAG = "--pipespec-run-id"
RUN_DATE_FLAG = "--pipespec-run-date"


def run_task(spec_path: str, step_name: str, digest: str, kwargs: dict[str, Any],
             argv: list[str] | None = None, record_root: str | None = None) -> None:
    """The Kubeflow adapter of the worker contract (``pipespec.runtime.worker``).
    ``record_root``: the lasting pipeline root under which the instance records its outcome
    (and, when it succeeded, its values) for the exit task's alerts (``OutcomeSink``)."""
    from pipespec.files import on_worker
    from pipespec.frontend import load_spec
    from pipespec.runtime import worker as w

    spec_path = on_worker(spec_path)      # relative to the project root: $PIPESPEC_PROJECT_DIR, else cwd
    res = load_spec(spec_path)
    if not res.ok:
        for d in res.diagnostics:
            print(f"pipespec: {spec_path}: {d.code}: {d.message}", file=sys.stderr)
        raise SystemExit(w.EXIT_USAGE)
    pipe = res.pipeline
    outcome = None
    try:
        req = _request(pipe, spec_path, step_name, digest, kwargs, sys.argv if argv is None else argv)
        if pipe.observe is not None and pipe.observe.tracking:
            _tracking_parent(pipe, req.run_id)
        sinks: list = [KfpSink(kwargs)]
        if record_root:
            outcome = OutcomeSink.open(pipe, record_root, req)
            sinks += [outcome] if outcome is not None else []
        result = w.run_request(pipe, req, sinks)
    except w.WorkerError as e:
        print(f"pipespec: error: {e}", file=sys.stderr)
        raise SystemExit(e.code) from None
    finally:
        if outcome is not None:
            outcome.root.close()
    if not result.ok:
        raise SystemExit(result.exit_code or 1)


class OutcomeSink:
    """How the instance's attempt ended, under the lasting pipeline root, for the exit task
    (KFP hands an exit task no other task's state or output): ``_outcome.json`` (status,
    attempt, start and end; a failed attempt too, before the task exits non-zero) and, when it
    succeeded, ``_values.json`` + ``_done`` as ``RootSink`` publishes them, with the metrics
    files of the steps a ``when:`` condition reads. Layout: ``integrations.collect.results_root``.
    A store that cannot be written is a warning: the step's result stands."""

    def __init__(self, root, run_id: str, index: int | None, read_by_conditions: bool) -> None:
        import time

        self.root, self.run_id, self.index = root, run_id, index
        self.read_by_conditions = read_by_conditions
        self.started = time.time()

    @classmethod
    def open(cls, pipe, record_root: str, req) -> "OutcomeSink | None":
        from pipespec.integrations.collect import results_root
        from pipespec.runtime.layout import LayoutError, Root

        try:
            root = Root(results_root(record_root))
        except LayoutError as e:
            _warn_unrecorded(req.step, e)
            return None
        reads = {s for r in pipe.observe.alerts for s in r.reads} if pipe.observe is not None else set()
        return cls(root, req.run_id, req.index, req.step in reads)

    def write(self, step, result) -> None:
        import os
        import shutil
        import time

        from pipespec.record import replace
        from pipespec.runtime.layout import LayoutError
        from pipespec.runtime.worker import RootSink

        root, run_id, index = self.root, self.run_id, self.index
        try:
            if result.ok:
                arts = {}
                for o in step.artifact_outputs:
                    src = result.artifacts.get(o.name)
                    if o.type != "metrics" or not self.read_by_conditions or not src:
                        continue
                    if root.remote:
                        arts[o.name] = src
                    else:                       # a local root holds its files in place
                        dst = os.path.join(root.instance(run_id, step.name, index), o.name)
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        shutil.copyfile(src, dst)
                        arts[o.name] = dst
                RootSink(root, run_id, index).write(step, replace(result, artifacts=arts))
            before = root.outcomes(run_id, step.name).get(index, {})
            attempt = before.get("attempt") if isinstance(before.get("attempt"), int) else 0
            root.put_outcome(run_id, step.name, index, {
                "status": result.status, "exit_code": result.exit_code, "attempt": attempt + 1,
                "started": self.started, "ended": time.time()})
        except (OSError, LayoutError, ValueError) as e:
            _warn_unrecorded(step.name, e)


def _warn_unrecorded(step: str, e: Exception) -> None:
    print(f"pipespec: warning: the outcome of step '{step}' was not recorded for the run's alerts: {e}",
          file=sys.stderr, flush=True)


def _tracking_parent(pipe, run_id: str) -> None:
    """The MLflow parent run that the pipeline's start task opened, found by its tags, as
    ``PIPESPEC_TRACKING_PARENT`` for the step's executor (the same hand-over as on every target)."""
    import os

    from pipespec.integrations import parent

    found = parent.find_id(pipe, run_id, "kubeflow", lambda m: print(m, file=sys.stderr))
    if found:
        os.environ["PIPESPEC_TRACKING_PARENT"] = found


def observe_task(action: str, spec_path: str, digest: str, record_root: str | None, kwargs: dict[str, Any],
                 argv: list[str] | None = None) -> None:
    """The start or finish task of a run: ``pipespec observe`` with what KFP hands the task (the
    run's id, its creation time, the exit handler's final status, the params)."""
    from pipespec.cli import main as cli

    argv = sys.argv if argv is None else argv
    run_id, run_date = _run_ids(argv)
    args = ["observe", action, spec_path, "--run-id", run_id, "--target", "kubeflow", "--digest", digest]
    if action == "start":
        args += ["--output", kwargs["parent"]]
    else:
        state = _state(kwargs.get("run__status"))
        status = {"SUCCEEDED": "succeeded", "CANCELED": "interrupted", "CANCELLED": "interrupted"}.get(state, "failed")
        params = {k.split("__", 1)[1]: v for k, v in kwargs.items() if k.startswith("params__") and v is not None}
        args += ["--status", status, "--params-json", json.dumps(params), "--run-date", run_date]
        if record_root:
            from pipespec.integrations.collect import results_root

            args += ["--artifact-root", record_root, "--outcomes", results_root(record_root)]
    code = cli(args)
    if code:
        raise SystemExit(code)


def _request(pipe, spec_path: str, step_name: str, digest: str, kwargs: dict[str, Any], argv: list[str]):
    """What KFP hands the component, as a ``WorkerRequest``."""
    from pipespec.runtime import worker as w
    from pipespec.runtime.layout import item_index

    w.check_digest(pipe, digest, spec_path)      # before any name of the request is looked up
    try:
        step = pipe.step(step_name)
    except KeyError:
        raise w.WorkerError(f"no step '{step_name}' in {spec_path}") from None
    run_id, run_date = _run_ids(argv)
    given, values, artifacts = {}, {}, {}
    item, items, status = None, None, None
    for key, v in kwargs.items():
        parts = key.split("__")
        if parts[0] == "params" and len(parts) == 2:
            given[parts[1]] = from_kfp(pipe.param(parts[1]).type.kind, pipe.param(parts[1]).type, v)
        elif parts[0] == "steps" and len(parts) == 3:
            src, out = parts[1], parts[2]
            o = pipe.step(src).output(out)
            fan_in = pipe.step(src).foreach is not None
            if o.is_artifact:
                artifacts.setdefault(src, {})[out] = [a.path for a in v] if fan_in else v.path
            else:
                values.setdefault(src, {})[out] = ([output_value(o.type, x) for x in v] if fan_in
                                                   else output_value(o.type, v))
        elif key == "foreach__item":
            item = v
        elif key == "foreach__items":
            items = v
        elif key == "run__status":
            status = "succeeded" if _state(v) == "SUCCEEDED" else "failed"
    req = w.WorkerRequest(step=step_name, params=given, values=values, artifacts=artifacts,
                          output_paths={o.name: kwargs[o.name].path for o in step.artifact_outputs},
                          run_id=run_id, run_date=run_date, run_status=status,
                          expected_digest=digest, spec_path=spec_path, retry=False)
    if step.foreach is not None:
        kind = step.item_type.kind if step.item_type else "any"
        req.item = from_kfp(kind, step.item_type, item)
        listed = [from_kfp(kind, step.item_type, x) for x in (items or [])]
        # KFP iterates over the items, not their positions: the first equal item gives the
        # index (equal items give equal steps, so only PIPESPEC_ITEM_INDEX can differ).
        req.index = item_index(listed, req.item)
    return req


class KfpSink:
    """KFP's side of the contract: value outputs as output parameters, metrics as metrics
    artifacts (and ``metrics__M`` Struct parameters, for conditions)."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs

    def write(self, step, result) -> None:
        if not result.ok:
            return
        kwargs = self.kwargs
        for o in step.value_outputs:
            if o.name in result.values:
                write_parameter(kwargs[o.name], o.type, result.values[o.name])
        for o in step.artifact_outputs:
            if o.type != "metrics":
                continue
            fields = result.metrics.get(o.name, {})
            art = kwargs[o.name]
            for k in sorted(fields):
                if isinstance(fields[k], (int, float)) and not isinstance(fields[k], bool):
                    art.log_metric(k, fields[k])
            if "metrics__" + o.name in kwargs:
                write_parameter(kwargs["metrics__" + o.name], "map", fields)


def _run_ids(argv: list[str]) -> tuple[str, str]:
    """run.id and run.date from the executor's extra arguments (KFP placeholders)."""
    def flag(name: str) -> str | None:
        for i, a in enumerate(argv[:-1]):
            if a == name:
                return argv[i + 1]
        return None

    run_id = flag(RUN_ID_FLAG)
    if not run_id or run_id.startswith("{{"):
        run_id = "kfp-" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    created = flag(RUN_DATE_FLAG) or ""
    if len(created) >= 10 and created[:4].isdigit() and created[4] == "-":
        run_date = created[:10]
    else:   # a runner that does not fill {{$.pipeline_job_create_time_utc}} (kfp.local)
        run_date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    return run_id, run_date


def _state(status: Any) -> str:
    state = getattr(status, "state", None)
    if state is None and isinstance(status, dict):
        state = status.get("state")
    return str(state or "").upper()


def from_kfp(kind: str, typ: Any, v: Any) -> Any:
    """A KFP parameter value (numbers are doubles) as the language type ``kind`` wants it."""
    if v is None:
        return None
    if kind == "int" and isinstance(v, float) and v.is_integer():
        return int(v)
    if kind == "float" and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if kind == "list" and isinstance(v, list):
        item = getattr(typ, "item", None)
        if item is not None:
            return [from_kfp(item.kind, item, x) for x in v]
    return v


def output_value(out_type: str, v: Any) -> Any:
    """An upstream value output as its producer declared it."""
    return from_kfp(out_type, None, v)


def write_parameter(path: str, out_type: str, value: Any) -> None:
    """Write an output parameter file as KFP reads it back: text raw, everything else JSON."""
    import os

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = value if out_type in ("string", "path") and isinstance(value, str) else json.dumps(value)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
