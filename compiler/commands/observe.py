"""``pipespec observe start|finish SPEC --run-id R --target T``: the pipeline-boundary part of
``notify:``/``metrics:``/``tracking:`` on a compiled target, run by the target's own tasks.

``start`` opens the MLflow parent run (idempotently: a retried start finds it by its tags) and
prints its id, which the target hands every ``pipespec exec`` as ``PIPESPEC_TRACKING_PARENT``.
``finish --status S`` builds the finished run (``integrations.collect``: the target's task
states, the results under ``--artifact-root``, or the outcomes and results the workers recorded
under ``--outcomes``), ends the parent run, pushes/writes the metrics
and sends the alerts through the one core the local runner uses (``integrations.hooks.deliver``),
then keeps the run as the next run's previous one (for ``on_recovery``).
Exit status: 0 whatever MLflow, the Pushgateway or a channel did (warnings on standard error:
they never hide the run's result); 2 on a usage error; 65 when the spec is not the one the
calling file was compiled from.
"""

from __future__ import annotations

import json
import os
import sys
import time

from ..cli import UsageError
from .common import require_valid


def add_arguments(p) -> None:
    p.add_argument("action", choices=("start", "finish"), help="start: open the MLflow parent run and print its id; "
                   "finish: end it, push the metrics, send the alerts")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--run-id", required=True, metavar="R", help="the run's id (as passed to pipespec exec)")
    p.add_argument("--target", required=True, metavar="T", help="the target running it (airflow, github, kubeflow)")
    p.add_argument("--digest", metavar="sha256:HEX", help="the IR digest the calling file was compiled from "
                   "(default: $PIPESPEC_IR_DIGEST)")
    p.add_argument("--output", metavar="PATH", help="start: also write the parent run's id to PATH")
    p.add_argument("--output-json", metavar="PATH", help="start: also write the parent run's id to PATH as a JSON "
                   "string (null without one): the XCom file of Airflow's KubernetesPodOperator")
    p.add_argument("--status", metavar="S", help="finish: the run's end (succeeded|failed|interrupted, or the "
                   "target's word: success, failure, cancelled, SUCCEEDED, FAILED, CANCELED)")
    p.add_argument("--artifact-root", metavar="ROOT", help="finish: where the workers left the step results")
    p.add_argument("--outcomes", metavar="ROOT",
                   help="finish: where the workers recorded each step instance's outcome and results by the "
                   "artifact-root convention (Kubeflow: PIPELINE_ROOT/_pipespec/runs); they stand for "
                   "--steps-json and the results under --artifact-root, which then keeps only the run's record")
    p.add_argument("--steps-json", metavar="JSON|@FILE",
                   help='finish: each task\'s state: {"step": "success" | {"status": ..., "started": ..., "ended": ...}}')
    p.add_argument("--params-json", metavar="JSON", help="finish: the run's parameter values")
    p.add_argument("--parent", metavar="ID", help="finish: the MLflow parent run (default: found by its tags)")
    p.add_argument("--started", metavar="TIME", help="finish: when the run started (epoch seconds or ISO 8601)")
    p.add_argument("--previous-status", metavar="S",
                   help="finish: the status of the pipeline's previous run, when the target knows it")
    p.add_argument("--run-date", metavar="YYYY-MM-DD", help="finish: run.date for notify.when conditions")


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(args) -> int:
    from ..files import on_worker
    from ..runtime import worker as w
    from ..runtime.layout import run_id_problem

    args.spec = on_worker(args.spec)
    pipe = require_valid(args.spec).pipeline
    why = run_id_problem(args.run_id)
    if why:
        raise UsageError(f"--run-id: {why}")
    if not args.target.replace("_", "").replace("-", "").isalnum():
        raise UsageError(f"--target: {args.target!r} is not a target's name")
    digest = args.digest if args.digest is not None else os.environ.get("PIPESPEC_IR_DIGEST")
    try:
        w.check_digest(pipe, digest, args.spec)
    except w.WorkerError as e:
        print(f"pipespec observe: error: {e}", file=sys.stderr)
        return e.code
    if args.action == "start":
        return _start(pipe, args)
    return _finish(pipe, args)


def _start(pipe, args) -> int:
    parent = ""
    if pipe.observe is not None and pipe.observe.tracking:
        from ..integrations import parent as mlflow_parent

        parent = mlflow_parent.start(pipe, args.run_id, args.target, _warn)
    from ..files import write_atomic

    for path, text in ((args.output, parent), (args.output_json, json.dumps(parent or None))):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write_atomic(path, text)
    print(parent)
    return 0


def _finish(pipe, args) -> int:
    from ..integrations import collect
    from ..integrations.hooks import deliver
    from ..runtime import Root, coerce_params
    from ..runtime.layout import LayoutError
    from ..runtime.params import ParamError
    from .exec_step import _json_arg

    if not args.status:
        raise UsageError("finish needs --status")
    status = collect.run_state(args.status)
    if status is None:
        raise UsageError(f"--status: {args.status!r} is not a run's end (succeeded, failed, interrupted, or "
                         "the target's word for one)")
    try:
        params = coerce_params(pipe, _json_arg(args.params_json, "--params-json") or {})
    except ParamError as e:
        raise UsageError(str(e)) from None
    given = _json_arg(args.steps_json, "--steps-json") or {}
    if pipe.observe is None:
        return 0
    root = results = None
    try:
        if args.artifact_root:
            try:
                root = results = Root(args.artifact_root)
            except LayoutError as e:
                _warn(f"pipespec: warning: the step results were not read: {e}")
        states = collect.step_states(pipe, given)
        if args.outcomes:
            try:
                results = Root(args.outcomes)
                states = {**collect.worker_states(pipe, results, args.run_id, params,
                                                  args.run_date or time.strftime("%Y-%m-%d")), **states}
            except LayoutError as e:
                results = None
                _warn(f"pipespec: warning: the steps' outcomes were not read: {e}")
        started = collect._time(args.started)
        run = collect.from_target(pipe, args.run_id, args.target, status, root=results,
                                  steps=states, params=params, started=started,
                                  ended=None, run_date=args.run_date, warn=_warn)
        record = collect.read_previous(root, pipe, args.target, args.run_id) if root is not None else None
        previous = collect.run_state(args.previous_status) if args.previous_status else None
        if previous is None and record is not None:
            previous = record.get("status")
        if record is not None:
            run.step_previous = {k: v for k, v in (record.get("steps") or {}).items() if isinstance(v, str)}
        if pipe.observe.tracking:
            from ..integrations import parent as mlflow_parent

            if previous is None and record is None:
                previous = mlflow_parent.previous_status(pipe, args.target, args.run_id, _warn)
            mlflow_parent.finish(run, args.parent or os.environ.get("PIPESPEC_TRACKING_PARENT"), _warn)
        run.previous = previous
        deliver(run, _warn)
        if root is not None:
            try:
                collect.write_record(root, run)
            except OSError as e:
                _warn(f"pipespec: warning: the run was not recorded for the next run's on_recovery: {e}")
    finally:
        for r in {id(x): x for x in (root, results) if x is not None}.values():
            r.close()
    return 0
