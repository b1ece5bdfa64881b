"""``pipespec run FILE``: run a pipeline on this machine — parallel, cached, resumable.

Exit status: 0 the run succeeded, 1 a step failed, 2 a usage error (bad param value, unknown
step) or a store that cannot be written (disk full, read-only), 130 interrupted (Ctrl-C; finally steps still ran). Details: docs/runner.md.
"""

from __future__ import annotations

import os
import sys

from ..cli import UsageError
from .common import require_valid


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE")
    add_run_options(p)
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a param; lists as a,b or [a,b] or JSON")
    p.add_argument("--params-json", metavar="JSON", help="param values as one JSON object")
    p.add_argument("--no-cache", action="store_true", help="run every step, ignoring cached results")
    p.add_argument("--only", action="append", default=[], metavar="STEP",
                   help="run just this step (repeatable); its inputs come from earlier runs")
    p.add_argument("--from", dest="from_", action="append", default=[], metavar="STEP",
                   help="run STEP and everything downstream, reusing upstream results")


def add_run_options(p) -> None:
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="steps at once (default: CPU count)")
    p.add_argument("--explain", action="store_true", help="say why each step ran or was cached")
    p.add_argument("--progress", choices=("auto", "tty", "plain"), default="auto")
    p.add_argument("--store", metavar="DIR", help="run store (default: targets.local.store, else .pipespec beside the spec)")
    p.add_argument("--kill-grace", type=float, default=5.0, metavar="S",
                   help="seconds between SIGTERM and SIGKILL on timeout or Ctrl-C (default 5)")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="json: one Elastic Common Schema object per line instead of text")
    p.add_argument("--containers", action="store_true",
                   help="run each step in `docker run`, in its image: (else --image); docs/containers.md")
    p.add_argument("--image", metavar="TAG",
                   help="with --containers: the image of steps without image: (default: the spec's own, "
                        "as `pipespec image SPEC --print-tag` names it)")
    p.add_argument("--preload", action="store_true",
                   help="fork call: steps from a Python that has imported their libraries once (docs/runner.md)")


def store_dir(pipeline, given: str | None) -> str:
    if given:
        return os.path.abspath(given)
    from ..runtime import spec_dir

    local = pipeline.target("local")
    configured = local.get("store") if isinstance(local, dict) else None
    return os.path.join(spec_dir(pipeline), configured or ".pipespec")


def main(args) -> int:
    import json

    from ..runtime import ParamError, coerce_params, parse_assignments
    from ..runtime.params import loads_json

    from ..runner.ircache import load

    compiled = load(args.file, require_valid)
    pipe = compiled.pipeline
    try:
        given = loads_json(args.params_json) if args.params_json else {}
        if not isinstance(given, dict):
            raise UsageError("--params-json: expected a JSON object")
        given.update(parse_assignments(args.param))
        params = coerce_params(pipe, given)
    except ParamError as e:
        raise UsageError(str(e)) from None
    except ValueError as e:      # not JSON, or a number too long for any target
        raise UsageError(f"--params-json: {e}") from None
    return execute(compiled, params, args, only=tuple(args.only), from_=tuple(args.from_),
                   no_cache=args.no_cache)


def execute(compiled, params: dict, args, only=(), from_=(), no_cache=False, resume=None) -> int:
    from ..runner import PlanError, Runner
    from ..runner.progress import make_display
    from ..runner.report import summary

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j must be at least 1")
    if getattr(args, "log_format", "text") == "json":
        from ..integrations.logs import JsonDisplay

        display = JsonDisplay(explain=args.explain, pipeline=compiled.pipeline.name)
    else:
        display = make_display(args.progress, args.explain)
    try:
        pipe = compiled.pipeline
        runner = Runner(pipe, params, store_dir=store_dir(pipe, args.store), jobs=args.jobs,
                        no_cache=no_cache, only=only, from_=from_, display=display, resume=resume,
                        argv=sys.argv[1:], kill_grace=args.kill_grace, explain=args.explain,
                        compiled=compiled, preload=getattr(args, "preload", False))
    except PlanError as e:
        raise UsageError(str(e)) from None
    if getattr(args, "containers", False):
        if getattr(args, "preload", False):       # a container is its own process: nothing to fork from
            raise UsageError("--preload and --containers cannot be combined: each container starts its own Python")
        from ..runner.containers import containers_for

        runner.containers = containers_for(compiled, runner, args)
    elif getattr(args, "image", None):
        raise UsageError("--image is for --containers")
    from ..files import UnsafePath
    from ..runner.owner import RunBusy
    from ..runner.scheduler import StoreError

    warn = getattr(display, "warning", None) or (lambda m: print(m, file=sys.stderr, flush=True))
    tracker, saved_env = None, {}
    if pipe.observe is not None and pipe.observe.tracking:   # one MLflow parent run, before any step
        from ..integrations.tracking import Tracker

        tracker = Tracker.start(pipe, runner.store_dir, warn, resume=runner.resume)
        if tracker is not None:
            saved_env = {k: os.environ.get(k) for k in tracker.env()}
            os.environ.update(tracker.env())             # the steps inherit it (Runner.base_env)
    try:
        code = runner.run()
    except UnsafePath as e:                    # a link planted where the store keeps a folder
        raise UsageError(f"the run store: {e.strerror}") from None
    except (RunBusy, StoreError) as e:        # another live runner owns it; disk full, read-only
        raise UsageError(str(e)) from None
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    summary(runner, display)
    if pipe.observe is not None:                 # tracking, metrics, alerts: warnings at worst, never the result
        from ..integrations.hooks import after_run

        after_run(runner, warn, tracker)
    return code
