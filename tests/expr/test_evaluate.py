"""Evaluation: every operator and function, run-time errors, and text rendering."""

import math
from pathlib import Path

import pytest

from pipespec.expr import EvalError, evaluate, parse, to_text

VALUES = {
    "i": 7, "j": 2, "f": 2.5, "s": "abc", "t": "xyz", "b": True, "c": False, "n": None,
    "li": [10, 20, 30], "ls": ["a", "b"], "lf": [1.5, 0.5], "m": {"auc": 0.9, "k": [1, 2]},
    "empty": [], "p": Path("data/x.csv"), "tup": (1, 2),
    "steps.ev.outputs.metrics": {"auc": 0.91, "f1": 0.5},
}


def look(ref):
    return VALUES[ref.dotted]


def ev(src):
    return evaluate(parse(src), look)


def fails(src) -> EvalError:
    with pytest.raises(EvalError) as info:
        ev(src)
    return info.value


@pytest.mark.parametrize("src, value", [
    # literals and lists
    ("1", 1), ("1.5", 1.5), ("'x'", "x"), ("true", True), ("null", None),
    ("[1, 'a', [i]]", [1, "a", [7]]),
    # arithmetic
    ("i + j", 9), ("i - j", 5), ("i * j", 14), ("i / j", 3.5), ("4 / 2", 2.0), ("i + f", 9.5),
    ("f * 2", 5.0), ("-i", -7), ("- -f", 2.5), ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5), ("s + t", "abcxyz"), ("p + '.bak'", "data/x.csv.bak"),
    # comparisons
    ("i > j", True), ("i <= 7", True), ("f < i", True), ("j >= 2.0", True), ("s < t", True),
    ("'b' > 'a'", True), ("i == 7.0", True), ("i != j", True), ("s == 'abc'", True),
    ("n == null", True), ("s == null", False), ("null != i", True), ("b == true", True),
    ("li == [10, 20, 30]", True), ("m == m", True), ("ls != ['a']", True),
    # no bool/number confusion in equality, even where Python would say equal
    ("b == 1", False), ("c == 0", False), ("[true] == [1]", False), ("1 == '1'", False),
    # logic
    ("b && c", False), ("b || c", True), ("!b", False), ("!c && b", True), ("c || !c", True),
    # index and member
    ("li[0]", 10), ("li[2]", 30), ("m['auc']", 0.9), ("m['k'][1]", 2), ("ls[j - 1]", "b"),
    ("steps.ev.outputs.metrics['f1']", 0.5), ("(m).auc", 0.9), ("[m][0].k[0]", 1),
    ("tup[1]", 2),
    # functions
    ("len(li)", 3), ("len(s)", 3), ("len(m)", 2), ("len(empty)", 0), ("len(p)", 10),
    ("join(ls)", "a,b"), ("join(ls, ' | ')", "a | b"),
    ("join([1, 2.0, true, null])", "1,2.0,true,"),
    ("join(empty)", ""),
    ("contains(ls, 'a')", True), ("contains(li, 20.0)", True), ("contains(s, 'bc')", True),
    ("contains([1], true)", False), ("contains(p, 'csv')", True),
    ("startsWith(s, 'ab')", True), ("startsWith(s, 'b')", False), ("endsWith(p, '.csv')", True),
    ("format('{0}-{1}-{0}', i, s)", "7-abc-7"), ("format('{{x}} {0}', f)", "{x} 2.5"),
    ("format('none')", "none"), ("format('{0}', li)", "[10,20,30]"), ("format('}}')", "}"),
    ("min(i, j)", 2), ("max(i, j, 9)", 9), ("min(li)", 10), ("max(lf)", 1.5),
    ("min(1, 2.5)", 1.0), ("max([3, 1.0])", 3.0),
    ("round(2.5)", 2), ("round(3.5)", 4), ("round(f)", 2),
    ("round(2.675, 1)", 2.7), ("round(i, 2)", 7.0),
])
def test_values(src, value):
    got = ev(src)
    assert got == value
    assert type(got) is type(value)


def test_short_circuit_skips_the_right_side():
    assert ev("c && li[99] > 0") is False
    assert ev("b || li[99] > 0") is True
    assert ev("c && undefined_thing") is False


@pytest.mark.parametrize("src, message, marked", [
    ("li[3]", "index 3 is out of range for a list of 3 items", "3"),
    ("li[0 - 1]", "index -1 is out of range", "0 - 1"),
    ("li['x']", "a list index must be an int, not string", "'x'"),
    ("li[true]", "a list index must be an int, not bool", "true"),
    ("m['nope']", "the map has no key 'nope' (keys: auc, k)", "m['nope']"),
    ("m[1]", "a map key must be a string, not int", "1"),
    ("(m).nope", "the map has no key 'nope'", "m).nope"),
    ("s[0]", "cannot index a string", "s[0]"),
    ("li[0].x", "cannot read field 'x' of an int", "li[0].x"),
    ("i / 0", "division by zero", "0"),
    ("f / 0.0", "division by zero", "0.0"),
    ("i + s", "cannot add int and string", "i + s"),
    ("b + 1", "cannot add bool and int", "b + 1"),
    ("s * 2", "cannot multiply string and int: '*' needs numbers", "s * 2"),
    ("i < s", "cannot compare int and string with '<'", "i < s"),
    ("n < 1", "cannot compare null and int with '<'", "n < 1"),
    ("-s", "cannot negate a string", "-s"),
    ("!i", "'!' needs a bool, not int", "i"),
    ("s && b", "'&&' needs a bool, not string", "s"),
    ("b && i", "'&&' needs a bool, not int", "i"),
    ("c || s", "'||' needs a bool, not string", "s"),
    ("len(i)", "len() takes a list, string or map, not int", "i"),
    ("join(s)", "join() takes a list, not string", "s"),
    ("join(ls, 1)", "separator must be a string", "1"),
    ("contains(i, 1)", "contains() takes a list or string, not int", "i"),
    ("contains(s, 1)", "looks for a string, not int", "1"),
    ("startsWith(i, 'x')", "startsWith() takes strings, not int", "i"),
    ("endsWith(s, n)", "endsWith() takes strings, not null", "n"),
    ("format(s, 1, 2) + format('{2}', 1)", "refers to {2} but only 1 argument follow", "'{2}'"),
    ("format(i)", "format() takes a format string first, not int", "i"),
    ("min(empty)", "min() of an empty list", "empty"),
    ("max(ls)", "max() takes numbers, not string", "ls"),
    ("min(i, s)", "min() takes numbers, not string", "s"),
    ("max(s)", "max() of one argument takes a list of numbers, not string", "s"),
    ("round(s)", "round() takes a number, not string", "s"),
    ("round(f, f)", "round() digits must be an int, not float", "f)"),
    ("nope(1)", "unknown function 'nope'", "nope(1)"),
    ("len(1, 2)", "len() takes 1 argument, got 2", "len(1, 2)"),
    ("missing + 1", "no value for 'missing'", "missing"),
])
def test_runtime_errors(src, message, marked):
    e = fails(src)
    assert message in e.message, e.message
    assert src[e.start:].startswith(marked) and e.end > e.start
    assert str(e) == e.message


def test_round_of_infinity_is_an_error():
    VALUES["inf"] = math.inf
    try:
        assert "cannot round" in fails("round(inf)").message
    finally:
        del VALUES["inf"]


def test_huge_int_to_float_overflow_is_an_error():
    VALUES["big"] = 10 ** 400
    try:
        assert fails("big + 0.5").message == "number too large"
    finally:
        del VALUES["big"]


def test_path_values_are_strings_at_run_time():
    assert ev("p") == "data/x.csv"
    assert ev("p == 'data/x.csv'") is True


@pytest.mark.parametrize("value, text", [
    ("x", "x"), ("", ""), (True, "true"), (False, "false"), (None, ""), (0, "0"), (-12, "-12"),
    (1.0, "1.0"), (0.1, "0.1"), (1e20, "1e+20"), (2.5e-7, "2.5e-07"), (float("inf"), "inf"),
    ([1, "a", None, True], '[1,"a",null,true]'), ({"b": 1, "a": [2.0]}, '{"a":[2.0],"b":1}'),
    ([], "[]"), ({}, "{}"), (Path("a/b"), "a/b"), ((1, 2), "[1,2]"),
])
def test_to_text(value, text):
    assert to_text(value) == text
