"""Numbers, durations, commands and control characters that no target can hold are refused at
validate time with a positioned diagnostic (issue 11, items 2 and 13): never an internal error
(exit 70) in validate, ir or compile."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from pipespec.cli import main

TARGETS = ("airflow", "kubeflow", "github")


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue() + err.getvalue()


def _spec(tmp_path, text: str):
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def _refused_everywhere(path: str, code: str, line: int) -> str:
    """validate, ir and compile (every target) exit 1 with ``code`` at ``line``."""
    seen = ""
    for argv in (["validate", "--color", "never", "-q", path], ["ir", path],
                 *(["compile", path, "--target", t] for t in TARGETS)):
        rc, text = _cli(argv)
        assert rc == 1, (argv, rc, text)
        assert "internal error" not in text, text
        assert re.search(rf"p\.yaml:{line}:\d+: error\[{code}\]", text), (argv, text)
        seen = text
    return seen


_INT_SPEC = """\
pipespec: 1
name: t
params:
  n: {{type: int, default: {v}}}
steps:
  a:
    run: echo ${{{{ params.n }}}}
"""


def test_int_of_more_than_4300_digits_is_refused(tmp_path):
    text = _refused_everywhere(_spec(tmp_path, _INT_SPEC.format(v="1" * 4400)), "E210", 4)
    assert "4400 digits" in text


def test_4000_digit_hex_default_is_refused(tmp_path):
    _refused_everywhere(_spec(tmp_path, _INT_SPEC.format(v="0x" + "f" * 4000)), "E210", 4)


def test_400_digit_int_default_is_refused_before_kubeflow(tmp_path):
    _refused_everywhere(_spec(tmp_path, _INT_SPEC.format(v="1" * 400)), "E210", 4)


@pytest.mark.parametrize("v", [str(2**63), str(-2**63 - 1), "0x8000000000000000", "0o1000000000000000000000"])
def test_ints_beyond_int64_are_refused(tmp_path, v):
    _refused_everywhere(_spec(tmp_path, _INT_SPEC.format(v=v)), "E210", 4)


@pytest.mark.parametrize("v", [str(2**63 - 1), str(-2**63)])
def test_int64_bounds_themselves_are_accepted(tmp_path, v):
    rc, text = _cli(["validate", "-q", _spec(tmp_path, _INT_SPEC.format(v=v))])
    assert rc == 0, text


def test_explicit_int_tag_of_many_digits_is_refused(tmp_path):
    _refused_everywhere(_spec(tmp_path, _INT_SPEC.format(v="!!int " + "9" * 5000)), "E210", 4)


def test_float_literal_that_overflows_is_refused(tmp_path):
    spec = _INT_SPEC.replace("type: int", "type: float").format(v="1e400")
    _refused_everywhere(_spec(tmp_path, spec), "E210", 4)


def test_400_digit_timeout_is_refused(tmp_path):
    spec = "pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo hi\n    timeout: " + "9" * 400 + "\n"
    _refused_everywhere(_spec(tmp_path, spec), "E210", 6)


@pytest.mark.parametrize("v", ["99999999999999999999999d", "31d", str(31 * 86400)])
def test_timeout_beyond_the_bound_is_refused(tmp_path, v):
    spec = "pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo hi\n    timeout: " + v + "\n"
    _refused_everywhere(_spec(tmp_path, spec), "E211", 6)


def test_thirty_day_timeout_is_accepted(tmp_path):
    spec = "pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo hi\n    timeout: 30d\n"
    rc, text = _cli(["validate", "-q", _spec(tmp_path, spec)])
    assert rc == 0, text


def test_huge_backoff_and_max_delay_are_refused(tmp_path):
    spec = ("pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo hi\n    timeout: 1h\n"
            "    retries: {limit: 5, backoff: 1e308, max_delay: 99999999999999999999999d}\n")
    text = _refused_everywhere(_spec(tmp_path, spec), "E211", 7)
    assert "error[E203]" in text  # backoff above its maximum


def test_defaults_retries_delay_beyond_the_bound_is_refused(tmp_path):
    spec = ("pipespec: 1\nname: t\ndefaults:\n  retries: {limit: 1, delay: 999999999d}\n"
            "steps:\n  a:\n    run: echo hi\n")
    _refused_everywhere(_spec(tmp_path, spec), "E211", 4)


def test_memory_beyond_int64_bytes_is_refused(tmp_path):
    spec = ("pipespec: 1\nname: t\nsteps:\n  a:\n    run: echo hi\n"
            "    resources: {memory: 99999999999Ti}\n")
    _refused_everywhere(_spec(tmp_path, spec), "E212", 6)


def test_unclosed_quote_in_target_pipespec_command_is_refused(tmp_path):
    spec = ("pipespec: 1\nname: t\ntargets:\n  airflow:\n    pipespec: \"pipespec '\"\n"
            "steps:\n  a:\n    run: echo hi\n")
    text = _refused_everywhere(_spec(tmp_path, spec), "E213", 5)
    assert "No closing quotation" not in text or "E213" in text


@pytest.mark.parametrize("target", TARGETS)
def test_empty_target_pipespec_command_is_refused(tmp_path, target):
    spec = (f"pipespec: 1\nname: t\ntargets:\n  {target}:\n    pipespec: \"  \"\n"
            "steps:\n  a:\n    run: echo hi\n")
    rc, text = _cli(["validate", "--color", "never", "-q", _spec(tmp_path, spec)])
    assert rc == 1 and "error[E213]" in text, text


# -- item 2, the spec side: control characters ---------------------------------------------

_STR_SPEC = 'pipespec: 1\nname: t\nparams:\n  b: {{type: string, default: "{v}"}}\nsteps:\n  a:\n    run: echo ${{{{ params.b }}}}\n'


@pytest.mark.parametrize("esc", ["\\0", "\\x00", "\\u0000", "\\U00000000"])
def test_control_character_in_a_string_is_refused_at_its_position(tmp_path, esc):
    path = _spec(tmp_path, _STR_SPEC.format(v="tr" + esc + "ue"))
    text = _refused_everywhere(path, "E110", 4)
    col = int(re.search(r"p\.yaml:4:(\d+): error\[E110\]", text).group(1))
    assert col == len('  b: {type: string, default: "tr') + 1, text


def test_control_character_in_run_and_key_are_refused(tmp_path):
    spec = 'pipespec: 1\nname: t\nsteps:\n  a:\n    run: "echo \\0"\n    env: {"A\\x00": x}\n'
    rc, text = _cli(["validate", "--color", "never", "-q", _spec(tmp_path, spec)])
    assert rc == 1
    assert re.search(r"p\.yaml:5:\d+: error\[E110\]", text) and re.search(r"p\.yaml:6:\d+: error\[E110\]", text), text


def test_run_with_nul_in_spec_does_not_crash(tmp_path):
    path = _spec(tmp_path, _STR_SPEC.format(v="tr\\0ue"))
    rc, text = _cli(["run", path, "--store", str(tmp_path / "store")])
    assert rc == 1 and "internal error" not in text and "E110" in text, text


@pytest.mark.parametrize("esc", ["\\t", "\\n", "\\r", "\\x85", "\\u00e9", "\\x01", "\\e", "\\x0b", "\\x7f"])
def test_other_escapes_are_accepted(tmp_path, esc):
    # they reach a process intact, and every target's files escape them (tests/backends)
    rc, text = _cli(["validate", "-q", _spec(tmp_path, _STR_SPEC.format(v="a" + esc + "b"))])
    assert rc == 0, text
