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
    [str(OK), "--format", "xml"],                  # bad flag value
    [str(OK), "--no-such-flag"],
    [],                                            # no file at all
])
def test_usage_errors_exit_2(argv):
    rc, out, err = run(*argv)
    assert rc == 2 and out == "" and err
    assert "Traceback" not in err


def test_a_missing_file_is_a_diagnostic_and_the_others_are_still_checked():
    rc, out, err = run(BAD, "no/such/file.yaml", OK, "--color", "never")
    assert rc == 1
    assert "no/such/file.yaml:1:1: error[E111]: cannot read the file: no such file\n" in out
    assert "error[E303]" in out                        # the file before it was checked
    assert "checked 3 files: 2 invalid" in err         # and the one after it too
    assert "Traceback" not in err


def test_an_unreadable_file_is_named_by_its_path(tmp_path):
    rc, out, _ = run(tmp_path / "nope.yml", "--color", "never")
    assert rc == 1 and f"{tmp_path / 'nope.yml'}:1:1: error[E111]: cannot read the file: no such file" in out


def _tree(root):
    """A project with specs at several depths, files that are not specs, and hidden folders."""
    (root / "teams" / "a").mkdir(parents=True)
    (root / "teams" / "b" / "nested").mkdir(parents=True)
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    ok = OK.read_text()
    (root / "teams" / "a" / "pipeline.yaml").write_text(ok)
    (root / "teams" / "b" / "nested" / "train.yml").write_text(ok.replace("name: minimal", "name: train"))  # E810
    (root / "teams" / "b" / "broken.yaml").write_text(BAD.read_text())
    (root / "teams" / "b" / "params.yaml").write_text("lr: 0.1\nepochs: 3\n")       # not a spec
    (root / "teams" / "b" / "notes.txt").write_text("pipespec: 1\n")                # not YAML
    (root / ".venv" / "lib" / "spec.yaml").write_text(BAD.read_text())              # hidden: skipped
    (root / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    return root


def test_a_folder_checks_every_spec_inside_it_recursively(tmp_path):
    root = _tree(tmp_path)
    rc, out, err = run(root, "--format", "json")
    doc = json.loads(out)
    files = [f["file"] for f in doc["files"]]
    assert files == [str(root / "teams" / "a" / "pipeline.yaml"), str(root / "teams" / "b" / "broken.yaml"),
                     str(root / "teams" / "b" / "nested" / "train.yml")]
    assert rc == 1 and doc["summary"]["files"] == 3 and doc["summary"]["invalid"] == 1
    assert {d["file"] for d in doc["diagnostics"]} == {str(root / "teams" / "b" / "broken.yaml")}


def test_a_folder_without_a_spec_is_a_usage_error(tmp_path):
    (tmp_path / "params.yaml").write_text("a: 1\n")
    rc, out, err = run(tmp_path)
    assert rc == 2 and out == ""
    assert err.strip() == (f"pipespec validate: error: {tmp_path}: no pipeline spec inside "
                           "(a .yaml or .yml file with a top-level 'pipespec:' key)")


def _output_schema():
    return json.loads((ROOT / "schemas" / "validate-output.v1.schema.json").read_text())


def test_json_format_is_a_versioned_object_held_to_its_schema():
    import jsonschema

    rc, out, _ = run(BAD, WARN, "no/such/file.yaml", "--format", "json")
    doc = json.loads(out)
    jsonschema.Draft202012Validator(_output_schema()).validate(doc)
    assert rc == 1 and doc["version"] == 1 and doc["tool"]["name"] == "pipespec"
    assert [f["file"] for f in doc["files"]] == [str(BAD), str(WARN), "no/such/file.yaml"]
    by_file = {f["file"]: f for f in doc["files"]}
    assert by_file[str(WARN)] == {"file": str(WARN), "valid": True, "errors": 0, "warnings": 1}
    assert by_file["no/such/file.yaml"]["valid"] is False
    assert doc["summary"] == {"files": 3, "invalid": 2, "errors": sum(f["errors"] for f in doc["files"]),
                              "warnings": sum(f["warnings"] for f in doc["files"])}
    assert doc["summary"]["errors"] == sum(d["severity"] == "error" for d in doc["diagnostics"])
    assert doc["summary"]["warnings"] == sum(d["severity"] == "warning" for d in doc["diagnostics"]) >= 1
    for d in doc["diagnostics"]:
        assert {"file", "line", "col", "end_line", "end_col", "code", "severity", "message"} <= set(d)
    e = next(d for d in doc["diagnostics"] if d["code"] == "E303")
    assert (e["line"], e["col"]) == (7, 39) and e["file"] == str(BAD)


def test_json_of_a_valid_file_has_no_diagnostics():
    import jsonschema

    rc, out, _ = run(OK, "--format", "json")
    doc = json.loads(out)
    jsonschema.Draft202012Validator(_output_schema()).validate(doc)
    assert rc == 0 and doc["diagnostics"] == [] and doc["summary"] == {"files": 1, "invalid": 0, "errors": 0,
                                                                       "warnings": 0}


def test_the_output_schema_is_a_valid_schema_that_rejects_the_old_bare_list():
    import jsonschema

    schema = _output_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert not jsonschema.Draft202012Validator(schema).is_valid([])


def test_a_position_past_the_last_line_shows_the_end_of_the_file(tmp_path):
    f = tmp_path / "eof.yaml"
    f.write_text("pipespec: 1\nname: x\nsteps: {a: [\n")
    rc, out, err = run(f, "--color", "never")
    assert rc == 1
    assert out == (f"{f}:4:1: error[E100]: did not find expected node content (while parsing a flow node)\n"
                   "  |\n"
                   "4 | \n"
                   "  | ^ end of file\n")


PORTABILITY = """\
pipespec: 1
name: portable
params:
  a: {type: int, default: 1}
  b: {type: int, default: 2}
steps:
  s:
    if: ${{ max(params.a, params.b) > 1 }}
    run: echo hi
"""


def test_validate_target_reports_what_the_target_cannot_express(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(PORTABILITY)
    assert run(f)[0] == 0                                            # the language allows it
    rc, out, err = run(f, "--target", "kubeflow", "--color", "never")
    assert rc == 1 and "error[E600]: kubeflow:" in out and "max" in out
    assert f"{f}:8:" in out                                          # at the if:, as compile says
    rc, out, err = run(f, "--target", "airflow", "--color", "never")
    assert rc == 0 and "error" not in out                            # Airflow translates max()
    rc, out, err = run(f, "--target", "github", "--target", "kubeflow", "--color", "never")
    assert rc == 1 and "error[E600]: github:" in out and "error[E600]: kubeflow:" in out
    rc, out, err = run(f, "--target", "nosuch")
    assert rc == 2 and "unknown target 'nosuch'" in err


def test_validate_target_says_the_same_as_compile(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(PORTABILITY)
    _, out, _ = run(f, "--target", "kubeflow", "--color", "never", "-q")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(["compile", str(f), "--target", "kubeflow"])
    assert rc == 1 and err.getvalue() == out


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


def _cli(*argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "pipespec", "validate", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


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
        files = {d["file"] for d in json.loads(r.stdout)["diagnostics"]}
        assert len(files) >= len(NASTY) - 2   # bom.yaml is valid; crlf.yaml has one error


def test_a_fifo_is_refused_and_never_read(tmp_path):
    """Reading a FIFO blocks until a writer comes: a spec path that is one must be refused at
    once (found: `pipespec validate fifo.yaml` hung), here and inside a folder."""
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    r = _cli(str(fifo), "--color", "never", timeout=20)
    assert r.returncode == 1, r.stderr
    assert f"{fifo}:1:1: error[E111]: cannot read the file: a FIFO, not a regular file" in r.stdout
    (tmp_path / "ok.yaml").write_text(OK.read_text())
    r = _cli(str(tmp_path), "--color", "never", timeout=20)
    assert r.returncode == 0 and "checked 1 file: all valid" in r.stderr     # the FIFO is not a spec file
