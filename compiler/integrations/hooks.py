"""The one place ``pipespec run`` hands a finished run to the integrations: ``after_run(runner,
warn, tracker)`` finishes its MLflow runs, writes and pushes its Prometheus metrics and sends
its alerts (``notify:``).

Nothing here changes the run's result: every failure is one warning through ``warn``, with
every secret value masked. Reads only what the runner keeps after a run (its step states, its
status) and the run store's records (the previous run's status, the counters' totals).
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Callable

from .. import ir
from ..expr import EvalError
from ..runtime.context import Lookup, StepInputs, secret_value, spec_dir
from ..runtime.masking import Masker
from . import alerts, prometheus

FINISHED = ("succeeded", "failed", "interrupted")


def after_run(runner, warn: Callable[[str], None], tracker=None) -> None:
    """``tracker``: the ``tracking.Tracker`` started before the run, if the spec tracks."""
    obs: ir.Observe | None = runner.pipeline.observe
    if obs is None or getattr(runner, "status", None) not in FINISHED:
        return
    pipe = runner.pipeline
    masker = Masker.for_pipeline(pipe)

    def warning(msg: str) -> None:
        warn(masker.text(f"pipespec: warning: {msg}"))

    started, ended, previous, totals, step_previous = _from_store(runner)
    if tracker is not None:
        tracker.finish(runner)
    if obs.textfile or obs.pushgateway or obs.pushgateway_secret:
        run = _run(runner, started, ended)
        items = prometheus.samples(run, totals)
        if obs.textfile:
            path = obs.textfile if os.path.isabs(obs.textfile) else os.path.join(spec_dir(pipe), obs.textfile)
            try:
                prometheus.write_textfile(path, items)
            except OSError as e:
                warning(f"metrics.textfile {obs.textfile} was not written: {e.strerror or e}")
        url = obs.pushgateway or (_secret(pipe, obs.pushgateway_secret) if obs.pushgateway_secret else "")
        if url:
            try:
                prometheus.push(url, obs.push_job, {"pipeline": pipe.name}, items)
            except prometheus.PushError as e:
                warning(f"the metrics were not pushed: {e}")
        elif obs.pushgateway_secret:
            warning(f"the metrics were not pushed: secret '{obs.pushgateway_secret}' is not set")
    for channel, ev in planned_alerts(runner, obs, previous, started, ended, warning, step_previous):
        try:
            alerts.send(channel, _secret(pipe, channel.secret), ev)
        except alerts.AlertError as e:
            warning(f"the {ev.kind} alert to channel '{channel.name}' ({channel.type}) was not sent: {e}")


def planned_alerts(runner, obs: ir.Observe, previous: str | None, started: float, ended: float,
                   warning: Callable[[str], None], step_previous: dict[str, str] | None = None,
                   ) -> list[tuple[ir.Channel, alerts.Event]]:
    """(channel, event) for every alert this run sends, in the spec's order: a channel hears of
    the run's status once (recovery before success), of each step of ``notify.steps`` once
    likewise, and of every true ``when:`` condition. ``step_previous``: step -> its status in the
    pipeline's previous run of it."""
    pipe, status = runner.pipeline, runner.status
    failed = tuple(st.name for st in runner.states.values() if st.status == "failed")
    ok = status == "succeeded"
    recovered = ok and (previous in ("failed", "interrupted") or bool(getattr(runner, "resume", None)))
    wanted = ["failure"] if not ok else (["recovery", "success"] if recovered else ["success"])
    base = dict(pipeline=pipe.name, status=status, run_id=runner.run_id, failed_steps=failed,
                started=started, ended=ended, dedup_key=f"pipespec/{pipe.name}")
    out: list[tuple[ir.Channel, alerts.Event]] = []
    told: set[str] = set()
    for kind in wanted:
        for rule in obs.alerts:
            if rule.event != kind or rule.step is not None:
                continue
            for name in rule.channels:
                if name not in told:
                    told.add(name)
                    out.append((obs.channel(name), alerts.Event(kind=kind, **base)))
    out += _step_alerts(runner, obs, base, step_previous or {})
    n = 0
    for rule in obs.alerts:
        if rule.event != "condition":
            continue
        n += 1
        if any(runner.states[s].status != "succeeded" for s in rule.reads if s in runner.states):
            continue                    # a step it reads did not succeed: on_failure tells of that
        try:
            hit = _evaluate(runner, rule.condition)
        except EvalError as e:           # the expression's own failure (a division by zero, ...)
            warning(f"notify.when #{n} ({rule.message}) was not evaluated: {e}")
            continue
        except (KeyError, OSError, ValueError, TypeError) as e:    # a metrics file gone or unreadable
            warning(f"notify.when #{n} ({rule.message}) was not evaluated: {type(e).__name__}: {e}")
            continue
        if hit is not True:
            continue
        ev = alerts.Event(kind="condition", message=rule.message,
                          **{**base, "dedup_key": f"pipespec/{pipe.name}/when/{n}"})
        out += [(obs.channel(name), ev) for name in rule.channels]
    return out


def _step_alerts(runner, obs: ir.Observe, base: dict, previous: dict[str, str]) -> list:
    out = []
    steps = list(dict.fromkeys(r.step for r in obs.alerts if r.step is not None))
    for step in steps:
        st = runner.states.get(step)
        if st is None or st.status not in ("succeeded", "failed"):
            continue                     # skipped, not run, excluded: nothing to tell of it
        if st.status == "failed":
            wanted = ["failure"]
        else:
            wanted = ["recovery", "success"] if previous.get(step) in ("failed", "timeout") else ["success"]
        told: set[str] = set()
        failed = (step,) if st.status == "failed" else ()
        for kind in wanted:
            for rule in obs.alerts:
                if rule.step != step or rule.event != kind:
                    continue
                for name in rule.channels:
                    if name not in told:
                        told.add(name)
                        out.append((obs.channel(name), alerts.Event(kind=kind, step=step, **{
                            **base, "failed_steps": failed, "dedup_key": f"{base['dedup_key']}/{step}"})))
    return out


def _evaluate(runner, value: ir.Value):
    if value.template is None:
        return value.literal
    values = {n: st.values for n, st in runner.states.items() if st.status == "succeeded"}
    artifacts = {n: st.artifacts for n, st in runner.states.items() if st.status == "succeeded"}
    inputs = StepInputs(runner.params, values, artifacts, run_id=runner.run_id,
                        run_date=getattr(runner, "run_date", None) or time.strftime("%Y-%m-%d"))
    pipe = runner.pipeline
    return value.template.render(Lookup(pipe, pipe.all_steps[0], inputs, {}, {}, lambda _m: None))


def _secret(pipe: ir.Pipeline, name: str) -> str:
    return secret_value(pipe, name, warn=lambda _m: None)


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


def _run(runner, started: float, ended: float) -> prometheus.Run:
    run = prometheus.Run(runner.pipeline.name, runner.status, started, ended)
    for name, st in runner.states.items():
        times = [(i.started, i.ended) for i in st.instances if i.started is not None and i.ended is not None]
        sr = prometheus.StepRun(name, st.status, min((a for a, _ in times), default=None),
                                max((b for _, b in times), default=None))
        for inst in st.instances:
            item = inst.label[len(name) + 1:-1] if inst.index is not None else ""
            for output, fields in (inst.metrics or {}).items():
                if isinstance(fields, dict):
                    sr.metrics.append((item, output, fields))
        run.steps.append(sr)
    return run
