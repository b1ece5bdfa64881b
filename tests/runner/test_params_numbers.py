"""Parameter numbers are read as the spec's grammar reads them (issue 11, items 13 and 17):
ASCII digits only, no underscores, no nan/inf, ints within int64, floats finite; on every
entry (``-p``, ``--params-json``, ``pipespec exec``). Never an internal error (exit 70)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from pipespec.cli import main
from pipespec.frontend import check_text
from pipespec.runtime import ParamError, coerce_params

SPEC = """\
pipespec: 1
name: p
params:
  i: {type: int, default: 3}
  f: {type: float, default: 0.5, minimum: 0, maximum: 1}
  g: {type: float, default: 1.0}
  sizes: {type: list, items: int, default: [1]}
  rates: {type: list, items: float, default: [0.5]}
steps:
  s:
    run: [echo, "${{ params.i }}", "${{ params.f }}", "${{ params.g }}", "${{ params.sizes }}", "${{ params.rates }}"]
"""


@pytest.fixture(scope="module")
def pipe():
    r = check_text(SPEC, "p.yaml")
    assert r.ok, r.diagnostics
    return r.pipeline


@pytest.mark.parametrize("name,text", [
    ("i", "١٢"), ("i", "１２"), ("i", "1_0"), ("i", "²"),
    ("f", "nan"), ("f", "NaN"), ("f", "inf"), ("f", "-inf"), ("f", "Infinity"), ("f", ".inf"), ("f", ".nan"),
    ("g", "1_0.5"), ("g", "١٫٥"), ("g", "１.５"), ("g", "1e400"), ("g", "0x10"),
    ("sizes", "[١٢]"), ("sizes", "1_0,2"), ("rates", "[NaN]"), ("rates", "nan,1"), ("rates", "[Infinity]"),
    ("rates", "[1e400]"), ("sizes", "[" + "1" * 5000 + "]"),
], ids=lambda v: v if len(v) < 20 else v[:8] + f"..({len(v)})")
def test_text_outside_the_spec_grammar_is_refused(pipe, name, text):
    with pytest.raises(ParamError) as e:
        coerce_params(pipe, {name: text})
    assert f"'{name}'" in str(e.value)


@pytest.mark.parametrize("name,text,value", [
    ("i", "12", 12), ("i", "-12", -12), ("i", "+7", 7), ("i", " 5 ", 5), ("i", str(2**63 - 1), 2**63 - 1),
    ("g", "1e3", 1000.0), ("g", "-2.5", -2.5), ("g", ".5", 0.5), ("g", "7", 7.0), ("g", "1.5E-3", 0.0015),
    ("sizes", "[1, 2]", [1, 2]), ("rates", "0.25,1", [0.25, 1.0]),
])
def test_text_in_the_spec_grammar_is_read(pipe, name, text, value):
    assert coerce_params(pipe, {name: text})[name] == value


def test_nan_does_not_bypass_minimum_and_maximum(pipe):
    for v in ("nan", float("nan"), float("inf")):
        with pytest.raises(ParamError):
            coerce_params(pipe, {"f": v})


@pytest.mark.parametrize("v", [2**63, -2**63 - 1, 10**5000], ids=["2^63", "-2^63-1", "10^5000"])
def test_ints_outside_int64_are_refused(pipe, v):
    with pytest.raises(ParamError, match="64-bit"):
        coerce_params(pipe, {"i": v})


def test_int_text_of_5000_digits_is_refused(pipe):
    with pytest.raises(ParamError, match="64-bit"):
        coerce_params(pipe, {"i": "9" * 5000})


@pytest.mark.parametrize("v", [float("nan"), float("inf")])
def test_typed_non_finite_list_item_is_refused(pipe, v):
    with pytest.raises(ParamError):
        coerce_params(pipe, {"rates": [v]})


# -- the real CLI: every entry exits 2 with the reason, never 70 ----------------------------

def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue() + err.getvalue()


@pytest.fixture
def spec_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(SPEC, encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("args", [
    ["-p", "i=" + "1" * 4400], ["-p", "i=١٢"], ["-p", "f=nan"], ["-p", "g=1_0.5"],
    ["--params-json", '{"i": ' + "1" * 4400 + "}"], ["--params-json", '{"f": NaN}'],
    ["--params-json", '{"g": Infinity}'], ["--params-json", '{"g": 1e400}'],
    ["--params-json", '{"rates": [NaN]}'],
], ids=lambda a: a[0] + ":" + a[1][:24])
@pytest.mark.parametrize("command", ["run", "exec"])
def test_cli_entries_refuse_with_exit_2(spec_file, tmp_path, command, args):
    argv = (["run", spec_file, "--store", str(tmp_path / "store")] if command == "run"
            else ["exec", spec_file, "--step", "s"]) + args
    rc, text = _cli(argv)
    assert rc == 2, (rc, text)
    assert "internal error" not in text and "param" in text, text


def test_cli_params_json_in_grammar_still_runs(spec_file, tmp_path):
    rc, text = _cli(["exec", spec_file, "--step", "s", "--params-json",
                     json.dumps({"i": 2**63 - 1, "g": 1e300, "rates": [0.1]})])
    assert rc == 0, text


# -- step outputs are read by the same grammar --------------------------------------------

from pipespec import ir  # noqa: E402
from pipespec.runtime.outputs import OutputError, check_value, parse_text  # noqa: E402


def _out(t):
    return ir.Output("v", t, "", None)


@pytest.mark.parametrize("t,text", [("int", "١٢"), ("int", "1_0"), ("int", "9" * 5000), ("int", str(2**63)),
                                    ("float", "nan"), ("float", "inf"), ("float", "1_0.5"), ("float", "1e400"),
                                    ("list", "[" + "1" * 5000 + "]"), ("metrics", '{"auc": ' + "1" * 5000 + "}")])
def test_output_text_outside_the_grammar_is_an_output_error(t, text):
    with pytest.raises(OutputError):
        parse_text(_out(t), text)


@pytest.mark.parametrize("t,v", [("int", 2**63), ("int", -2**63 - 1), ("float", float("nan")), ("float", float("inf"))])
def test_returned_values_outside_the_bounds_are_an_output_error(t, v):
    with pytest.raises(OutputError):
        check_value(_out(t), v)


def test_exec_of_a_step_printing_a_5000_digit_int_fails_cleanly(tmp_path):
    spec = tmp_path / "o.yaml"
    spec.write_text("pipespec: 1\nname: o\nsteps:\n  a:\n    run: python3 -c \"print('v=' + '9' * 5000)\" >> $PIPESPEC_OUTPUT\n"
                    "    outputs: {v: int}\n", encoding="utf-8")
    rc, text = _cli(["exec", str(spec), "--step", "a"])
    assert rc == 1 and "internal error" not in text and "output 'v'" in text, text
