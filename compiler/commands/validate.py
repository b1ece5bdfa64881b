"""``pipespec validate FILE...``: every problem of every file, in one pass."""

from __future__ import annotations

import sys
from dataclasses import replace

from .common import load_or_usage_error, print_diagnostics


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="pipeline spec files")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text (compiler style), json, or github (workflow annotations)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")


def main(args) -> int:
    results = []
    for f in args.files:
        r = load_or_usage_error(f, build_ir=False)
        if args.strict:
            r.diagnostics = [d.as_error() for d in r.diagnostics]
        results.append(r)
    print_diagnostics(results, args.format, color=args.color)
    errors = sum(d.is_error for r in results for d in r.diagnostics)
    warnings = sum(not d.is_error for r in results for d in r.diagnostics)
    sys.stdout.flush()
    if not args.quiet and args.format == "text":
        n = len(results)
        bad = sum(1 for r in results if any(d.is_error for d in r.diagnostics))
        verdict = "all valid" if not bad else f"{bad} invalid"
        print(f"checked {n} file{'s' * (n != 1)}: {verdict}, {errors} error{'s' * (errors != 1)}, "
              f"{warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return 1 if errors else 0
