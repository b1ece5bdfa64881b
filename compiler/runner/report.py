"""The end-of-run summary of ``pipespec run``, and the formatting the views over the run store
share (``history``: ``pipespec runs``, ``runs show``, ``runs diff``, ``pipespec metrics``)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, TextIO


def _fmt_num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3e}"
    return str(v)


def _dur(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    s = b - a
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


def _when(t: float | None) -> str:
    return _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def summary(runner, display) -> None:
    """The last lines of ``pipespec run``: counts, then every metrics output."""
    counts = {"ran": 0, "cached": 0, "failed": 0}
    metrics_lines = []
    for st in runner.states.values():
        for inst in st.instances:
            if inst.status == "succeeded":
                counts["cached" if inst.cache_hit else "ran"] += 1
            elif inst.status in ("failed", "timeout"):
                counts["failed"] += 1
            for name, m in (inst.metrics or {}).items():
                if isinstance(m, dict) and m:
                    # sorted: a first run reads the step's file, a cached one the record
                    fields = "  ".join(f"{k}={_fmt_num(v)}" for k, v in sorted(m.items()))
                    metrics_lines.append(f"  {inst.label}.{name}: {fields}")
        if st.status == "failed" and not st.instances:
            counts["failed"] += 1
    skipped = sum(1 for st in runner.states.values() if st.status == "skipped")
    not_run = sum(1 for st in runner.states.values() if st.status == "not_run")
    out = display.stream
    out.write(f"run {runner.run_id} {runner.status} in {display.elapsed():.1f}s: {counts['ran']} ran, "
              f"{counts['cached']} cached, {skipped} skipped, {counts['failed']} failed"
              + (f", {not_run} not run" if not_run else "") + "\n")
    if metrics_lines:
        out.write("metrics:\n" + "\n".join(metrics_lines) + "\n")
    out.flush()


def _table(rows: list[tuple], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
