"""A compiled target's finished run as a ``finished.FinishedRun``: what the target passes
(the run's status, each task's state and times, the params) plus what its workers left under
the run's artifact root (``ROOT/RUN/STEP/SLOT/_values.json`` of every instance that succeeded),
and the pipeline's previous run from the record ``finish`` keeps beside the runs.

The record: ``ROOT/_pipespec/observe/PIPELINE/TARGET.json`` (a run id never starts with ``_``,
so it names no run's folder) holds the last finished run's id, status and step states, and the
record before it, so that a retried ``finish`` of the same run still compares against the run
before it. It is where recovery on a target comes from when the artifact root outlives a run
(a shared folder or an object store); without it the previous parent run in MLflow is asked.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
from typing import Any, Callable

from .. import ir
from ..runtime.layout import DONE, LayoutError, Root, slot
from .finished import FinishedRun, StepOutcome

RUN_STATES = {"succeeded": "succeeded", "success": "succeeded", "failed": "failed", "failure": "failed",
              "interrupted": "interrupted", "cancelled": "interrupted", "canceled": "interrupted"}
STEP_STATES = {"succeeded": "succeeded", "success": "succeeded", "failed": "failed", "failure": "failed",
               "timeout": "failed", "skipped": "skipped", "upstream_failed": "not_run",
               "cancelled": "not_run", "canceled": "not_run", "not_run": "not_run", "removed": "not_run"}


def results_root(record_root: str) -> str:
    """Where the workers of a target whose exit task is handed no task's state (Kubeflow) keep
    each instance's outcome and results, by the artifact-root convention, under the lasting
    root that also keeps the previous run's record: ``ROOT/_pipespec/runs``."""
    return record_root.rstrip("/") + "/_pipespec/runs"


def run_state(text: str) -> str | None:
    """A target's word for a run's end (Airflow ``success``, GitHub ``failure``, KFP
    ``SUCCEEDED``, ...) as the language's run.status; None when it is none of them."""
    return RUN_STATES.get(str(text).strip().lower())


_RANK = ("failed", "not_run", "skipped", "succeeded")


def step_states(pipe: ir.Pipeline, given: dict[str, Any]) -> dict[str, dict]:
    """``{step: {"status", "started", "ended"}}`` from what the target passes: a task id
    (Airflow's mapped ``step_N`` too) -> a state word or ``{"status"|"state"|"result",
    "started", "ended", "duration"}``.
    A fan-out failed when one leg failed. Unknown task ids are left out (gates, helpers)."""
    names = {s.name for s in pipe.all_steps}
    out: dict[str, dict] = {}
    for key, v in given.items():
        step = key
        if step not in names:
            head, _, tail = key.rpartition("_")
            if not (head in names and tail.isdigit()):
                continue
            step = head
        _merge(out, step, v if isinstance(v, dict) else {"status": v})
    return out


def _merge(out: dict[str, dict], step: str, entry: dict) -> None:
    """One task's (or fan-out leg's) state into its step's: the worst status, the longest
    duration, the earliest start and the latest end."""
    word = entry.get("status") or entry.get("state") or entry.get("result")
    status = STEP_STATES.get(str(word).strip().lower(), "not_run") if word is not None else "not_run"
    cur = out.setdefault(step, {"status": status, "started": None, "ended": None, "duration": None})
    if _RANK.index(status) < _RANK.index(cur["status"]):
        cur["status"] = status
    d = entry.get("duration")
    if isinstance(d, (int, float)) and not isinstance(d, bool) and d >= 0:
        # legs run side by side: the longest stands for the step (Airflow gives no times)
        cur["duration"] = float(d) if cur["duration"] is None else max(cur["duration"], float(d))
    for k, pick in (("started", min), ("ended", max)):
        t = _time(entry.get(k))
        if t is not None:
            cur[k] = t if cur[k] is None else pick(cur[k], t)


def worker_states(pipe: ir.Pipeline, root: Root, run_id: str, params: dict, run_date: str) -> dict[str, dict]:
    """``step_states`` from the outcomes the workers recorded under the root (Kubeflow's tasks,
    whose exit task is handed no task's state): each instance's last attempt; a fan-out whose
    legs are known (its list evaluated over the params and the recorded values) and not all
    recorded did not run as a whole. A step with no record is left out (skipped, not run, or
    taken from the target's cache)."""
    from ..runtime.layout import ConventionInputs, item_index

    out: dict[str, dict] = {}
    inputs = ConventionInputs(pipe, root, run_id, params, run_date)
    for st in pipe.all_steps:
        got = root.outcomes(run_id, st.name)
        if not got:
            continue
        for index in sorted(got, key=lambda i: -1 if i is None else i):
            _merge(out, st.name, got[index])
        if st.foreach is not None:
            try:
                items = inputs.foreach_items(st)
            except LayoutError:
                continue                       # its list is not known here: the recorded legs tell
            legs = {item_index(items, x) for x in items}
            if not legs <= set(got):
                _merge(out, st.name, {"status": "not_run"})
    return out


def _time(v) -> float | None:
    """Seconds since the epoch from a number or an ISO-8601 text (Airflow's, GitHub's)."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    try:
        t = _dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


def _slots(root: Root, run_id: str, step: str) -> list[int | None]:
    """The finished instances of a step under the root: [None] for a plain step, the legs'
    indexes for a fan-out (each with its _done marker), [] when none finished."""
    names = root.names(run_id, step)
    out: list[int | None] = []
    if "_" in names and root.exists(run_id, step, "_", DONE):
        out.append(None)
    out += sorted(int(n) for n in names if n.isdigit() and root.exists(run_id, step, n, DONE))
    return out


def from_target(pipe: ir.Pipeline, run_id: str, target: str, status: str, *, root: Root | None,
                steps: dict[str, dict], params: dict, started: float | None, ended: float | None,
                run_date: str | None, warn: Callable[[str], None]) -> FinishedRun:
    """The finished run; a step the target says nothing of succeeded when its results are under
    the root, else did not run."""
    import time

    now = time.time()
    # a target that gives no start time: no run duration is made up (the metric is left out)
    run = FinishedRun(pipe, run_id, status, started, ended or now, target, dict(params), run_date=run_date)
    conditions_read = {s for r in (pipe.observe.alerts if pipe.observe else ()) for s in r.reads}
    for st in pipe.all_steps:
        given = steps.get(st.name, {})
        out = StepOutcome(st.name, given.get("status") or "not_run", given.get("started"), given.get("ended"),
                          duration=given.get("duration"))
        slots = _slots(root, run_id, st.name) if root is not None else []
        if st.name not in steps and slots:
            out.status = "succeeded"
        if out.status == "succeeded" and slots:
            legs = []
            for index in slots:
                try:
                    rec = root.read_values(run_id, st.name, index)
                except (LayoutError, OSError, ValueError) as e:
                    warn(f"pipespec: warning: the result of step '{st.name}' ({slot(index)}) was not read: {e}")
                    continue
                arts = {}
                for name in rec.get("artifacts") or []:
                    if root.remote and st.name not in conditions_read:
                        continue                   # not downloaded: nothing here reads it
                    try:
                        arts[name] = root.fetch(run_id, st.name, index, name)
                    except LayoutError:
                        pass
                legs.append((index, rec, arts))
            fan = st.foreach is not None
            for o in st.outputs:
                got = [(a if o.is_artifact else rec.get("values", {})).get(o.name) for _, rec, a in legs]
                if got and all(g is not None for g in got):
                    (out.artifacts if o.is_artifact else out.values)[o.name] = got if fan else got[0]
            for index, rec, _ in legs:
                for output, fields in (rec.get("metrics") or {}).items():
                    if isinstance(fields, dict):
                        out.metrics.append(("" if index is None else str(index), output, fields))
        run.steps[st.name] = out
    return run


# ------------------------------------------------------------------ the previous run's record

def _record_path(root: Root, pipe: ir.Pipeline, target: str) -> str:
    return root.join("_pipespec", "observe", pipe.name, f"{target}.json")


def read_previous(root: Root, pipe: ir.Pipeline, target: str, run_id: str) -> dict | None:
    """The record of the run before ``run_id`` (``{"run_id", "status", "steps"}``), if kept."""
    rec = root.read_json(_record_path(root, pipe, target))
    if not isinstance(rec, dict):
        return None
    if rec.get("run_id") == run_id:                 # finish of this run again: the one before it
        rec = rec.get("before")
    return rec if isinstance(rec, dict) else None


def write_record(root: Root, run: FinishedRun) -> None:
    """Keep this run as the previous one of the next run (the one before it beside it)."""
    before = read_previous(root, run.pipeline, run.target, run.run_id)
    rec = {"run_id": run.run_id, "status": run.status, "ended": run.ended,
           "steps": {n: s.status for n, s in run.steps.items() if s.status in ("succeeded", "failed")},
           "before": {k: v for k, v in (before or {}).items() if k != "before"} or None}
    text = json.dumps(rec, sort_keys=True, indent=1)
    path = _record_path(root, run.pipeline, run.target)
    if root.remote:
        root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with root.fs.open(path, "w") as f:
            f.write(text)
    else:
        from ..files import write_atomic

        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, text)
