"""``pipespec metrics [RUN...]``: compare metrics across runs as a table
(rows = runs, columns = step.metric). Without RUN: the last 10 runs that recorded metrics.
"""

from __future__ import annotations

import sys

from .runs import add_store_arguments, find_run, open_records


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="ids, unique prefixes, or latest")
    add_store_arguments(p)
    p.add_argument("-n", "--limit", type=int, default=10, metavar="N")
    p.add_argument("-m", "--metric", action="append", default=[], metavar="TEXT",
                   help="only columns containing TEXT (repeatable), e.g. -m auc")


def main(args) -> int:
    from ..runner.report import metrics_table

    records = open_records(args)
    try:
        if args.runs:
            runs = [find_run(records, r) for r in args.runs]
        else:
            with_metrics = {r[0] for r in records.db.execute(
                "SELECT DISTINCT run_id FROM executions WHERE metrics_json NOT IN ('{}', '') "
                "AND metrics_json IS NOT NULL")}
            runs = [r for r in records.runs() if r["id"] in with_metrics][:args.limit]
            runs.reverse()
        metrics_table(records, runs, sys.stdout, args.metric)
    finally:
        records.close()
    return 0
