"""A run's Prometheus metrics, by the batch-job conventions (prometheus/docs
``practices/instrumentation.md``): gauges for the last success and completion times and the
durations, ``_total`` counters, labels ``pipeline``/``step``/``target`` and never a run id.

``samples(run, totals)`` makes them; ``exposition()`` writes the text format 0.0.4;
``write_textfile()`` replaces a ``*.prom`` file for node_exporter's textfile collector
atomically (a failed run keeps the file's last success); ``push()`` sends them to a
Pushgateway with ``pushadd`` semantics (HTTP POST: only the metric names pushed are replaced,
so the last success of an earlier run stays). Standard library only: the format is a few
lines, and a dependency of every run for them is not worth it (the tests parse the output
back with ``prometheus_client.parser``).
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass, field

from ..files import write_atomic
from .http import DeliveryError, post

TIMEOUT_S = 10.0
LAST_SUCCESS = "pipespec_run_last_success_timestamp_seconds"

FAMILIES = {     # name -> (type, help), in the order written
    LAST_SUCCESS: ("gauge", "When the pipeline last succeeded, in seconds since the epoch."),
    "pipespec_run_last_completion_timestamp_seconds": ("gauge", "When the pipeline's last run ended."),
    "pipespec_run_duration_seconds": ("gauge", "How long the pipeline's last run took."),
    "pipespec_run_success": ("gauge", "1 when the pipeline's last run succeeded, else 0."),
    "pipespec_step_duration_seconds": ("gauge", "How long the step took in the last run (all its instances)."),
    "pipespec_step_success": ("gauge", "1 when every instance of the step succeeded in the last run, else 0."),
    "pipespec_step_attempts_total": ("counter", "Attempts of the step over every run in the store."),
    "pipespec_step_cache_hits_total": ("counter", "Cache hits of the step over every run in the store."),
    "pipespec_model_metric": ("gauge", "A field of a metrics output of the step's last run."),
}


class PushError(DeliveryError):
    """The Pushgateway could not be reached or refused the push; names no credential."""


@dataclass
class StepRun:
    name: str
    status: str                                   # succeeded | failed | skipped | not_run ...
    started: float | None = None
    ended: float | None = None
    metrics: list[tuple[str, str, dict]] = field(default_factory=list)   # (item, output, {field: value})


@dataclass
class Run:
    pipeline: str
    status: str
    started: float | None             # None: not known (no duration is written)
    ended: float
    target: str = "local"
    steps: list[StepRun] = field(default_factory=list)


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def samples(run: Run, totals: dict[str, tuple[int, int]]) -> list[Sample]:
    """``totals``: step -> (attempts, cache hits) over every run of the pipeline; a step not
    in it has no counters."""
    base = (("pipeline", run.pipeline), ("target", run.target))
    out = []
    if run.status == "succeeded":
        out.append(Sample(LAST_SUCCESS, base, run.ended))
    out.append(Sample("pipespec_run_last_completion_timestamp_seconds", base, run.ended))
    if run.started is not None:
        out.append(Sample("pipespec_run_duration_seconds", base, max(0.0, run.ended - run.started)))
    out.append(Sample("pipespec_run_success", base, 1.0 if run.status == "succeeded" else 0.0))
    for st in run.steps:
        lab = base + (("step", st.name),)
        if st.started is not None and st.ended is not None:
            out.append(Sample("pipespec_step_duration_seconds", lab, max(0.0, st.ended - st.started)))
        if st.status not in ("skipped", "not_run"):
            out.append(Sample("pipespec_step_success", lab, 1.0 if st.status == "succeeded" else 0.0))
        if st.name in totals:            # a target that keeps no store of its runs has none
            attempts, hits = totals[st.name]
            out.append(Sample("pipespec_step_attempts_total", lab, float(attempts)))
            out.append(Sample("pipespec_step_cache_hits_total", lab, float(hits)))
        for item, output, fields in st.metrics:
            for k, v in fields.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    extra = (("item", item),) if item else ()
                    out.append(Sample("pipespec_model_metric",
                                      lab + extra + (("output", output), ("metric", str(k))), float(v)))
    return out


def _label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def line(s: Sample) -> str:
    labels = ",".join(f'{k}="{_label_value(v)}"' for k, v in s.labels)
    return f"{s.name}{{{labels}}} {_number(s.value)}" if labels else f"{s.name} {_number(s.value)}"


def exposition(items: list[Sample], keep: dict[str, list[str]] | None = None) -> str:
    """The text format, one HELP/TYPE header per family; ``keep`` adds lines, by family,
    carried over verbatim from an earlier file."""
    by: dict[str, list[str]] = {n: [] for n in FAMILIES}
    for s in items:
        by.setdefault(s.name, []).append(line(s))
    for name, lines in (keep or {}).items():
        if not by.get(name):
            by.setdefault(name, []).extend(lines)
    out = []
    for name, lines in by.items():
        if not lines:
            continue
        kind, help_ = FAMILIES.get(name, ("untyped", ""))
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *lines]
    return "\n".join(out) + "\n"


def write_textfile(path: str, items: list[Sample]) -> None:
    """Replace ``path`` atomically; the last success of an earlier run stays when this run has
    none (a failed run must not erase it: that gauge is what an alert on staleness reads)."""
    keep: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8") as f:
            old = [ln.rstrip("\n") for ln in f if ln.startswith(LAST_SUCCESS + "{")]
        keep[LAST_SUCCESS] = old
    except (OSError, UnicodeDecodeError):
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, exposition(items, keep), 0o644)


def push(url: str, job: str, grouping: dict[str, str], items: list[Sample], timeout: float = TIMEOUT_S) -> int:
    """``pushadd``: POST to ``URL/metrics/job/JOB/LABEL/VALUE...``; the HTTP status."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError("the Pushgateway URL is not http(s)")
    path = "/metrics/job/" + urllib.parse.quote(job, safe="")
    for k, v in grouping.items():
        path += f"/{urllib.parse.quote(k, safe='')}/{urllib.parse.quote(v, safe='')}"
    target = url.rstrip("/") + path
    body = exposition(items).encode("utf-8")
    return post(target, body, "text/plain; version=0.0.4; charset=utf-8", f"the Pushgateway at {parts.hostname}",
                timeout, PushError)
