"""``pipespec import dvc.yaml [--params params.yaml] [-o pipeline.yaml]``: write a pipespec spec
from a DVC pipeline (``pipespec.dvc_import`` says how each part maps). The notes (what changed
in meaning or has no equivalent) go to standard error, each with its line in the DVC file, and
into the spec's header comment; the spec is checked by pipespec's own front end."""

from __future__ import annotations

import os
import sys

from ..cli import UsageError


def add_arguments(p) -> None:
    p.add_argument("source", metavar="DVC_YAML", help="a dvc.yaml")
    p.add_argument("--params", metavar="FILE", help="the params file (default: params.yaml beside dvc.yaml)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="where to write the spec (default: standard output); beside dvc.yaml keeps the paths right")
    p.add_argument("--name", help="the pipeline's name (default: the folder of dvc.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(args) -> int:
    from ..diagnostics import Diagnostic
    from ..dvc_import import ImportError_, import_dvc
    from ..frontend import check_text
    from .common import print_diagnostics

    if not os.path.isfile(args.source):
        raise UsageError(f"{args.source}: no such file")
    try:
        text, notes = import_dvc(args.source, args.params, args.name)
    except ImportError_ as e:
        from ..frontend import Result

        r = Result(args.source, open(args.source, encoding="utf-8", errors="replace").read())
        r.diagnostics = [Diagnostic("E800", str(e), e.span)]
        print_diagnostics([r], stream=sys.stderr)
        return 1
    for n in notes:
        s = n.span
        print(f"{s.file}:{s.line}:{s.col}: note: {n.message}", file=sys.stderr)
    dest = args.output
    # checked as if it stood where it is written (relative paths and deps resolve there)
    where = dest or os.path.join(os.path.dirname(args.source), "pipeline.yaml")
    res = check_text(text, where, build_ir=True)
    if not res.ok:
        print_diagnostics([res], stream=sys.stderr)
        print(f"the imported spec is not valid: fix the DVC file or edit the spec{' ' + dest if dest else ''}",
              file=sys.stderr)
    if dest is None:
        sys.stdout.write(text)
    else:
        if os.path.exists(dest) and not args.force:
            raise UsageError(f"{dest} exists; pass --force to overwrite it")
        from ..files import write_atomic

        write_atomic(dest, text)
        print(f"wrote {dest} ({len(notes)} note{'s' * (len(notes) != 1)})", file=sys.stderr)
    return 0 if res.ok else 1
