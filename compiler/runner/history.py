"""The run store read as a history of experiments: ``pipespec runs`` (each run's params as
what changed from the previous run of the same pipeline), ``runs show``, ``runs diff A B``
(params, step statuses, cache hits and metrics side by side, with deltas) and ``pipespec
metrics`` (rows = runs, columns = step[item].metric; ``--sort``, ``--best``).

Everything is keyed by **item**, never by position: ``fit[0.1]`` is the instance of ``fit``
whose foreach item is 0.1 in every run, whatever list it came from (the live output labels
instances the same way, ``instance_label``). Tables, JSON and CSV come from the same rows.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, TextIO

from .records import NO_INDEX
from .report import _dur, _fmt_num, _table, _when
from .state import instance_label

FORMATS = ("table", "json", "csv")


def row_label(e) -> str:
    """The label of a recorded execution (its item is stored as JSON text)."""
    item = None
    if e["item_index"] != NO_INDEX and e["item"] is not None:
        try:
            item = json.loads(e["item"])
        except ValueError:
            item = None
    return instance_label(e["step"], e["item_index"], item)


def shown_value(v: Any) -> str:
    """A param value in a table: compact JSON, a plain string as it is."""
    if isinstance(v, str) and v and v.isprintable() and not any(c in v for c in " \t\"'=,"):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# -- pipespec runs ------------------------------------------------------------------------------
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


def _params(row) -> dict:
    try:
        p = json.loads(row["params"] or "{}")
    except ValueError:
        return {}
    return p if isinstance(p, dict) else {}


def run_rows(records, limit: int | None = None) -> list[dict]:
    """Every run, newest first, with its params and what changed from the run of the same
    pipeline (and spec) before it."""
    every = list(reversed(records.runs()))             # oldest first, to know each one's previous
    last: dict[tuple, dict] = {}
    out = []
    store = os.path.dirname(records.path)
    for r in every:
        params = _params(r)
        prev = last.get((r["spec"], r["pipeline"]))
        changed = None
        if prev is not None:
            changed = {k: {"was": prev.get(k), "now": params.get(k)}
                       for k in sorted(set(prev) | set(params)) if prev.get(k) != params.get(k)}
        last[(r["spec"], r["pipeline"])] = params
        out.append({"id": r["id"], "pipeline": r["pipeline"], "spec": r["spec"], "status": run_status(r, store),
                    "started": r["started"], "ended": r["ended"], "git_commit": r["git_commit"],
                    "params": params, "changed": changed})
    out.reverse()
    return out[:limit] if limit else out


def _changes_text(row: dict) -> str:
    if row["changed"] is None:
        return " ".join(f"{k}={shown_value(v)}" for k, v in sorted(row["params"].items())) or "-"
    if not row["changed"]:
        return "(same)"
    return " ".join(f"{k}={shown_value(c['now'])} (was {shown_value(c['was'])})" for k, c in row["changed"].items())


def list_runs(records, out: TextIO, limit: int | None = None, fmt: str = "table") -> None:
    rows = run_rows(records, limit)
    if fmt == "json":
        out.write(json.dumps({"runs": rows}, indent=2) + "\n")
        return
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["run", "pipeline", "started", "status", "duration_s", "params", "changed"])
        for r in rows:
            dur = round(r["ended"] - r["started"], 3) if r["ended"] and r["started"] else ""
            w.writerow([r["id"], r["pipeline"], _when(r["started"]), r["status"], dur,
                        json.dumps(r["params"], sort_keys=True), "" if r["changed"] is None else json.dumps(r["changed"])])
        return
    if not rows:
        out.write("no runs recorded yet\n")
        return
    table = [("RUN", "PIPELINE", "STARTED", "STATUS", "DURATION", "PARAMS (changes from the previous run)")]
    for r in rows:
        table.append((r["id"], r["pipeline"], _when(r["started"]), r["status"], _dur(r["started"], r["ended"]),
                      _changes_text(r)))
    _table(table, out)


# -- pipespec runs show -------------------------------------------------------------------------
def show_run(records, run, out: TextIO) -> None:
    out.write(f"run {run['id']}  {run['pipeline']}  {run_status(run, os.path.dirname(records.path))}\n")
    out.write(f"  spec     {run['spec']}\n  started  {_when(run['started'])}   duration "
              f"{_dur(run['started'], run['ended'])}\n  commit   {run['git_commit'] or '-'}\n"
              f"  params   {run['params']}\n\n")
    rows = records.executions(run["id"])
    table = [("STEP", "STATUS", "CACHED", "ATTEMPTS", "DURATION", "NOTE")]
    for e in rows:
        cached = "yes" if e["cache_hit"] else ""
        if e["reused_from"] and e["reused_from"] != run["id"]:
            cached = f"from {e['reused_from']}"
        note = e["error"] or e["reason"] or ""
        table.append((row_label(e), e["status"], cached, str(e["attempts"] or ""), _dur(e["started"], e["ended"]),
                      note if len(note) <= 70 else note[:67] + "..."))
    _table(table, out)
    values = [(e, json.loads(e["values_json"] or "{}"), json.loads(e["metrics_json"] or "{}")) for e in rows]
    if any(v or m for _, v, m in values):
        out.write("\noutputs:\n")
        for e, v, m in values:
            label = row_label(e)
            for k, x in v.items():
                out.write(f"  {label}.{k} = {json.dumps(x)}\n")
            for k, x in sorted(m.items()):
                out.write(f"  {label}.{k} = " + "  ".join(f"{a}={_fmt_num(b)}" for a, b in sorted(x.items())) + "\n")
    _lineage(records, run, rows, out)
    logs = [e for e in rows if e["status"] in ("failed", "timeout") and e["stderr_path"]]
    for e in logs:
        out.write(f"\nlog of failed {row_label(e)}: {e['stderr_path']}\n")


def _lineage(records, run, rows, out: TextIO) -> None:
    """Each artifact: who produced it (this run, or the run a cache hit came from), its
    digest, and the step instances of this run that read it."""
    readers: dict[str, list[str]] = {}
    for e in rows:
        for ref in json.loads(e["input_hashes"] or "{}"):
            readers.setdefault(ref, []).append(row_label(e))
    lines = []
    for e in rows:
        for name, h in json.loads(e["output_hashes"] or "{}").items():
            made = f"from run {e['reused_from']}" if e["cache_hit"] and e["reused_from"] else "made here"
            users = readers.get(f"steps.{e['step']}.outputs.{name}", [])
            lines.append(f"  {row_label(e)}.{name}  sha256:{h.removeprefix('dir:')[:16]}"
                         f"{' (dir)' if h.startswith('dir:') else ''}  {made}; read by {', '.join(users) or 'no step'}")
    if lines:
        out.write("\nartifacts (lineage):\n" + "\n".join(lines) + "\n")


# -- metrics ------------------------------------------------------------------------------------
def run_metrics(records, run_id: str) -> dict[str, Any]:
    """{column: value} of one run: ``step[item].metric``, or ``step[item].output.metric`` when
    the step has several metrics outputs; in a stable order (columns sorted within a step)."""
    cells: dict[str, Any] = {}
    for e in records.executions(run_id):
        m = json.loads(e["metrics_json"] or "{}")
        label = row_label(e)
        for out_name in sorted(m):
            for k in sorted(m[out_name]):
                cells[f"{label}.{k}" if len(m) == 1 else f"{label}.{out_name}.{k}"] = m[out_name][k]
    return cells


def _columns(data: list[tuple[str, dict]]) -> list[str]:
    cols: list[str] = []
    for _, cells in data:
        cols += [c for c in cells if c not in cols]
    return cols


def _unitem(col: str) -> str:
    """``fit[0.1].r2`` -> ``fit.r2`` (a column with its item left out)."""
    out, depth = [], 0
    for ch in col:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def matching_columns(columns: list[str], metric: str) -> list[str]:
    """The columns ``metric`` names: the column itself, else every column whose metric name
    is ``metric`` or whose name without items is ``metric`` (``fit.r2``, ``r2``)."""
    if metric in columns:
        return [metric]
    return [c for c in columns if c.rsplit(".", 1)[-1] == metric or _unitem(c) == metric]


def _direction(arg: str, words: dict[str, bool], default: bool) -> tuple[str, bool]:
    name, _, how = arg.rpartition(":")
    if name and how in words:
        return name, words[how]
    return arg, default


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class MetricError(ValueError):
    """A --sort/--best that names no column (the CLI shows it as a usage error)."""


def metrics_report(records, runs, only: list[str] | None = None, sort: str | None = None,
                   best: str | None = None) -> dict:
    data = [(r["id"], run_metrics(records, r["id"])) for r in runs]
    if only:
        data = [(rid, {c: v for c, v in cells.items() if any(o in c for o in only)}) for rid, cells in data]
    columns = _columns(data)
    doc: dict[str, Any] = {"columns": columns, "rows": [{"run": rid, "metrics": cells} for rid, cells in data]}
    if sort:
        col, desc = _direction(sort, {"asc": False, "desc": True}, True)
        if col not in columns:
            raise MetricError(f"no metric column is '{col}'; columns: {', '.join(columns) or 'none'}")
        have = [r for r in doc["rows"] if _number(r["metrics"].get(col)) is not None]
        rest = [r for r in doc["rows"] if _number(r["metrics"].get(col)) is None]
        doc["rows"] = sorted(have, key=lambda r: _number(r["metrics"][col]), reverse=desc) + rest
    if best:
        metric, highest = _direction(best, {"max": True, "min": False}, True)
        cols = matching_columns(columns, metric)
        if not cols:
            raise MetricError(f"no metric column matches '{metric}'; columns: {', '.join(columns) or 'none'}")
        cands = [(_number(cells[c]), rid, c) for rid, cells in data for c in cols if _number(cells.get(c)) is not None]
        if not cands:
            raise MetricError(f"no run recorded a number for '{metric}'")
        # ties: the earliest run, then the first column
        order = {rid: i for i, (rid, _) in enumerate(data)}
        value, rid, col = sorted(cands, key=lambda t: ((-t[0] if highest else t[0]), order[t[1]], cols.index(t[2])))[0]
        doc["best"] = {"metric": metric, "highest": highest, "run": rid, "column": col, "value": value}
    return doc


def write_metrics(doc: dict, out: TextIO, fmt: str = "table", several: bool = True) -> None:
    if fmt == "json":
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    columns = doc["columns"]
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["run", *columns])
        for r in doc["rows"]:
            w.writerow([r["run"], *(r["metrics"].get(c, "") for c in columns)])
        return
    b = doc.get("best")
    if b:
        how = "" if b["highest"] else " (lowest)"
        out.write(f"best {b['metric']}{how}: {_fmt_num(b['value'])} in run {b['run']} ({b['column']})\n")
    if not columns:
        out.write("no metrics recorded in " + ("these runs" if several else "this run") + "\n")
        return
    table = [("RUN", *columns)]
    for r in doc["rows"]:
        table.append((r["run"], *(_fmt_num(r["metrics"][c]) if c in r["metrics"] else "-" for c in columns)))
    _table(table, out)


# -- pipespec runs diff -------------------------------------------------------------------------
def _delta(a: Any, b: Any) -> float | None:
    x, y = _number(a), _number(b)
    return None if x is None or y is None else round(y - x, 12)


def diff_report(records, a, b) -> dict:
    pa, pb = _params(a), _params(b)
    params = {k: {"a": pa.get(k), "b": pb.get(k)} for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)}

    def steps(run) -> dict:
        return {row_label(e): {"status": e["status"], "cached": bool(e["cache_hit"])} for e in records.executions(run["id"])}

    sa, sb = steps(a), steps(b)
    labels = list(sa) + [k for k in sb if k not in sa]
    ma, mb = run_metrics(records, a["id"]), run_metrics(records, b["id"])
    cols = list(ma) + [k for k in mb if k not in ma]
    return {
        "a": a["id"], "b": b["id"],
        "params": params,
        "steps": {k: {"a": sa.get(k), "b": sb.get(k)} for k in labels},
        "metrics": {c: {"a": ma.get(c), "b": mb.get(c), "delta": _delta(ma.get(c), mb.get(c))} for c in cols},
    }


def write_diff(doc: dict, out: TextIO, fmt: str = "table") -> None:
    if fmt == "json":
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["kind", "name", "a", "b", "delta"])
        for k, v in doc["params"].items():
            w.writerow(["param", k, json.dumps(v["a"]), json.dumps(v["b"]), ""])
        for k, v in doc["steps"].items():
            w.writerow(["step", k, _step_word(v["a"]), _step_word(v["b"]), ""])
        for k, v in doc["metrics"].items():
            w.writerow(["metric", k, "" if v["a"] is None else v["a"], "" if v["b"] is None else v["b"],
                        "" if v["delta"] is None else v["delta"]])
        return
    out.write(f"runs {doc['a']} -> {doc['b']}\n\nparams:\n")
    if doc["params"]:
        _table([("  PARAM", "A", "B")] + [(f"  {k}", shown_value(v["a"]), shown_value(v["b"]))
                                          for k, v in doc["params"].items()], out)
    else:
        out.write("  (the same)\n")
    out.write("\nsteps:\n")
    _table([("  STEP", "A", "B")] + [(f"  {k}", _step_word(v["a"]), _step_word(v["b"])) for k, v in doc["steps"].items()], out)
    if doc["metrics"]:
        out.write("\nmetrics:\n")
        rows = [("  METRIC", "A", "B", "DELTA")]
        for k, v in doc["metrics"].items():
            d = v["delta"]
            rows.append((f"  {k}", "-" if v["a"] is None else _fmt_num(v["a"]), "-" if v["b"] is None else _fmt_num(v["b"]),
                         "-" if d is None else ("+" if d > 0 else "") + _fmt_num(d)))
        _table(rows, out)


def _step_word(s: dict | None) -> str:
    if s is None:
        return "-"
    return "cached" if s["cached"] and s["status"] == "succeeded" else s["status"]
