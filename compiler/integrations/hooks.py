"""The one core every executor hands a finished run to: ``deliver(run, warn)`` writes and
pushes its Prometheus metrics and sends its alerts (``notify:``) over the neutral
``finished.FinishedRun``. ``pipespec run`` calls ``after_run(runner, warn, tracker)`` (which
also finishes its MLflow runs); a compiled target calls ``pipespec observe finish``
(``commands/observe.py``), which builds the same model from what the target passes.

Nothing here changes the run's result: every failure is one warning through ``warn``, with
every secret value masked.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from .. import ir
from ..expr import EvalError
from ..runtime.context import Lookup, StepInputs, secret_value, spec_dir
from ..runtime.masking import Masker
from . import alerts, prometheus
from .finished import FINISHED, FinishedRun, from_runner


def after_run(runner, warn: Callable[[str], None], tracker=None) -> None:
    """``tracker``: the ``tracking.Tracker`` started before the run, if the spec tracks."""
    obs: ir.Observe | None = runner.pipeline.observe
    if obs is None or getattr(runner, "status", None) not in FINISHED:
        return
    run = from_runner(runner)
    if tracker is not None:
        tracker.finish(runner)
    deliver(run, warn)


def deliver(run: FinishedRun, warn: Callable[[str], None], environ: dict[str, str] | None = None) -> None:
    """Metrics (textfile, Pushgateway) and alerts of one finished run; warnings only.
    ``environ``: where the secrets are read (default: this process's environment)."""
    obs: ir.Observe | None = run.pipeline.observe
    if obs is None:
        return
    pipe = run.pipeline
    masker = Masker.for_pipeline(pipe)

    def warning(msg: str) -> None:
        warn(masker.text(f"pipespec: warning: {msg}"))

    if obs.textfile or obs.pushgateway or obs.pushgateway_secret:
        items = prometheus.samples(_prom_run(run), {n: s.totals for n, s in run.steps.items() if s.totals})
        if obs.textfile:
            path = obs.textfile if os.path.isabs(obs.textfile) else os.path.join(spec_dir(pipe), obs.textfile)
            try:
                prometheus.write_textfile(path, items)
            except OSError as e:
                warning(f"metrics.textfile {obs.textfile} was not written: {e.strerror or e}")
        url = obs.pushgateway or (_secret(pipe, obs.pushgateway_secret, environ) if obs.pushgateway_secret else "")
        if url:
            try:
                prometheus.push(url, obs.push_job, push_grouping(run), items)
            except prometheus.PushError as e:
                warning(f"the metrics were not pushed: {e}")
        elif obs.pushgateway_secret:
            warning(f"the metrics were not pushed: secret '{obs.pushgateway_secret}' is not set")
    for channel, ev in planned_alerts(run, warning):
        try:
            alerts.send(channel, _secret(pipe, channel.secret, environ), ev)
        except alerts.AlertError as e:
            warning(f"the {ev.kind} alert to channel '{channel.name}' ({channel.type}) was not sent: {e}")


def push_grouping(run: FinishedRun) -> dict[str, str]:
    """The Pushgateway group of a run: ``pipeline`` (and ``target`` off the local runner, so that
    a compiled target's pushes and the local runner's do not replace each other's metrics)."""
    if run.target == "local":
        return {"pipeline": run.pipeline.name}
    return {"pipeline": run.pipeline.name, "target": run.target}


def planned_alerts(run: FinishedRun, warning: Callable[[str], None]) -> list[tuple[ir.Channel, alerts.Event]]:
    """(channel, event) for every alert this run sends, in the spec's order: a channel hears of
    the run's status once (recovery before success), of each step of ``notify.steps`` once
    likewise, and of every true ``when:`` condition."""
    pipe, status, obs = run.pipeline, run.status, run.pipeline.observe
    ok = status == "succeeded"
    recovered = ok and (run.previous in ("failed", "interrupted") or run.resumed)
    wanted = ["failure"] if not ok else (["recovery", "success"] if recovered else ["success"])
    base = dict(pipeline=pipe.name, status=status, run_id=run.run_id, failed_steps=run.failed_steps,
                started=run.started, ended=run.ended, dedup_key=f"pipespec/{pipe.name}", target=run.target)
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
    out += _step_alerts(run, obs, base)
    n = 0
    for rule in obs.alerts:
        if rule.event != "condition":
            continue
        n += 1
        if any(run.steps[s].status != "succeeded" for s in rule.reads if s in run.steps):
            continue                    # a step it reads did not succeed: on_failure tells of that
        try:
            hit = _evaluate(run, rule.condition)
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


def _step_alerts(run: FinishedRun, obs: ir.Observe, base: dict) -> list:
    out = []
    steps = list(dict.fromkeys(r.step for r in obs.alerts if r.step is not None))
    for step in steps:
        st = run.steps.get(step)
        if st is None or st.status not in ("succeeded", "failed", "timeout"):
            continue                     # skipped, not run, excluded: nothing to tell of it
        if st.status != "succeeded":
            wanted = ["failure"]
        else:
            wanted = ["recovery", "success"] if run.step_previous.get(step) in ("failed", "timeout") else ["success"]
        told: set[str] = set()
        failed = (step,) if st.status != "succeeded" else ()
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


def _evaluate(run: FinishedRun, value: ir.Value):
    if value.template is None:
        return value.literal
    values = {n: st.values for n, st in run.steps.items() if st.status == "succeeded"}
    artifacts = {n: st.artifacts for n, st in run.steps.items() if st.status == "succeeded"}
    inputs = StepInputs(run.params, values, artifacts, run_id=run.run_id,
                        run_date=run.run_date or time.strftime("%Y-%m-%d"))
    pipe = run.pipeline
    return value.template.render(Lookup(pipe, pipe.all_steps[0], inputs, {}, {}, lambda _m: None))


def _secret(pipe: ir.Pipeline, name: str, environ: dict[str, str] | None = None) -> str:
    return secret_value(pipe, name, environ, warn=lambda _m: None)


def _prom_run(run: FinishedRun) -> prometheus.Run:
    out = prometheus.Run(run.pipeline.name, run.status, run.started, run.ended, target=run.target)
    for st in run.steps.values():
        sr = prometheus.StepRun(st.name, st.status, st.started, st.ended)
        if (st.started is None or st.ended is None) and st.duration is not None:
            sr.started, sr.ended = 0.0, st.duration
        sr.metrics.extend(st.metrics)
        out.steps.append(sr)
    return out
