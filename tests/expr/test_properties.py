"""Properties over generated input: the parser only ever raises its own error, and the
evaluator and checker agree with Python's arithmetic on well-typed expressions."""

import ast
import math
import operator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipespec.expr import (ANY, EvalError, ExprSyntaxError, TemplateError, parse,
                           split_template, typecheck, evaluate)

EXPR_CHARS = "ab1.0'()[]+-*/!=<>&|, _\n\"{}$e"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=40), st.text(alphabet=EXPR_CHARS, max_size=40)))
def test_parse_only_raises_its_own_error(source):
    try:
        expr = parse(source)
    except ExprSyntaxError as e:
        assert 0 <= e.start <= e.end <= len(source)
        assert e.message
        return
    # whatever parses can be checked, and evaluated with only EvalError as a failure
    typecheck(expr, lambda ref: ANY)
    try:
        evaluate(expr, lambda ref: 1)
    except EvalError as e:
        assert e.message


@settings(max_examples=300)
@given(st.text(alphabet="ab '${}+x", max_size=40))
def test_split_template_only_raises_template_error(text):
    try:
        t = split_template(text)
    except TemplateError as e:
        assert e.code in ("E300", "E314")
        assert 0 <= e.start <= e.end <= len(text)
        return
    rebuilt = "".join(p if isinstance(p, str) else "${{" + p.source + "}}" for p in t.parts)
    assert rebuilt == text


# -- well-typed arithmetic: the same text means the same thing in Python ------------------------

numbers = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False).map(repr),
)


def arithmetic(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}")
    return st.one_of(binary, children.map(lambda s: f"({s})"), children.map(lambda s: f"-{s}"))


arith = st.recursive(numbers, arithmetic, max_leaves=12)


class OutOfBounds(Exception):
    pass


def python_value(source):
    # The oracle: the generated text is digits, '.', 'e', '+-*/' and parentheses only, whose
    # meaning Python shares (same precedence and associativity, true division). Every
    # intermediate result must be what every target holds (docs/spec.md "Bounds"): an int in
    # int64, a finite float; outside, the evaluator reports an error.
    def walk(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return bounded(-walk(node.operand))
        ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
        return bounded(ops[type(node.op)](walk(node.left), walk(node.right)))

    def bounded(v):
        if isinstance(v, int) and not -2**63 <= v < 2**63 or isinstance(v, float) and not math.isfinite(v):
            raise OutOfBounds
        return v

    tree = ast.parse(source, mode="eval")
    for node in ast.walk(tree):      # comparisons and logic: their arithmetic operands
        if isinstance(node, ast.BinOp) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            walk(node)
    return eval(compile(source, "<generated>", "eval"), {"__builtins__": {}})  # noqa: S307


@settings(max_examples=400)
@given(arith)
def test_arithmetic_matches_python(source):
    expr = parse(source)
    t, issues = typecheck(expr, lambda ref: ANY)
    assert issues == []
    try:
        expected = python_value(source)
    except ZeroDivisionError:
        try:
            evaluate(expr, lambda ref: None)
        except EvalError as e:
            assert e.message == "division by zero"
            return
        raise AssertionError("division by zero was not reported")
    except (OverflowError, OutOfBounds):
        try:
            evaluate(expr, lambda ref: None)
        except EvalError as e:
            assert "64-bit" in e.message or "too large" in e.message, e.message
            return
        raise AssertionError("a result out of bounds was not reported")
    got = evaluate(expr, lambda ref: None)
    assert got == expected
    assert type(got) is type(expected)
    assert t.kind == type(got).__name__          # the checker's type is the value's type


comparisons = st.tuples(arith, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), arith).map(
    lambda t: (f"{t[0]} {t[1]} {t[2]}", f"{t[0]} {t[1]} {t[2]}"))


def logic(children):
    both = st.tuples(children, st.sampled_from([("&&", "and"), ("||", "or")]), children)
    return st.one_of(
        both.map(lambda t: (f"({t[0][0]}) {t[1][0]} ({t[2][0]})",
                            f"({t[0][1]}) {t[1][1]} ({t[2][1]})")),
        children.map(lambda c: (f"!({c[0]})", f"not ({c[1]})")),
    )


@settings(max_examples=300)
@given(st.recursive(comparisons, logic, max_leaves=6))
def test_logic_matches_python(pair):
    ours, theirs = pair
    expr = parse(ours)
    t, issues = typecheck(expr, lambda ref: ANY)
    assert issues == [] and str(t) == "bool"
    try:
        expected = python_value(theirs)
    except (ZeroDivisionError, OverflowError):
        return
    except OutOfBounds:   # maybe in an operand that short-circuiting skips: then it has a value
        try:
            evaluate(expr, lambda ref: None)
        except EvalError as e:
            assert "64-bit" in e.message or "too large" in e.message, e.message
        return
    # && and || short-circuit exactly as Python's and/or, so no division Python skipped is done
    assert evaluate(expr, lambda ref: None) is expected
