"""``pipespec runs [list]``: recorded runs, newest first, each with its params as what changed
from the previous run; ``pipespec runs show RUN``: one run in detail (steps with
status/cached/attempts/duration, value outputs, metrics, artifact lineage); ``pipespec runs diff
A B``: two runs side by side (params, step statuses and cache hits, metrics with deltas).
RUN is an id, a unique id prefix, or ``latest``. Fan-out instances are named by item.
"""

from __future__ import annotations

import os
import sys

from ..cli import UsageError


def add_arguments(p) -> None:
    p.add_argument("action", nargs="?", choices=("list", "show", "diff"), default="list")
    p.add_argument("run", nargs="*", metavar="RUN", help="show: one run; diff: two (id, unique prefix, or latest)")
    add_store_arguments(p)
    p.add_argument("-n", "--limit", type=int, default=None, metavar="N", help="list at most N runs")
    add_format_argument(p)


def add_store_arguments(p) -> None:
    p.add_argument("--spec", metavar="FILE", help="use the store of this spec (default: ./.pipespec)")
    p.add_argument("--store", metavar="DIR", help="the run store folder")


def add_format_argument(p) -> None:
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), json, or csv")


def open_records(args, doing: str = "written"):
    """The run store named by --store, or by --spec's location, or ./.pipespec."""
    from ..runner.records import Records

    if args.store:
        path = args.store
    elif args.spec:
        from .common import require_valid
        from .run import store_dir

        path = store_dir(require_valid(args.spec).pipeline, None)
    else:
        path = ".pipespec"
    if not os.path.exists(os.path.join(path, "runs.db")):
        raise UsageError(f"no run store at {path} (pass --store DIR or --spec FILE)")
    import sqlite3

    try:
        return Records(path)
    except sqlite3.OperationalError as e:
        # a WAL database whose -shm file cannot be made (a read-only store) cannot even be read
        import errno

        try:
            readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            readonly = False
        why = os.strerror(errno.EROFS) if readonly else str(e)
        raise UsageError(f"the run store {path} cannot be {doing}: {why} ({e})") from None


def find_run(records, ref: str):
    from ..runner.records import RecordError
    from ..runtime.layout import run_id_problem

    why = run_id_problem(ref)
    if why:
        raise UsageError(why)
    try:
        return records.run(ref)
    except RecordError as e:
        raise UsageError(str(e)) from None


def main(args) -> int:
    from ..runner import history

    records = open_records(args)
    try:
        if args.action == "show":
            if len(args.run) > 1:
                raise UsageError("runs show takes one run")
            if args.format != "table":
                raise UsageError("runs show prints a report; for data use runs diff or metrics with --format")
            history.show_run(records, find_run(records, args.run[0] if args.run else "latest"), sys.stdout)
        elif args.action == "diff":
            if len(args.run) != 2:
                raise UsageError("runs diff needs two runs: pipespec runs diff A B")
            a, b = (find_run(records, r) for r in args.run)
            history.write_diff(history.diff_report(records, a, b), sys.stdout, args.format)
        else:
            if args.run:
                raise UsageError("'pipespec runs' lists runs; to see one: pipespec runs show RUN")
            history.list_runs(records, sys.stdout, args.limit, args.format)
    finally:
        records.close()
    return 0
