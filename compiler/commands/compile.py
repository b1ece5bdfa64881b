"""``pipespec compile FILE --target T [-o PATH] [--check] [--strict]`` and ``--all`` (every target that
declares ``output:`` under ``targets:``). ``--check`` exits 1 when a file on disk differs from
what would be generated: for CI and the pipespec-compile-check pre-commit hook. ``--strict``
makes every warning (the spec's, W600) an error."""

from __future__ import annotations

import difflib
import os
import sys

from ..cli import UsageError
from .common import print_diagnostics, require_valid


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-t", "--target", help="airflow, kubeflow, github, or an installed third-party backend")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="file or directory to write (default: standard output; with --all: targets.T.output)")
    p.add_argument("--all", action="store_true", help="every target whose targets.T.output is set in the spec")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file on disk is out of date")
    p.add_argument("--image", metavar="TAG",
                   help="the image of every step without image: of its own, e.g. the tag `pipespec image` built "
                        "(Kubeflow executors, Airflow's kubernetes mode); nothing is installed when it starts")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings as errors (the spec's, and what the target only emulates: W600)")


def backend_named(name: str):
    from pipespec import backends

    try:
        return backends.get(name)()
    except KeyError:
        raise UsageError(f"unknown target '{name}'; installed: {', '.join(backends.available())}") from None


def _shown(path: str) -> str:
    """``ml/../dags/x.py`` as ``dags/x.py``, when both name the same file (a symbolic link on
    the way could make ``..`` mean another folder: then the path stays as it is)."""
    norm = os.path.normpath(path)
    return norm if os.path.realpath(norm) == os.path.realpath(path) else path


def _destination(backend, pipe, output: str | None) -> str | None:
    if output is None:
        return None
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, backend.default_filename(pipe))
    return output


def compile_one(path: str, target: str, output: str | None, check: bool, strict: bool = False,
                image: str | None = None) -> int:
    from pipespec.backends.base import CompileOptions

    res = require_valid(path, policies=True, strict=strict)
    pipe = res.pipeline
    backend = backend_named(target)
    if image:
        from ..containers import ImageError, check_reference

        try:
            backend.step_image = check_reference(image, "--image")
        except ImageError as e:
            res.diagnostics = [e.diagnostic(pipe.span)]
            print_diagnostics([res], stream=sys.stderr)
            return 1
    dest = _destination(backend, pipe, output)
    result = backend.compile(pipe, CompileOptions(spec_path=path, output_path=dest))
    if pipe.observe is not None:
        from ..integrations.targets import not_carried_out

        result.diagnostics = sorted(result.diagnostics + not_carried_out(pipe, target), key=lambda d: d.sort_key())
    if strict:
        result.diagnostics = [d.as_error() for d in result.diagnostics]
    if result.diagnostics:
        res.diagnostics = result.diagnostics
        print_diagnostics([res], stream=sys.stderr)
    if not result.ok:
        return 1
    if check:
        if dest is None:
            raise UsageError("--check needs -o PATH (or --all with targets.T.output)")
        try:
            with open(dest, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            print(f"{dest}: missing; run: pipespec compile {path} --target {target} -o {dest}", file=sys.stderr)
            return 1
        if current != result.text:
            diff = difflib.unified_diff(current.splitlines(True), result.text.splitlines(True),
                                        f"{dest} (on disk)", f"{dest} (from {path})", n=1)
            sys.stderr.writelines(list(diff)[:40])
            from pipespec import __version__

            from .check_repo import other_version

            old = other_version(current)
            made = f" (pipespec {old} compiled it, this is pipespec {__version__})" if old else ""
            print(f"{dest}: out of date{made}; run: pipespec compile {path} --target {target} -o {dest}", file=sys.stderr)
            return 1
        return 0
    if dest is None:
        sys.stdout.write(result.text)
        return 0
    from ..files import write_atomic

    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    write_atomic(dest, result.text)
    print(f"wrote {dest}", file=sys.stderr)
    return 0


def main(args) -> int:
    if args.all == bool(args.target):
        raise UsageError("give either --target T or --all")
    if args.all and args.output:
        raise UsageError("--all takes each output from targets.T.output in the spec")
    rc = 0
    for path in args.files:
        if args.target:
            rc = max(rc, compile_one(path, args.target, args.output, args.check, args.strict, args.image))
            continue
        pipe = require_valid(path, policies=True, strict=args.strict).pipeline
        outs = [(t, cfg["output"]) for t, cfg in pipe.targets if isinstance(cfg, dict) and cfg.get("output")]
        if not outs:
            print(f"{path}: no targets.T.output set; nothing to compile", file=sys.stderr)
        for t, out in outs:
            dest = _shown(os.path.join(os.path.dirname(path), out))
            rc = max(rc, compile_one(path, t, dest, args.check, args.strict, args.image))
    return rc
