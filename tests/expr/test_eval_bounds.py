"""Expression results are bounded (issue 11, item 19): a short expression cannot build a huge
string, list or number at run time; it fails with a clear EvalError instead."""

from __future__ import annotations

import time

import pytest

from pipespec.expr import EvalError, evaluate, parse, to_text
from pipespec.expr.functions import MAX_LIST_ITEMS, MAX_TEXT_CHARS

VALUES = {"s": "x" * 1000, "big": "y" * (MAX_TEXT_CHARS - 1), "n": 2**62, "f": 1e308}


def ev(src):
    return evaluate(parse(src), lambda ref: VALUES[ref.dotted])


def _tenfold(inner: str) -> str:
    return "format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', " + inner + ")"


def test_nested_format_of_ten_levels_fails_fast():
    src = "'xxxxxxxxxx'"
    for _ in range(9):
        src = _tenfold(src)
    assert len(src) < 460                           # the 454-byte expression: 10^10 chars
    t = time.monotonic()
    with pytest.raises(EvalError, match="longer than"):
        ev(src)
    assert time.monotonic() - t < 2


@pytest.mark.parametrize("src", [
    "join([s, s], big)",
    "big + s",
    "s + big",
    "format('{0}{0}', big)",
])
def test_text_over_the_bound_fails(src):
    with pytest.raises(EvalError, match=f"longer than {MAX_TEXT_CHARS}"):
        ev(src)


def test_text_at_the_bound_is_fine():
    assert len(ev("big + 'z'")) == MAX_TEXT_CHARS


@pytest.mark.parametrize("src", ["n * 4", "n + n + n", "-n * 2 - n * 3", "0 - n - n - n",
                                 "round(f)", "9223372036854775807 + 1"])
def test_int_results_beyond_int64_fail(src):
    with pytest.raises(EvalError, match="64-bit"):
        ev(src)


@pytest.mark.parametrize("src", ["f * 10", "f + f", "0 - f - f", "f / 0.5"])
def test_float_overflow_fails(src):
    with pytest.raises(EvalError, match="too large"):
        ev(src)


def test_int_of_many_digits_never_reaches_to_text():
    src = " * ".join(["999999999999999999"] * 300)
    with pytest.raises(EvalError, match="64-bit"):
        to_text(ev(src))


def test_list_over_the_bound_fails():
    items = ", ".join(["1"] * (MAX_LIST_ITEMS + 1))
    with pytest.raises(EvalError, match="items"):
        ev(f"[{items}]")


def test_template_of_many_expressions_is_bounded_as_a_whole():
    from pipespec.expr.template import split_template

    six = "'x'"
    for _ in range(5):
        six = _tenfold(six)                          # 100000 characters each
    t = split_template(" ".join(["${{ " + six + " }}"] * 11))
    with pytest.raises(EvalError, match="longer than"):
        t.render(lambda ref: None)


def test_real_exec_of_the_nested_format_fails_with_the_bound(tmp_path):
    import contextlib
    import io

    from pipespec.cli import main

    src = "'xxxxxxxxxx'"
    for _ in range(9):
        src = _tenfold(src)
    (tmp_path / "p.yaml").write_text(
        "pipespec: 1\nname: p\nsteps:\n  a:\n    run: echo \"${{ " + src + " }}\"\n", encoding="utf-8")
    err = io.StringIO()
    t = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["exec", str(tmp_path / "p.yaml"), "--step", "a"])
    assert rc == 1 and "longer than 1000000" in err.getvalue(), err.getvalue()
    assert time.monotonic() - t < 10
