"""Golden cases: every ``tests/cases/ok/*.yaml`` validates without errors, and every
``tests/cases/err/*.yaml`` prints exactly its ``.out`` (``pipespec validate --color never -q``,
run from the repo root). Refresh the ``.out`` files with ``pytest --update-golden``."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re

import pytest

from pipespec.cli import main
from pipespec.codes import CODES
from pipespec.frontend import load_spec

from support import CASES, ROOT, check_golden, ok_cases

ERR_CASES = sorted((CASES / "err").glob("*.yaml"))
# E6xx/W6xx are compile-time codes of the targets: their cases live with the backends
# E111 is about the file itself (missing, unreadable, a FIFO), which no case file can be: the CLI
# tests make one of each (tests/frontend/test_cli.py); E800 is about a DVC file being imported
# (tests/runner/test_dvc_import.py); E230/E231 need an installed (broken) backend:
# tests/backends/test_third_party_target.py, test_capabilities.py; W701 is reported by pipespec
# compile (its example is in docs/diagnostics.md), and so are W702-W704 (tests/integrations/test_compile_warns.py,
# test_textfile_on_fresh_machines.py)
NOT_A_TEXT = {"E111", "E800", "E230", "E231", "W701", "W702", "W703", "W704"}
# the policy codes need a pipespec.toml, which would govern every case of the folder:
# tests/frontend/test_policies.py holds each to its exact output in a repository of its own
NOT_A_TEXT |= {"E830", "E831", "E832", "E833", "E834"}
# E810 needs two specs, E813-E815 compiled files beside them: tests/test_check_repo.py
NOT_A_TEXT |= {"E810", "E813", "E814", "E815"}
# E816 is reported by pipespec upgrade, not validate: tests/test_upgrade.py, docs/diagnostics.md
NOT_A_TEXT |= {"E816"}
FRONTEND_CODES = sorted(c for c in CODES if not c[1] == "6" and c not in NOT_A_TEXT)


def _rel(p: pathlib.Path) -> str:
    return p.relative_to(ROOT).as_posix()


def validate(path: pathlib.Path) -> tuple[int, str, str]:
    """Run the CLI from the repo root as the .out files were made."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["validate", "--color", "never", "-q", _rel(path)])
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", ok_cases(), ids=lambda p: p.stem)
def test_ok_case_is_valid(path):
    res = load_spec(str(path))
    errors = [d for d in res.diagnostics if d.is_error]
    assert not errors, "\n".join(f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in errors)
    assert res.pipeline is not None
    rc, out, err = validate(path)
    assert rc == 0 and not err


@pytest.mark.parametrize("path", ERR_CASES, ids=lambda p: p.stem)
def test_err_case_matches_golden(path, update_golden):
    rc, out, err = validate(path)
    assert not err, err
    check_golden(path.with_suffix(".out"), out, update_golden)
    has_error = re.search(r"^\S+:\d+:\d+: error\[", out, re.M) is not None
    assert rc == (1 if has_error else 0)
    assert out, "an err case must report something"


def test_there_are_enough_cases():
    assert len(ok_cases()) >= 12
    assert len(ERR_CASES) >= 45


def test_every_frontend_code_has_an_err_case():
    seen = set()
    for p in ERR_CASES:
        out = p.with_suffix(".out")
        if out.exists():
            seen |= set(re.findall(r"^\S+:\d+:\d+: (?:error|warning)\[(\w+)\]", out.read_text(encoding="utf-8"), re.M))
    missing = [c for c in FRONTEND_CODES if c not in seen]
    assert not missing, f"codes without an err case: {missing}"


def test_every_err_case_names_a_code_it_shows():
    """A case file is named for the code it is about (e101_..., w500_...): that code must appear."""
    for p in ERR_CASES:
        code = p.stem.split("_", 1)[0].upper()
        assert code in CODES, p.name
        assert f"[{code}]" in p.with_suffix(".out").read_text(encoding="utf-8"), p.name


def test_no_stray_out_files():
    for out in (CASES / "err").glob("*.out"):
        assert out.with_suffix(".yaml").exists(), f"{out.name} has no case"


def test_cycle_is_printed_in_dependency_order():
    """Each note of E400 must be true: 'x' depends on 'y' means x reads y or needs y."""
    from pipespec.frontend import check_text

    text = ("pipespec: 1\nname: c\nsteps:\n"
            "  a: {call: 'm:a', with: {i: '${{ steps.c.outputs.z }}'}, outputs: {x: file}}\n"
            "  b: {call: 'm:b', with: {i: '${{ steps.a.outputs.x }}'}, outputs: {y: file}}\n"
            "  c: {needs: [b], run: echo, outputs: {z: file}}\n")
    [d] = [d for d in check_text(text, "c.yaml").diagnostics if d.code == "E400"]
    assert d.message == "dependency cycle: a -> c -> b -> a"
    assert d.notes == ("'a' depends on 'c'", "'c' depends on 'b'", "'b' depends on 'a'")


# -- style item 8: an expression error's column is the host scalar's column plus the offset ----
HEAD = "pipespec: 1\nname: cols\nparams:\n  n: {type: int, default: 1}\nsteps:\n  a:\n"


def _expr_error(run_lines: str, code: str):
    from pipespec.frontend import check_text

    text = HEAD + run_lines
    ds = [d for d in check_text(text, "cols.yaml").diagnostics if d.code == code]
    assert ds, [(d.code, d.message) for d in check_text(text, "cols.yaml").diagnostics]
    line = text.split("\n")[ds[0].span.line - 1]
    s = ds[0].span
    return line, s.col, line[s.col - 1:s.end_col - 1] if s.end_line == s.line else None


@pytest.mark.parametrize("run", [
    "    run: echo ${{ params.nn }}\n",                        # plain
    "    run: 'echo ${{ params.nn }}'\n",                      # single-quoted
    '    run: "echo ${{ params.nn }}"\n',                      # double-quoted
    '    run: "echo \\"q\\" ${{ params.nn }}"\n',              # double-quoted with escapes before
    "    run: 'it''s ${{ params.nn }}'\n",                     # single-quoted with '' before
    "    run: |\n      echo one\n      echo ${{ params.nn }}\n",   # literal block, 2nd line
    "    run: |-\n        indented more ${{ params.nn }}\n",       # block with deeper indent
    "    env:\n      X: ${{ params.nn }}\n    run: echo\n",         # env value
    "    run: [echo, \"${{ params.nn }}\"]\n",                 # argv item in a flow sequence
])
def test_unknown_param_column_is_exact(run):
    line, col, text = _expr_error(run, "E303")
    assert text == "params.nn", (line, col)


@pytest.mark.parametrize("run, token", [
    ("    run: echo ${{ params.n + }}\n", ""),
    ("    run: 'echo ${{ params.n + }}'\n", ""),
    ("    run: |\n      echo ${{ params.n + }}\n", ""),
    ("    run: echo ${{ params.n == = 1 }}\n", "="),
    ('    run: "echo ${{ params.n ** 2 }}"\n', "*"),
])
def test_syntax_error_column_is_exact(run, token):
    line, col, text = _expr_error(run, "E300")
    assert text is not None and text.startswith(token), (line, col, text)
    if not token:  # "expected an operand after '+', found the end": between '+' and '}}'
        assert line.index("+") < col - 1 <= line.index("}}") and len(text) == 1
    else:
        assert line.index("${{") < col - 1 < line.index("}}")
