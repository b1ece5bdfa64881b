"""Paths and golden-file helpers shared by the tests: ``from support import ROOT, check_golden``.

(Not in conftest.py: with several conftest.py files, ``from conftest import`` is ambiguous.)
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CASES = ROOT / "tests" / "cases"
GOLDEN = ROOT / "tests" / "golden"


def check_golden(path: pathlib.Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file at ``path`` (or rewrite it with --update-golden)."""
    if update or not path.exists():
        if not update:
            pytest.fail(f"golden file {path.relative_to(ROOT)} is missing; run pytest --update-golden")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.relative_to(ROOT)} differs; if the change is intended, run pytest --update-golden"


def example_specs() -> list[pathlib.Path]:
    return sorted(SPECS.glob("*/pipeline.yaml"))


def ok_cases() -> list[pathlib.Path]:
    return sorted((CASES / "ok").glob("*.yaml"))


def typed_expr(source: str, resolve=None):
    """``source`` parsed and type-checked as the IR carries an expression (``ir.TypedExpr``), for
    translator unit tests that have no spec; ``resolve`` types each reference (default: any)."""
    from pipespec import expr as E
    from pipespec import ir
    from pipespec.span import UNKNOWN, ScalarMap

    expr = E.parse(source)
    types: dict = {}
    E.typecheck(expr, resolve or (lambda ref: E.ANY), types)
    return ir.TypedExpr(expr, 0, tuple(types.get(n, E.ANY) for n in E.walk(expr)), ScalarMap(UNKNOWN, source))


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group ``proc`` leads (started with ``start_new_session``: every
    child it forked gets it too), then SIGKILL while the leader lives; bounded waits. Never
    signalled once the leader is reaped: its PID could then belong to another process."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
