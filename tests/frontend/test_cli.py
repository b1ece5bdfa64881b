"""``pipespec validate`` as a user meets it: exit codes, formats, --strict, several files, and
never a traceback, whatever the input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys

import pytest

from support import CASES, ROOT
from pipespec.cli import main

OK = CASES / "ok" / "minimal.yaml"
BAD = CASES / "err" / "e303_unknown_param.yaml"
WARN = CASES / "err" / "w501_unused_param.yaml"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", *map(str, argv)])
    return rc, out.getvalue(), err.getvalue()


def test_valid_file_exits_0():
    rc, out, err = run(OK)
    assert rc == 0 and out == "" and "all valid" in err


def test_invalid_file_exits_1():
    rc, out, err = run(BAD, "--color", "never")
    assert rc == 1 and "error[E303]" in out and "1 invalid" in err


def test_warnings_only_exits_0_and_strict_makes_it_1():
    rc, out, _ = run(WARN, "--color", "never")
    assert rc == 0 and "warning[W501]" in out
    rc, out, _ = run(WARN, "--color", "never", "--strict")
    assert rc == 1 and "error[W501]" in out


@pytest.mark.parametrize("argv", [
    ["no/such/file.yaml"],
    [str(CASES)],                                  # a directory
    [str(OK), "--format", "xml"],                  # bad flag value
    [str(OK), "--no-such-flag"],
    [],                                            # no file at all
])
def test_usage_errors_exit_2(argv):
    rc, out, err = run(*argv)
    assert rc == 2 and out == "" and err
    assert "Traceback" not in err


def test_missing_file_message_names_the_file():
    rc, _, err = run("no/such/file.yaml")
    assert err.strip() == "pipespec validate: error: no/such/file.yaml: no such file"


def test_json_format_has_positions_and_codes():
    rc, out, _ = run(BAD, "--format", "json")
    data = json.loads(out)
    assert rc == 1 and data
    for d in data:
        assert {"file", "line", "col", "end_line", "end_col", "code", "severity", "message"} <= set(d)
    e = next(d for d in data if d["code"] == "E303")
    assert (e["line"], e["col"]) == (7, 39) and e["file"] == str(BAD)


def test_json_of_a_valid_file_is_an_empty_list():
    rc, out, _ = run(OK, "--format", "json")
    assert rc == 0 and json.loads(out) == []


def test_github_format_lines_are_workflow_commands():
    rc, out, _ = run(BAD, "--format", "github")
    lines = out.splitlines()
    assert rc == 1 and lines
    for ln in lines:
        assert re.match(r"^::(error|warning) file=[^,]+,line=\d+,col=\d+,endLine=\d+,endColumn=\d+,title=[^:]+::.+", ln), ln
    assert any(ln.startswith(f"::error file={BAD},line=7,col=39,") for ln in lines)


def test_github_format_escapes_newlines_and_percent():
    from pipespec.diagnostics import Diagnostic, SourceCache, render_github
    from pipespec.span import Span

    d = Diagnostic("E203", "50% done\nnext", Span("a,b:c.yaml", 1, 2, 1, 3))
    line = render_github([d], SourceCache())
    assert line.count("\n") == 1
    assert "file=a%2Cb%3Ac.yaml" in line and "50%25 done%0Anext" in line


def test_several_files_in_one_pass_report_all_of_them():
    other = CASES / "err" / "e305_unknown_output.yaml"
    rc, out, err = run(BAD, OK, other, WARN, "--color", "never")
    assert rc == 1
    for f in (BAD, other, WARN):
        assert f"{f}:" in out
    assert "checked 4 files: 2 invalid" in err


def test_quiet_drops_the_summary():
    rc, out, err = run(OK, "-q")
    assert rc == 0 and err == ""


def test_color_always_colours_and_never_does_not():
    _, out, _ = run(BAD, "--color", "always")
    assert "\x1b[" in out
    _, out, _ = run(BAD, "--color", "never")
    assert "\x1b[" not in out


NASTY = {
    "empty.yaml": b"",
    "nul.yaml": b"pipespec: 1\x00\n",
    "latin1.yaml": b"name: caf\xe9\n",
    "bom.yaml": "\ufeffpipespec: 1\nname: bom\nsteps:\n  a:\n    run: echo\n".encode(),
    "list.yaml": b"- 1\n- 2\n",
    "scalar.yaml": b"just text\n",
    "null.yaml": b"~\n",
    "deep.yaml": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deepmap.yaml": b"".join(b" " * i + b"k:\n" for i in range(1500)),
    "bomb.yaml": b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                 b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                 b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    "recursive.yaml": b"a: &a\n  b: *a\n",
    "python_tag.yaml": b"!!python/object/apply:os.system ['echo pwned']\n",
    "tag_key.yaml": b"? !!python/name:os.system\n: 1\n",
    "control.yaml": b"pipespec: 1\nname: \x07bell\n",
    "crlf.yaml": b"pipespec: 1\r\nname: crlf\r\nsteps:\r\n  a:\r\n    run: echo ${{ params.x }}\r\n",
    "tabs.yaml": b"pipespec: 1\nsteps:\n\ta:\n\t\trun: x\n",
    "flow.yaml": b"pipespec: 1\nname: f\nsteps: {a: {run: ${{ params.x }}}}\n",
    "weird_expr.yaml": "pipespec: 1\nname: w\nsteps:\n  a:\n    run: \"${{ '\\u00e9' + [1][0] }} ${{ steps. }} ${{ a[ }} ${{ ''' }}\"\n".encode(),
    "huge_int.yaml": b"pipespec: 1\nname: h\nsteps:\n  a:\n    run: echo\n    timeout: 99999999999999999999999999\n    retries: 1e400\n",
    "anchor_everywhere.yaml": b"pipespec: &v 1\nname: &n x\nsteps: &s\n  a: &a {run: *n}\n  b: *a\n",
    "unicode_names.yaml": "pipespec: 1\nname: x\nsteps:\n  шаг:\n    run: echo\n  a:\n    needs: [шаг]\n    run: \"${{ steps.шаг.outputs.x }}\"\n".encode(),
    "nonmap_step.yaml": b"pipespec: 1\nname: x\nsteps:\n  a: [1, 2]\n  b: 3\n  c: ~\nfinally: [x]\nparams: {p: 3}\nsecrets: [a]\n",
    "expr_in_keys.yaml": b"pipespec: 1\nname: x\nsteps:\n  a:\n    run: echo\n    env:\n      \"${{ params.x }}\": y\n    with:\n      \"${{\": 1\n",
}


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "pipespec", "validate", *argv], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


@pytest.fixture(scope="module")
def nasty_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("nasty")
    for name, data in NASTY.items():
        (d / name).write_bytes(data)
    return [str(d / n) for n in NASTY]


@pytest.mark.parametrize("name", list(NASTY))
def test_never_a_traceback_on_a_nasty_input(name, nasty_files):
    [p] = [f for f in nasty_files if f.endswith("/" + name)]
    r = _cli(p)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 1), f"exit {r.returncode}\n{r.stderr}"


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_never_a_traceback_on_all_nasty_inputs_at_once(fmt, nasty_files):
    r = _cli("--format", fmt, *nasty_files)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1
    if fmt == "json":
        files = {d["file"] for d in json.loads(r.stdout)}
        assert len(files) >= len(NASTY) - 2   # bom.yaml is valid; crlf.yaml has one error
