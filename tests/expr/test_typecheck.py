"""Type checking: every operator and function, the codes, messages and positions."""

import pytest

from pipespec.codes import CODES
from pipespec.expr import (ANY, BOOL, FLOAT, INT, MAP, NULL, PATH, STRING, Type, TypeIssue,
                           list_of, parse, typecheck)
from pipespec.expr.types import LIST, compatible, fits, unify

ENV = {
    "i": INT, "j": INT, "f": FLOAT, "s": STRING, "t": STRING, "p": PATH, "b": BOOL, "c": BOOL,
    "n": NULL, "m": MAP, "a": ANY, "li": list_of(INT), "ls": list_of(STRING), "lf": list_of(FLOAT),
    "lm": list_of(MAP), "l": LIST, "lp": list_of(PATH),
}


def resolve(ref):
    if ref.dotted in ENV:
        return ENV[ref.dotted]
    return TypeIssue("E301", f"unknown context '{ref.root}'", ref.start, ref.end)


def check(src):
    return typecheck(parse(src), resolve)


def ok(src) -> Type:
    t, issues = check(src)
    assert issues == [], issues
    return t


def bad(src, code="E302") -> TypeIssue:
    t, issues = check(src)
    assert len(issues) == 1, issues
    assert issues[0].code == code
    assert issues[0].code in CODES
    return issues[0]


# -- the lattice ----------------------------------------------------------------------------------

def test_type_rendering():
    assert str(INT) == "int" and str(list_of(INT)) == "list[int]"
    assert str(list_of(list_of(STRING))) == "list[list[string]]"
    assert str(LIST) == "list" and str(MAP) == "map" and str(ANY) == "any"
    with pytest.raises(ValueError):
        Type("number")
    with pytest.raises(ValueError):
        Type("int", INT)


def test_lattice_rules():
    assert fits(INT, FLOAT) and not fits(FLOAT, INT)
    assert fits(PATH, STRING) and fits(STRING, PATH)
    assert fits(ANY, INT) and fits(BOOL, ANY)
    assert not fits(INT, STRING) and not fits(BOOL, INT) and not fits(NULL, INT)
    assert fits(list_of(INT), list_of(FLOAT)) and not fits(list_of(STRING), list_of(INT))
    assert unify(INT, FLOAT) == FLOAT and unify(PATH, STRING) == STRING
    assert unify(INT, STRING) is None and unify(INT, ANY) == ANY
    assert unify(list_of(INT), list_of(STRING)) == list_of(ANY)
    assert compatible(NULL, INT) and not compatible(BOOL, INT)


# -- leaves ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("src, t", [
    ("1", INT), ("1.5", FLOAT), ("'x'", STRING), ("true", BOOL), ("null", NULL),
    ("[1, 2]", list_of(INT)), ("[1, 2.5]", list_of(FLOAT)), ("['a', p]", list_of(STRING)),
    ("[1, 'a']", list_of(ANY)), ("[]", list_of(ANY)), ("[[1], [2]]", list_of(list_of(INT))),
    ("[1, null]", list_of(ANY)), ("p", PATH), ("a", ANY),
])
def test_leaf_types(src, t):
    assert ok(src) == t


def test_resolver_issue_is_reported_and_becomes_any():
    t, issues = check("nope + 1")
    assert t == ANY
    assert [(i.code, i.start, i.end) for i in issues] == [("E301", 0, 4)]


# -- arithmetic -----------------------------------------------------------------------------------

@pytest.mark.parametrize("src, t", [
    ("i + j", INT), ("i + f", FLOAT), ("f + f", FLOAT), ("i - j", INT), ("i * f", FLOAT),
    ("i / j", FLOAT), ("f / i", FLOAT), ("s + t", STRING), ("s + p", STRING), ("p + p", STRING),
    ("a + i", ANY), ("a + s", ANY), ("a - i", ANY), ("a / i", FLOAT), ("-i", INT), ("-f", FLOAT),
    ("-a", ANY), ("(i + j) * 2", INT),
])
def test_arithmetic(src, t):
    assert ok(src) == t


@pytest.mark.parametrize("src, message", [
    ("i + s", "cannot add int and string"),
    ("s + i", "cannot add string and int"),
    ("b + b", "cannot add bool and bool"),
    ("li + li", "cannot add list[int] and list[int]"),
    ("a + b", "cannot add any and bool"),
    ("s - t", "cannot subtract string and string: '-' needs numbers"),
    ("i * s", "cannot multiply int and string"),
    ("i / b", "cannot divide int and bool"),
    ("-s", "cannot negate a string"),
    ("n + 1", "cannot add null and int"),
])
def test_arithmetic_errors(src, message):
    issue = bad(src)
    assert issue.message.startswith(message)
    assert (issue.start, issue.end) == (0, len(src))


def test_add_mismatch_suggests_format():
    assert "format(" in bad("s + i").help


# -- comparisons ----------------------------------------------------------------------------------

@pytest.mark.parametrize("src", [
    "i < j", "i <= f", "f > i", "s >= t", "s < p", "a < i", "a > s", "i == f", "s == p",
    "s != t", "b == c", "n == null", "s == null", "null != i", "li == li", "li == lf", "m == m",
    "a == i", "a != b", "l == li",
])
def test_comparisons(src):
    assert ok(src) == BOOL


@pytest.mark.parametrize("src, message", [
    ("i < s", "cannot compare int and string with '<': both sides must be numbers or both strings"),
    ("b > c", "cannot compare bool and bool with '>'"),
    ("li <= li", "cannot compare list[int] and list[int] with '<='"),
    ("a >= b", "cannot compare any and bool"),
    ("n < 1", "cannot compare null with '<': null can only be compared with '==' or '!='"),
    ("i == s", "cannot compare int and string with '=='"),
    ("b != i", "cannot compare bool and int with '!='"),
    ("li == ls", "cannot compare list[int] and list[string] with '=='"),
    ("m == li", "cannot compare map and list[int]"),
])
def test_comparison_errors(src, message):
    assert bad(src).message.startswith(message)


def test_chained_comparison_is_bool_against_int():
    assert bad("i < j < 3").message.startswith("cannot compare bool and int")


# -- logic ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("src", ["b && c", "b || c", "!b", "a && b", "!a", "i > 0 && s == 'x'",
                                 "!(b || c) && a"])
def test_logic(src):
    assert ok(src) == BOOL


@pytest.mark.parametrize("src, start, end, shown", [
    ("s && b", 0, 1, "string"), ("b || i", 5, 6, "int"), ("!li", 1, 3, "list[int]"),
    ("b && (i + 1)", 6, 11, "int"), ("!n", 1, 2, "null"),
])
def test_no_truthiness(src, start, end, shown):
    issue = bad(src)
    assert shown in issue.message and "bool" in issue.message
    assert (issue.start, issue.end) == (start, end)
    assert "truthiness" in issue.help and "len(x) > 0" in issue.help


def test_both_bad_operands_are_each_reported():
    _, issues = check("s || i")
    assert [(x.start, x.end) for x in issues] == [(0, 1), (5, 6)]


# -- index and member ---------------------------------------------------------------------------

@pytest.mark.parametrize("src, t", [
    ("li[0]", INT), ("ls[i]", STRING), ("li[a]", INT), ("l[0]", ANY), ("lm[0]", MAP),
    ("m['k']", ANY), ("m[s]", ANY), ("m[p]", ANY), ("a[0]", ANY), ("a['k']", ANY),
    ("lm[0].auc", ANY), ("(m).x", ANY), ("a[0].x.y", ANY),
    ("[1, 2][0]", INT),
])
def test_index_and_member(src, t):
    assert ok(src) == t


@pytest.mark.parametrize("src, message, start, end", [
    ("li['x']", "a list index must be an int, not string", 3, 6),
    ("li[1.0]", "a list index must be an int, not float", 3, 6),
    ("m[1]", "a map key must be a string, not int", 2, 3),
    ("a[b]", "an index must be an int or a string, not bool", 2, 3),
    ("s[0]", "cannot index a string", 0, 4),
    ("i[0]", "cannot index an int", 0, 4),
    ("li[0].x", "cannot read field 'x' of an int", 0, 7),
    ("(s).length", "cannot read field 'length' of a string", 1, 10),
])
def test_index_and_member_errors(src, message, start, end):
    issue = bad(src)
    assert issue.message.startswith(message)
    assert (issue.start, issue.end) == (start, end)


# -- functions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("src, t", [
    ("len(li)", INT), ("len(s)", INT), ("len(p)", INT), ("len(m)", INT), ("len(a)", INT),
    ("join(ls)", STRING), ("join(ls, '-')", STRING), ("join(li, p)", STRING), ("join(a)", STRING),
    ("contains(ls, 'x')", BOOL), ("contains(li, 1.5)", BOOL), ("contains(s, 'x')", BOOL),
    ("contains(p, s)", BOOL), ("contains(a, 1)", BOOL), ("contains(l, b)", BOOL),
    ("contains(ls, null)", BOOL),
    ("startsWith(s, 'x')", BOOL), ("endsWith(p, t)", BOOL), ("startsWith(a, s)", BOOL),
    ("format('{0}-{1}', i, li)", STRING), ("format(s)", STRING), ("format(s, 1, 2)", STRING),
    ("format('{{literal}}')", STRING),
    ("min(i, j)", INT), ("max(i, f)", FLOAT), ("min(1, 2, 3)", INT), ("max(li)", INT),
    ("min(lf)", FLOAT), ("max(l)", ANY), ("min(a)", ANY), ("max(a, 1)", ANY),
    ("round(f)", INT), ("round(i)", INT), ("round(f, 2)", FLOAT), ("round(a, a)", FLOAT),
])
def test_functions(src, t):
    assert ok(src) == t


@pytest.mark.parametrize("src, message, start, end", [
    ("len(i)", "len() takes a list, string or map, not int", 4, 5),
    ("join(s)", "join() takes a list, not string", 5, 6),
    ("join(ls, 1)", "join() separator must be a string, not int", 9, 10),
    ("contains(s, 1)", "contains() on a string looks for a string, not int", 12, 13),
    ("contains(li, 'x')", "a list[int] never contains a string", 13, 16),
    ("contains(i, 1)", "contains() takes a list or string, not int", 9, 10),
    ("startsWith(s, 1)", "startsWith() takes strings, not int", 14, 15),
    ("endsWith(li, s)", "endsWith() takes strings, not list[int]", 9, 11),
    ("format(1, 2)", "format() takes a format string first, not int", 7, 8),
    ("format('{1}', i)", "format string refers to {1} but only 1 argument follow", 7, 12),
    ("format('{x}', i)", "format string has a '{' at 0", 7, 12),
    ("format('a}b')", "format string has a lone '}' at 1", 7, 12),
    ("min(s, 1)", "min() takes numbers, not string", 4, 5),
    ("max(ls)", "max() of one argument takes a list of numbers, not list[string]", 4, 6),
    ("min(i)", "min() of one argument takes a list of numbers, not int", 4, 5),
    ("round(s)", "round() takes a number, not string", 6, 7),
    ("round(f, f)", "round() digits must be an int, not float", 9, 10),
])
def test_function_argument_errors(src, message, start, end):
    issue = bad(src)
    assert issue.message.startswith(message), issue.message
    assert (issue.start, issue.end) == (start, end)
    assert issue.help.startswith("usage: ")


@pytest.mark.parametrize("src, message, help_text", [
    ("lenght(s)", "unknown function 'lenght'", "did you mean 'len'?"),
    ("startswith(s, t)", "unknown function 'startswith'", "did you mean 'startsWith'?"),
    ("toJSON(m)", "unknown function 'toJSON'", "the functions are: contains, endsWith"),
    ("len()", "len() takes 1 argument, got 0", "usage: len(list | string | map) -> int"),
    ("len(s, t)", "len() takes 1 argument, got 2", "usage: len("),
    ("join(ls, ',', s)", "join() takes 1 to 2 arguments, got 3", "usage: join("),
    ("contains(s)", "contains() takes 2 arguments, got 1", "usage: contains("),
    ("format()", "format() takes at least 1 argument, got 0", "usage: format("),
    ("min()", "min() takes at least 1 argument, got 0", "usage: min("),
    ("round(f, 1, 2)", "round() takes 1 to 2 arguments, got 3", "usage: round("),
])
def test_unknown_function_and_arity_are_E312(src, message, help_text):
    issue = bad(src, "E312")
    assert issue.message == message
    assert issue.help.startswith(help_text)


def test_unknown_function_points_at_its_name_and_still_checks_arguments():
    t, issues = check("  lenght(s + 1)")
    assert t == ANY
    assert [(x.code, x.start, x.end) for x in issues] == [("E302", 9, 14), ("E312", 2, 8)]


def test_errors_do_not_cascade():
    t, issues = check("(i + s) * 2 > 1 && b")
    assert t == BOOL and len(issues) == 1


def test_types_table_records_every_node():
    types = {}
    expr = parse("len(ls) > i + 1.5")
    t, issues = typecheck(expr, resolve, types)
    assert t == BOOL and not issues
    assert types[expr.left] == INT and types[expr.right] == FLOAT
    assert types[expr.right.left] == INT and len(types) == 6


def test_positions_are_offsets_into_the_expression():
    src = "  steps.a.outputs.x == 1 && 'x' + 1 > 0"
    _, issues = check(src)
    (issue,) = [x for x in issues if x.code == "E302"]
    assert src[issue.start:issue.end] == "'x' + 1"
