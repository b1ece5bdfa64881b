"""A finished pipeline run, as every executor of a pipeline can describe it: the neutral model
the integrations' core (``hooks.deliver``) reads to plan alerts and make metrics.

``from_runner(runner)`` builds it from ``pipespec run``'s runner and its store;
``commands/observe.py`` builds it on a compiled target from what the target passes (the run's
status, each step's state) and the step results under the run's artifact root. Standard
library only.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

FINISHED = ("succeeded", "failed", "interrupted")


@dataclass
class StepOutcome:
    """One step of the run: its state, times, and (when it succeeded) its outputs."""

    name: str
    status: str                                    # succeeded | failed | skipped | not_run | ...
    started: float | None = None
    ended: float | None = None
    values: dict = field(default_factory=dict)     # output -> value (a list over a fan-out's legs)
    artifacts: dict = field(default_factory=dict)  # output -> path
    metrics: list[tuple[str, str, dict]] = field(default_factory=list)   # (item, output, {field: value})
    totals: tuple[int, int] | None = None          # (attempts, cache hits) over the store's runs
    duration: float | None = None                  # when the target gives no times, only this


@dataclass
class FinishedRun:
    pipeline: Any                                  # the ir.Pipeline
    run_id: str
    status: str                                    # succeeded | failed | interrupted
    started: float | None                          # None: the target did not say
    ended: float
    target: str = "local"
    params: dict = field(default_factory=dict)
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    previous: str | None = None                    # the pipeline's previous finished run's status
    step_previous: dict[str, str] = field(default_factory=dict)   # step -> its status then
    resumed: bool = False                          # a resume that finished is a recovery
    run_date: str | None = None

    @property
    def failed_steps(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.steps.items() if s.status in ("failed", "timeout"))


def from_runner(runner) -> FinishedRun:
    started, ended, previous, totals, step_previous = _from_store(runner)
    run = FinishedRun(runner.pipeline, runner.run_id, runner.status, started, ended, "local",
                      dict(runner.params), previous=previous, step_previous=step_previous,
                      resumed=bool(getattr(runner, "resume", None)), run_date=getattr(runner, "run_date", None))
    for name, st in runner.states.items():
        times = [(i.started, i.ended) for i in st.instances if i.started is not None and i.ended is not None]
        out = StepOutcome(name, st.status, min((a for a, _ in times), default=None),
                          max((b for _, b in times), default=None), totals=totals.get(name, (0, 0)))
        if st.status == "succeeded":
            out.values, out.artifacts = dict(st.values), dict(st.artifacts)
        for inst in st.instances:
            item = inst.label[len(name) + 1:-1] if inst.index is not None else ""
            for output, fields in (inst.metrics or {}).items():
                if isinstance(fields, dict):
                    out.metrics.append((item, output, fields))
        run.steps[name] = out
    return run


def _from_store(runner) -> tuple[float, float, str | None, dict[str, tuple[int, int]], dict[str, str]]:
    """The run's start and end, the status of the pipeline's previous finished run, each step's
    attempts and cache hits over every run in the store, and the status each step of
    ``notify.steps`` had in the pipeline's previous run of it."""
    now = time.time()
    started, ended, previous, totals, steps = now, now, None, {}, {}
    path = os.path.join(runner.store_dir, "runs.db")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return started, ended, previous, totals, steps
    try:
        row = db.execute("SELECT started, ended FROM runs WHERE id=?", (runner.run_id,)).fetchone()
        if row:
            started, ended = row[0] or now, row[1] or now
        row = db.execute("SELECT status FROM runs WHERE pipeline=? AND id<>? AND status IN "
                         "('succeeded','failed','interrupted') ORDER BY started DESC LIMIT 1",
                         (runner.pipeline.name, runner.run_id)).fetchone()
        previous = row[0] if row else None
        for step, attempts, hits in db.execute(
                "SELECT e.step, SUM(e.attempts), SUM(e.cache_hit) FROM executions e JOIN runs r "
                "ON e.run_id = r.id WHERE r.pipeline=? GROUP BY e.step", (runner.pipeline.name,)):
            totals[step] = (int(attempts or 0), int(hits or 0))
        for step in {r.step for r in runner.pipeline.observe.alerts if r.step is not None}:
            # the latest other run with a finished instance of the step; failed if any instance failed
            row = db.execute("SELECT MAX(e.status IN ('failed','timeout')) FROM executions e JOIN runs r "
                             "ON e.run_id = r.id WHERE r.pipeline=? AND e.step=? AND e.run_id<>? AND e.status IN "
                             "('succeeded','failed','timeout') GROUP BY e.run_id ORDER BY MAX(e.ended) DESC LIMIT 1",
                             (runner.pipeline.name, step, runner.run_id)).fetchone()
            if row:
                steps[step] = "failed" if row[0] else "succeeded"
    except sqlite3.Error:
        pass
    finally:
        db.close()
    return started, ended, previous, totals, steps
