"""``pipespec metrics [RUN...]``: compare metrics across runs (rows = runs, columns =
step[item].metric, fan-out instances named by their foreach item). Without RUN: the last 10
runs that recorded metrics. ``--sort COL[:asc|:desc]``, ``--best METRIC[:max|:min]``,
``--format table|json|csv``.
"""

from __future__ import annotations

import sys

from ..cli import UsageError
from .runs import add_format_argument, add_store_arguments, find_run, open_records


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="ids, unique prefixes, or latest")
    add_store_arguments(p)
    p.add_argument("-n", "--limit", type=int, default=10, metavar="N")
    p.add_argument("-m", "--metric", action="append", default=[], metavar="TEXT",
                   help="only columns containing TEXT (repeatable), e.g. -m auc")
    p.add_argument("--sort", metavar="COL[:asc|:desc]", help="order the runs by a column (highest first unless :asc)")
    p.add_argument("--best", metavar="METRIC[:max|:min]",
                   help="the run (and instance) with the highest METRIC (:min for the lowest); METRIC is a "
                        "column, a metric name (auc), or a column without its item (fit.r2)")
    add_format_argument(p)


def main(args) -> int:
    from ..runner.history import MetricError, metrics_report, write_metrics

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
        try:
            doc = metrics_report(records, runs, args.metric, args.sort, args.best)
        except MetricError as e:
            raise UsageError(str(e)) from None
        write_metrics(doc, sys.stdout, args.format, several=len(runs) > 1)
    finally:
        records.close()
    return 0
