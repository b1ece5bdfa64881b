"""``pipespec validate PATH...``: every problem of every spec, in one pass. A PATH is a spec
file or a folder (every spec inside it, recursively); a file that cannot be read is reported as
its own diagnostic (E111) and the others are still checked. ``--target T`` adds what target T
cannot express, through the same backend path as ``pipespec compile --target T``. The specs are
also checked against each other (``across_specs``: E810-E812; outputs also within one spec)."""

from __future__ import annotations

import os
import sys

from ..cli import UsageError
from .common import report


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="PATH",
                   help="pipeline spec files, or folders (every spec inside, recursively)")
    p.add_argument("-t", "--target", action="append", default=[], metavar="T",
                   help="also report what target T cannot express, as `compile --target T` does (repeatable)")
    p.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text",
                   help="text (compiler style), json (a versioned report: schemas/validate-output.v1.schema.json), "
                        "github (workflow annotations), or sarif (SARIF 2.1.0, for code-scanning UIs)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")


def spec_paths(args: list[str]) -> list[str]:
    """The files to check: each file argument as given, each folder as the specs inside it."""
    from ..files import spec_files

    out: list[str] = []
    for a in args:
        if os.path.isdir(a):
            found = spec_files(a)
            if not found:
                raise UsageError(f"{a}: no pipeline spec inside (a .yaml or .yml file with a top-level "
                                 "'pipespec:' key)")
            out += found
        else:
            out.append(a)
    return list(dict.fromkeys(out))


def unreadable(path: str, reason: str):
    """The result of a file that cannot be read: one E111 at its line 1 (``upgrade`` too)."""
    from ..diagnostics import Diagnostic
    from ..frontend import Result
    from ..span import Span

    r = Result(path, "")
    r.diagnostics = [Diagnostic("E111", f"cannot read the file: {reason}", Span(path, 1, 1, 1, 1))]
    return r


def check_file(path: str, targets: list[str]):
    """The result of one spec: its diagnostics, then (when it is valid) each target's."""
    from ..frontend import SpecIOError, load_spec

    try:
        r = load_spec(path, build_ir=bool(targets), policies=True)
    except SpecIOError as e:
        reason = str(e)[len(path) + 2:] if str(e).startswith(path + ": ") else str(e)
        return unreadable(path, reason)
    if targets and r.ok:
        from pipespec.backends.base import CompileOptions

        from .compile import backend_named

        for t in targets:
            r.diagnostics = r.diagnostics + backend_named(t).compile(r.pipeline, CompileOptions(spec_path=path)).diagnostics
            if r.pipeline.observe is not None:         # W701, as compile --target T says it
                from ..integrations.targets import not_carried_out

                r.diagnostics = r.diagnostics + not_carried_out(r.pipeline, t)
    return r


def main(args) -> int:
    if args.target:
        from .compile import backend_named

        for t in args.target:
            backend_named(t)                     # an unknown target is a usage error, before any work
    results = [check_file(f, args.target) for f in spec_paths(args.files)]
    from ..across_specs import check as check_across

    check_across(results)
    errors, warnings = report(results, args)
    if not args.quiet and args.format == "text":
        n = len(results)
        bad = sum(1 for r in results if any(d.is_error for d in r.diagnostics))
        verdict = "all valid" if not bad else f"{bad} invalid"
        print(f"checked {n} file{'s' * (n != 1)}: {verdict}, {errors} error{'s' * (errors != 1)}, "
              f"{warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return 1 if errors else 0
