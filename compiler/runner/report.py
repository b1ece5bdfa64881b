"""Views over the run records: the end-of-run summary, ``pipespec runs``, ``runs show``,
and ``pipespec metrics`` (rows = runs, columns = step.metric)."""

from __future__ import annotations

import datetime as _dt
import json
import os
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
                    fields = "  ".join(f"{k}={_fmt_num(v)}" for k, v in m.items())
                    metrics_lines.append(f"  {inst.label}.{name}: {fields}")
        if st.status == "failed" and not st.instances:
            counts["failed"] += 1
    skipped = sum(1 for st in runner.states.values() if st.status == "skipped")
    not_run = sum(1 for st in runner.states.values() if st.status == "not_run")
    out = display.stream
    line = (f"run {runner.run_id} {runner.status} in {display.elapsed():.1f}s: {counts['ran']} ran, "
            f"{counts['cached']} cached, {skipped} skipped, {counts['failed']} failed"
            + (f", {not_run} not run" if not_run else ""))
    if hasattr(display, "run_ended"):           # --log-format json: one record, metrics as fields
        display.run_ended(runner.status, display.elapsed(), line, metrics_lines)
        return
    out.write(line + "\n")
    if metrics_lines:
        out.write("metrics:\n" + "\n".join(metrics_lines) + "\n")
    out.flush()


def _alive(row) -> bool:
    if row["status"] != "running" or not row["pid"]:
        return False
    if row["host"] and row["host"] != os.uname().nodename:
        return True
    try:
        os.kill(row["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(row, store_dir: str | None = None) -> str:
    """A 'running' run whose process is gone died without a word (kill -9, power loss). The
    run's lock says it when there is one (owner.py: free means no live runner, whatever the
    pid now names); else the recorded pid."""
    if row["status"] != "running":
        return row["status"]
    if store_dir is not None:
        from .owner import probe

        owned = probe(store_dir, row["id"])
        if owned is not None:
            return "running" if owned else "died"
    return "running" if _alive(row) else "died"


def list_runs(records, out: TextIO, limit: int | None = None) -> None:
    rows = records.runs(limit)
    if not rows:
        out.write("no runs recorded yet\n")
        return
    table = [("RUN", "PIPELINE", "STARTED", "STATUS", "DURATION", "PARAMS")]
    for r in rows:
        table.append((r["id"], r["pipeline"], _when(r["started"]), run_status(r, os.path.dirname(records.path)),
                      _dur(r["started"], r["ended"]), r["params_digest"]))
    _table(table, out)


def show_run(records, run, out: TextIO) -> None:
    out.write(f"run {run['id']}  {run['pipeline']}  {run_status(run, os.path.dirname(records.path))}\n")
    out.write(f"  spec     {run['spec']}\n  started  {_when(run['started'])}   duration "
              f"{_dur(run['started'], run['ended'])}\n  commit   {run['git_commit'] or '-'}\n"
              f"  params   {run['params']}\n\n")
    rows = records.executions(run["id"])
    table = [("STEP", "STATUS", "CACHED", "ATTEMPTS", "DURATION", "NOTE")]
    for e in rows:
        label = e["step"] + (f"[{e['item_index']}]" if e["item_index"] >= 0 else "")
        cached = "yes" if e["cache_hit"] else ""
        if e["reused_from"] and e["reused_from"] != run["id"]:
            cached = f"from {e['reused_from']}"
        note = e["error"] or e["reason"] or ""
        table.append((label, e["status"], cached, str(e["attempts"] or ""), _dur(e["started"], e["ended"]),
                      note if len(note) <= 70 else note[:67] + "..."))
    _table(table, out)
    values = [(e, json.loads(e["values_json"] or "{}"), json.loads(e["metrics_json"] or "{}")) for e in rows]
    if any(v or m for _, v, m in values):
        out.write("\noutputs:\n")
        for e, v, m in values:
            label = e["step"] + (f"[{e['item_index']}]" if e["item_index"] >= 0 else "")
            for k, x in v.items():
                out.write(f"  {label}.{k} = {json.dumps(x)}\n")
            for k, x in m.items():
                out.write(f"  {label}.{k} = " + "  ".join(f"{a}={_fmt_num(b)}" for a, b in x.items()) + "\n")
    _lineage(records, run, rows, out)
    logs = [e for e in rows if e["status"] in ("failed", "timeout") and e["stderr_path"]]
    for e in logs:
        out.write(f"\nlog of failed {e['step']}: {e['stderr_path']}\n")


def _lineage(records, run, rows, out: TextIO) -> None:
    """Each artifact: who produced it (this run, or the run a cache hit came from), its
    digest, and the step instances of this run that read it."""
    readers: dict[str, list[str]] = {}
    for e in rows:
        for ref in json.loads(e["input_hashes"] or "{}"):
            readers.setdefault(ref, []).append(_label(e))
    lines = []
    for e in rows:
        for name, h in json.loads(e["output_hashes"] or "{}").items():
            made = f"from run {e['reused_from']}" if e["cache_hit"] and e["reused_from"] else "made here"
            users = readers.get(f"steps.{e['step']}.outputs.{name}", [])
            lines.append(f"  {_label(e)}.{name}  sha256:{h.removeprefix('dir:')[:16]}"
                         f"{' (dir)' if h.startswith('dir:') else ''}  {made}; read by {', '.join(users) or 'no step'}")
    if lines:
        out.write("\nartifacts (lineage):\n" + "\n".join(lines) + "\n")


def _label(e) -> str:
    return e["step"] + (f"[{e['item_index']}]" if e["item_index"] >= 0 else "")


def metrics_table(records, runs, out: TextIO, only: list[str] | None = None) -> None:
    """Rows = runs, columns = step.metric (fan-out instances as step[i].metric); ``only``
    keeps the columns containing any of its substrings."""
    columns: list[str] = []
    data: list[tuple[str, dict]] = []
    for r in runs:
        cells: dict[str, Any] = {}
        for e in records.executions(r["id"]):
            m = json.loads(e["metrics_json"] or "{}")
            label = e["step"] + (f"[{e['item_index']}]" if e["item_index"] >= 0 else "")
            for out_name, fields in m.items():
                for k, v in fields.items():
                    col = f"{label}.{k}" if len(m) == 1 else f"{label}.{out_name}.{k}"
                    if only and not any(o in col for o in only):
                        continue
                    cells[col] = v
                    if col not in columns:
                        columns.append(col)
        data.append((r["id"], cells))
    if not columns:
        out.write("no metrics recorded in " + ("these runs" if len(runs) > 1 else "this run") + "\n")
        return
    table = [("RUN", *columns)]
    for rid, cells in data:
        table.append((rid, *(_fmt_num(cells[c]) if c in cells else "-" for c in columns)))
    _table(table, out)


def _table(rows: list[tuple], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
