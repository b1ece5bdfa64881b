"""``pipespec runs [FILE]``: list recorded runs; ``pipespec runs show RUN``: one run in detail
(steps with status/cached/attempts/duration, value outputs, metrics, artifact lineage).
RUN is an id, a unique id prefix, or ``latest``.
"""

from __future__ import annotations

import os
import sys

from ..cli import UsageError


def add_arguments(p) -> None:
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("run", nargs="?", metavar="RUN", help="for show: id, unique prefix, or latest")
    add_store_arguments(p)
    p.add_argument("-n", "--limit", type=int, default=None, metavar="N", help="list at most N runs")


def add_store_arguments(p) -> None:
    p.add_argument("--spec", metavar="FILE", help="use the store of this spec (default: ./.pipespec)")
    p.add_argument("--store", metavar="DIR", help="the run store folder")


def open_records(args):
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
    return Records(path)


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
    from ..runner import report

    records = open_records(args)
    try:
        if args.action == "show":
            report.show_run(records, find_run(records, args.run or "latest"), sys.stdout)
        else:
            if args.run:
                raise UsageError("'pipespec runs' lists runs; to see one: pipespec runs show RUN")
            report.list_runs(records, sys.stdout, args.limit)
    finally:
        records.close()
    return 0
