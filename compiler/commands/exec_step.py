"""``pipespec exec SPEC --step NAME``: run ONE step instance; what every backend's workers call.

The command-line adapter of the worker contract (``pipespec.runtime.worker``). Upstream
results come from ``--inputs-json`` or, with ``--artifact-root ROOT --run-id R``, from the
convention in ``pipespec.runtime.layout``.
Exit status: the step's own; 1 when its outputs are wrong or an expression fails; 124 on
timeout; 2 on a usage error (bad params, unknown step, missing upstream results); 65 when the
spec is not the one the calling file was compiled from (``--digest``, ``$PIPESPEC_IR_DIGEST``).
The contract is documented in docs/steps.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os

from ..cli import UsageError
from .common import require_valid


def add_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--step", required=True, metavar="NAME", help="the step to run")
    p.add_argument("--run-id", metavar="R", help="run id (run.id, PIPESPEC_RUN_ID, the artifact-root folder)")
    p.add_argument("--run-date", metavar="YYYY-MM-DD", help="run.date (default: today, UTC)")
    p.add_argument("--artifact-root", metavar="ROOT",
                   help="folder or URL holding ROOT/<run>/<step>/<index|_>/<output> for every step")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--params-json", metavar="JSON", help="parameter values as one JSON object (typed)")
    p.add_argument("--item-index", type=int, metavar="N", help="which foreach instance to run")
    p.add_argument("--inputs-json", metavar="JSON|@FILE",
                   help='explicit upstream results: {"values": {step: {out: v}}, "artifacts": {step: {out: path}}}')
    p.add_argument("--output-paths-json", metavar="JSON|@FILE", help="where each artifact output must go: {output: path}")
    p.add_argument("--result-json", metavar="PATH", help="write {values, metrics, artifacts, status, ...} here")
    p.add_argument("--run-status", choices=("succeeded", "failed"), help="run.status for a finally step")
    p.add_argument("--digest", metavar="sha256:HEX",
                   help="the IR digest the calling file was compiled from (default: $PIPESPEC_IR_DIGEST); "
                        "a different spec here fails with exit 65")
    p.add_argument("--log-format", choices=("text", "json"), default=None,
                   help="json: what exec says as Elastic Common Schema objects on standard error "
                        "(default: $PIPESPEC_LOG_FORMAT, else text)")
    p.add_argument("--retries-by-executor", action="store_true",
                   help="retry here with the step's declared backoff (for targets without native retries)")


def _json_arg(text: str | None, what: str) -> dict | None:
    from ..runtime.params import loads_json

    if text is None:
        return None
    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                data = loads_json(f.read())
        else:
            data = loads_json(text)
    except (OSError, ValueError) as e:    # ValueError: not JSON, or a number too long for any target
        raise UsageError(f"{what}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what}: expected a JSON object")
    return data


def main(args) -> int:
    from .. import runtime as rt
    from ..files import on_worker
    from ..backends import worker_sinks
    from ..runtime import worker as w

    # a compiled file names the spec relative to the project root: $PIPESPEC_PROJECT_DIR
    args.spec = on_worker(args.spec)
    pipe = require_valid(args.spec).pipeline
    digest = args.digest if args.digest is not None else os.environ.get("PIPESPEC_IR_DIGEST")
    try:
        given = _json_arg(args.params_json, "--params-json") or {}
        given.update(rt.parse_assignments(args.param))
    except rt.ParamError as e:
        raise UsageError(str(e)) from None
    if args.artifact_root and not args.run_id:
        raise UsageError("--artifact-root needs --run-id")
    if args.run_id is not None:
        why = rt.run_id_problem(args.run_id)
        if why:
            raise UsageError(f"--run-id: {why}")
    req = w.WorkerRequest(
        step=args.step, params=given, index=args.item_index, expected_digest=digest, spec_path=args.spec,
        run_id=args.run_id or "exec-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S"),
        run_date=args.run_date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        run_status=args.run_status, retry=args.retries_by_executor)
    log = _log(args, pipe, req)
    sinks: list = []
    root = None
    try:
        # what the request needs before its step can be looked at: the step and its params
        step, params = w.step_and_params(pipe, req)
        root = rt.Root(args.artifact_root) if args.artifact_root else None
        conv = rt.ConventionInputs(pipe, root, req.run_id, params, req.run_date)
        explicit = _json_arg(args.inputs_json, "--inputs-json")
        if explicit is not None:
            req.values, req.artifacts = explicit.get("values", {}), explicit.get("artifacts", {})
        elif root is not None:
            req.values, req.artifacts = conv.gather(step)
        elif step.inputs:
            raise UsageError(f"step '{step.name}' reads upstream results "
                             f"({', '.join(f'{i.step}.{i.output}' for i in step.inputs)}): pass "
                             "--artifact-root ROOT --run-id R, or --inputs-json")
        resolved = w.resolve(pipe, req, lambda st: conv.foreach_items(st, req.values, req.artifacts))
        req.output_paths = _output_paths(args, pipe, step, root, req.run_id, resolved[1].index)
        if root is not None:
            sinks.append(w.RootSink(root, req.run_id, resolved[1].index))
        if args.result_json:
            sinks.append(w.ResultJsonSink(args.result_json))
        sinks.extend(worker_sinks(os.environ))    # a target's own, when its workers' environment says so
        res = w.run_request(pipe, req, sinks, resolved=resolved, label="pipespec exec", log=log)
    except w.WorkerError as e:
        log.error(str(e))
        if args.result_json:       # the task's platform reads why: Airflow does not retry these
            from ..files import write_atomic

            status = "spec_changed" if e.code == w.EXIT_SPEC_CHANGED else "usage_error"
            write_atomic(args.result_json, json.dumps(
                {"status": status, "exit_code": e.code, "error": str(e)}, sort_keys=True))
        return e.code
    except rt.LayoutError as e:
        raise UsageError(str(e)) from None
    finally:
        if root is not None:
            root.close()
    return res.exit_code


def _log(args, pipe, req):
    from ..runtime import worker as w

    fmt = args.log_format or os.environ.get("PIPESPEC_LOG_FORMAT") or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"$PIPESPEC_LOG_FORMAT: expected text or json, not {fmt!r}")
    if fmt == "text":
        return w.TextLog("pipespec exec")
    from ..integrations.logs import WorkerJsonLog

    return WorkerJsonLog(pipe, req.step, req.run_id)


def _output_paths(args, pipe, step, root, run_id: str, index) -> dict[str, str]:
    from ..runtime import spec_dir, slot

    given = _json_arg(args.output_paths_json, "--output-paths-json")
    names = [o.name for o in step.artifact_outputs]
    if given is not None:
        missing = [n for n in names if n not in given]
        if missing:
            raise UsageError(f"--output-paths-json has no path for output(s) {', '.join(missing)}")
        return {n: os.path.abspath(given[n]) for n in names}
    if root is not None:
        d = root.staged(run_id, step.name, index)
    else:
        from ..files import UnsafePath, make_dirs

        store = os.path.join(spec_dir(pipe), ".pipespec")
        d = os.path.join(store, "exec", run_id, step.name, slot(index))
        if names:
            try:
                make_dirs(store, d)                   # 0700, through no link planted in the store
            except UnsafePath as e:
                raise UsageError(str(e.strerror)) from None
    return {n: os.path.join(d, n) for n in names}
