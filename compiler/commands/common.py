"""Helpers shared by sub-commands: loading specs with usage errors, printing diagnostics."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

from ..cli import Failed, UsageError
from ..diagnostics import RENDERERS, SourceCache

if TYPE_CHECKING:  # the front end (YAML, lark) is imported only by the commands that read a spec:
    from ..frontend import Result  # `pipespec run` of an unchanged spec takes its IR from a cache


def load_or_usage_error(path: str, build_ir: bool = True, policies: bool = False) -> "Result":
    from ..frontend import SpecIOError, load_spec

    try:
        return load_spec(path, build_ir, policies)
    except SpecIOError as e:
        raise UsageError(str(e)) from None


def use_color(stream, mode: str = "auto") -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def print_diagnostics(results: "list[Result]", fmt: str = "text", stream=None, color: str = "auto") -> None:
    stream = stream or sys.stdout
    sources = SourceCache({r.file: r.text for r in results})
    # a problem of a file several specs share (a policy config, E831) is shown once
    diags = list(dict.fromkeys(d for r in results for d in r.diagnostics))
    if fmt == "json":
        out = RENDERERS[fmt](diags, sources, files=[r.file for r in results])
    else:
        out = RENDERERS[fmt](diags, sources, use_color(stream, color) if fmt == "text" else False)
    if out:
        stream.write(out)


def require_valid(path: str, policies: bool = False, strict: bool = False) -> "Result":
    """Load a spec for a command that needs its IR; print diagnostics and raise on errors
    (with ``strict``, on warnings too). ``compile`` passes ``policies``: it refuses what
    validate refuses, the org's rules too."""
    r = load_or_usage_error(path, policies=policies)
    if strict:
        r.diagnostics = [d.as_error() for d in r.diagnostics]
    if not r.ok:
        print_diagnostics([r], stream=sys.stderr)
        raise Failed(1)
    return r


def report(results: "list[Result]", args) -> tuple[int, int]:
    """Print the diagnostics of ``results`` in ``args.format`` (``--strict``: warnings become
    errors first); the counts of errors and of warnings. What ``validate`` and ``check-repo``
    share; each then writes its own summary line."""
    if args.strict:
        for r in results:
            r.diagnostics = [d.as_error() for d in r.diagnostics]
    print_diagnostics(results, args.format, color=args.color)
    sys.stdout.flush()
    errors = sum(d.is_error for r in results for d in r.diagnostics)
    return errors, sum(not d.is_error for r in results for d in r.diagnostics)
