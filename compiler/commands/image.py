"""``pipespec image SPEC``: the step image of a spec — a Dockerfile and its build context
(pipespec, kfp, requirements.txt, the spec's folder), built and tagged with a tag made from
the content when Docker is there. ``--print-tag`` prints the tag and builds nothing.
Exit 0 built (or written / printed), 1 a diagnostic (E61x), 2 usage. docs/containers.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from .common import print_diagnostics, require_valid


def add_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--base", metavar="IMAGE",
                   help="base image with python3 (3.11+), venv and pip (default: $PIPESPEC_BASE_IMAGE, else "
                        "python:3.11-slim)")
    p.add_argument("--print-tag", action="store_true", help="print the image's tag and stop (no Docker needed)")
    p.add_argument("-o", "--output", metavar="DIR", help="write the Dockerfile and its build context into DIR")
    p.add_argument("--no-build", action="store_true", help="write the context (-o DIR) but do not build")
    p.add_argument("--no-kfp", action="store_true", help="leave the kfp SDK out (the image then serves no Kubeflow task)")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="S", help="bound of docker build (default 1800)")


def project_override(pipe) -> str | None:
    """targets.kubeflow.project_root (else airflow's): where the compiled files say the project is."""
    for t in ("kubeflow", "airflow"):
        cfg = pipe.target(t)
        if isinstance(cfg, dict) and isinstance(cfg.get("project_root"), str):
            return cfg["project_root"]
    return None


def spec_context(path: str, base: str | None = None, kfp: bool = True):
    """(load result, Context) of the spec at ``path``; diagnostics printed and Failed raised."""
    from ..cli import Failed
    from ..containers import ImageError, context

    res = require_valid(path)
    pipe = res.pipeline
    try:
        ctx = context(path, pipe.name, base or os.environ.get("PIPESPEC_BASE_IMAGE") or None, kfp,
                      project_override(pipe))
    except ImageError as e:
        fail(res, e)
        raise Failed(1) from None
    return res, ctx


def fail(res, e) -> None:
    res.diagnostics = [e.diagnostic(res.pipeline.span)]
    print_diagnostics([res], stream=sys.stderr)


def main(args) -> int:
    from ..cli import UsageError
    from ..containers import ImageError, build, docker_ready
    from ..diagnostics import Diagnostic

    if args.no_build and not args.output:
        raise UsageError("--no-build needs -o DIR (where to write the Dockerfile)")
    res, ctx = spec_context(args.spec, args.base, not args.no_kfp)
    if ctx.warnings:
        res.diagnostics = [Diagnostic(c, m, res.pipeline.span, h) for c, m, h in ctx.warnings]
        print_diagnostics([res], stream=sys.stderr)
    if args.print_tag:
        print(ctx.tag)
        return 0
    if args.output:
        ctx.write(args.output)
        print(f"wrote {os.path.join(args.output, 'Dockerfile')}", file=sys.stderr)
        if args.no_build:
            print(ctx.tag)
            return 0
    try:
        docker = docker_ready()
        t0 = time.monotonic()
        if args.output:
            build(docker, args.output, ctx.tag, args.timeout, None)
        else:
            with tempfile.TemporaryDirectory(prefix="pipespec-image-") as tmp:
                ctx.write(tmp)
                build(docker, tmp, ctx.tag, args.timeout, None)
    except ImageError as e:
        fail(res, e)
        return 1
    print(f"built {ctx.tag} in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(ctx.tag)
    return 0
