"""``pipespec resume RUN``: re-run the failed and unfinished steps of a run, with the same
params and run id, reusing every step instance that succeeded in it (cache: false ones too).
The spec is read again from the path the run recorded; a changed step re-runs (its key differs).
"""

from __future__ import annotations

import json
import sys

from ..cli import UsageError
from .run import add_run_options
from .runs import add_store_arguments, find_run, open_records


def add_arguments(p) -> None:
    p.add_argument("run", metavar="RUN", help="id, unique prefix, or latest")
    add_store_arguments(p)
    _add_run_options_without_store(p)


def _add_run_options_without_store(p) -> None:
    import argparse

    tmp = argparse.ArgumentParser(add_help=False)
    add_run_options(tmp)
    for action in tmp._actions:
        if "--store" not in action.option_strings:
            p._add_action(action)


def main(args) -> int:
    from ..runtime import ParamError, coerce_params
    from .common import require_valid
    from .run import execute

    records = open_records(args)
    try:
        run = find_run(records, args.run)
    finally:
        records.close()
    import os

    from ..runner.owner import probe

    store = args.store or os.path.dirname(records.path)
    owned = probe(store, run["id"])                   # the authority: the run's lock (owner.py)
    if owned or (owned is None and run["status"] == "running"):
        from ..runner.history import run_status

        if owned or run_status(run) == "running":
            raise UsageError(f"run {run['id']} is still running (pid {run['pid']} on {run['host']}): "
                             "not starting a second copy of its steps")
    from ..runner.ircache import load

    compiled = load(run["spec"], require_valid)
    pipe = compiled.pipeline
    if compiled.digest != run["spec_digest"]:
        print(f"pipespec resume: note: {run['spec']} changed since run {run['id']}; changed steps run again",
              file=sys.stderr)
    try:
        params = coerce_params(pipe, json.loads(run["params"]))
    except ParamError as e:
        raise UsageError(f"the recorded params no longer fit the spec: {e}") from None
    if args.store is None:
        args.store = store
    return execute(compiled, params, args, resume=run["id"])
