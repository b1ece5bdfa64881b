"""``pipespec exec SPEC --step NAME``: run ONE step instance; what every backend's workers call.

A thin CLI over ``pipespec.runtime``. Upstream results come from ``--inputs-json`` or, with
``--artifact-root ROOT --run-id R``, from the convention in ``pipespec.runtime.layout``.
Exit status: the step's own; 1 when its outputs are wrong or an expression fails; 124 on
timeout; 2 on a usage error (bad params, unknown step, missing upstream results).
The contract is documented in docs/steps.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import uuid

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

    # a compiled file names the spec relative to the project root: $PIPESPEC_PROJECT_DIR
    args.spec = on_worker(args.spec)
    pipe = require_valid(args.spec).pipeline
    try:
        step = pipe.step(args.step)
    except KeyError:
        raise UsageError(f"no step '{args.step}' in {args.spec} (steps: "
                         f"{', '.join(s.name for s in pipe.all_steps)})") from None
    try:
        given = _json_arg(args.params_json, "--params-json") or {}
        given.update(rt.parse_assignments(args.param))
        params = rt.coerce_params(pipe, given)
    except rt.ParamError as e:
        raise UsageError(str(e)) from None
    if args.artifact_root and not args.run_id:
        raise UsageError("--artifact-root needs --run-id")
    if args.run_id is not None:
        why = rt.run_id_problem(args.run_id)
        if why:
            raise UsageError(f"--run-id: {why}")
    run_id = args.run_id or "exec-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_date = args.run_date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")

    root = None
    try:
        root = rt.Root(args.artifact_root) if args.artifact_root else None
        conv = rt.ConventionInputs(pipe, root, run_id, params, run_date)
        explicit = _json_arg(args.inputs_json, "--inputs-json")
        if explicit is not None:
            values, artifacts = explicit.get("values", {}), explicit.get("artifacts", {})
        elif root is not None:
            values, artifacts = conv.gather(step)
        elif step.inputs:
            raise UsageError(f"step '{step.name}' reads upstream results "
                             f"({', '.join(f'{i.step}.{i.output}' for i in step.inputs)}): pass "
                             "--artifact-root ROOT --run-id R, or --inputs-json")
        else:
            values, artifacts = {}, {}
        item, index = None, None
        if step.foreach is not None:
            if args.item_index is None:
                raise UsageError(f"step '{step.name}' has foreach: pass --item-index N")
            items = conv.foreach_items(step, values, artifacts)
            if not 0 <= args.item_index < len(items):
                raise UsageError(f"--item-index {args.item_index} is out of range: the foreach of "
                                 f"'{step.name}' has {len(items)} items")
            item, index = items[args.item_index], args.item_index
        elif args.item_index is not None:
            raise UsageError(f"step '{step.name}' has no foreach: --item-index does not apply")
        outs = _output_paths(args, pipe, step, root, run_id, index)
        inputs = rt.StepInputs(params, values, artifacts, item=item, index=index, run_id=run_id,
                               run_date=run_date, run_status=args.run_status)
        res = rt.run_step(pipe, step, inputs, outs, retry=args.retries_by_executor,
                          on_retry=lambda n, d, why: print(
                              f"pipespec exec: {step.name}: attempt {n} failed ({why}); retrying in {d:g}s",
                              file=sys.stderr))
        if res.ok and root is not None:
            published = {o: root.join(run_id, step.name, rt.slot(index), o) for o in res.artifacts}
            root.publish(run_id, step.name, index, {
                "values": res.values, "metrics": res.metrics, "artifacts": sorted(res.artifacts),
                "run_id": run_id, "step": step.name, "index": index}, res.artifacts)
            if root.remote:
                res.artifacts = published
    except rt.LayoutError as e:
        raise UsageError(str(e)) from None
    finally:
        if root is not None:
            root.close()
    if args.result_json:
        from ..files import write_atomic

        write_atomic(args.result_json, json.dumps(res.to_json(), indent=1, sort_keys=True))
    if res.ok:
        _github_output(res)
    label = step.name + (f"[{index}]" if index is not None else "")
    if res.ok:
        print(f"pipespec exec: {label} succeeded in {res.duration_s:.2f}s", file=sys.stderr)
    else:
        why = res.error or f"exit {res.exit_code}"
        print(f"pipespec exec: {label} {res.status.upper()} after {res.attempts} attempt"
              f"{'s' if res.attempts > 1 else ''}: {why}", file=sys.stderr)
    return res.exit_code


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


def _github_output(res) -> None:
    """GitHub Actions: expose value outputs (and metrics as JSON) as the job step's outputs."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    from ..expr import to_text

    with open(path, "a", encoding="utf-8") as f:
        for name, value in list(res.values.items()) + list(res.metrics.items()):
            delim = f"ghadelimiter_{uuid.uuid4().hex}"
            f.write(f"{name}<<{delim}\n{to_text(value)}\n{delim}\n")
