"""Parsing: every construct, the tree it gives, precedence, and node positions."""

import pytest

from pipespec.expr import (Binary, Call, Index, ListExpr, Literal, Member, Ref, Unary, parse,
                           refs, walk)


@pytest.mark.parametrize("src, value", [
    ("0", 0), ("42", 42), ("007", 7), ("1.5", 1.5), ("0.25", 0.25), ("1e3", 1000.0),
    ("2.5E-2", 0.025), ("'hello'", "hello"), ("''", ""), ("'it''s'", "it's"),
    ("''''", "'"), ("'a \"b\" c'", 'a "b" c'), ("'}}'", "}}"), ("true", True),
    ("false", False), ("null", None), ("'${{ x }}'", "${{ x }}"),
])
def test_literals(src, value):
    node = parse(src)
    assert node == Literal(value)
    assert type(node.value) is type(value)
    assert (node.start, node.end) == (0, len(src))


def test_literal_equality_keeps_bool_and_numbers_apart():
    assert Literal(1) != Literal(True)
    assert Literal(1) != Literal(1.0)
    assert Literal(0) != Literal(False)


@pytest.mark.parametrize("src, root, path", [
    ("params.n", "params", ("n",)),
    ("steps.train.outputs.model", "steps", ("train", "outputs", "model")),
    ("item", "item", ()),
    ("run.status", "run", ("status",)),
    ("env.HOME", "env", ("HOME",)),
    ("secrets.TOKEN", "secrets", ("TOKEN",)),
    ("outputs.raw", "outputs", ("raw",)),
    ("steps.evaluate.outputs.metrics.auc", "steps", ("evaluate", "outputs", "metrics", "auc")),
    ("_x1.Y_2", "_x1", ("Y_2",)),
    ("trueish", "trueish", ()),
    ("nullable.x", "nullable", ("x",)),
])
def test_refs(src, root, path):
    node = parse(f"  {src} ")
    assert node == Ref(root, path)
    assert (node.start, node.end) == (2, 2 + len(src))
    assert node.dotted == src


def test_hyphen_reads_as_minus():
    assert parse("a-b") == Binary("-", Ref("a"), Ref("b"))
    assert parse("steps.my-step") == Binary("-", Ref("steps", ("my",)), Ref("step"))


def test_index_and_member():
    assert parse("a[0]") == Index(Ref("a"), Literal(0))
    assert parse("m['key']") == Index(Ref("m"), Literal("key"))
    node = parse("steps.t.outputs.m[0].auc")
    assert node == Member(Index(Ref("steps", ("t", "outputs", "m")), Literal(0)), "auc")
    assert (node.start, node.end) == (0, 24)
    assert (node.obj.start, node.obj.end) == (0, 20)


def test_chained_members_after_index_have_their_own_ranges():
    node = parse("x[0].a.bc")
    assert node == Member(Member(Index(Ref("x"), Literal(0)), "a"), "bc")
    assert (node.obj.start, node.obj.end) == (0, 6)
    assert (node.start, node.end) == (0, 9)


def test_member_after_paren_and_call():
    assert parse("(a).b") == Member(Ref("a"), "b")
    assert parse("f(x).y") == Member(Call("f", (Ref("x"),)), "y")
    assert parse("a[1][2]") == Index(Index(Ref("a"), Literal(1)), Literal(2))


def test_unary():
    assert parse("!a") == Unary("!", Ref("a"))
    assert parse("-1") == Unary("-", Literal(1))
    assert parse("!!a") == Unary("!", Unary("!", Ref("a")))
    assert parse("- -a") == Unary("-", Unary("-", Ref("a")))
    node = parse("  -x")
    assert (node.start, node.end) == (2, 4)


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*", "/"])
def test_every_binary_operator(op):
    node = parse(f"a {op} b")
    assert node == Binary(op, Ref("a"), Ref("b"))
    assert (node.start, node.end) == (0, 4 + len(op))


def test_calls():
    assert parse("len(x)") == Call("len", (Ref("x"),))
    assert parse("f()") == Call("f", ())
    assert parse("format('{0}', a, 1)") == Call("format", (Literal("{0}"), Ref("a"), Literal(1)))
    node = parse(" join(xs, ',') ")
    assert (node.start, node.end) == (1, 14)


def test_lists():
    assert parse("[]") == ListExpr(())
    assert parse("[1, 2, 'a']") == ListExpr((Literal(1), Literal(2), Literal("a")))
    assert parse("[[1], []]") == ListExpr((ListExpr((Literal(1),)), ListExpr(())))
    node = parse(" [1] ")
    assert (node.start, node.end) == (1, 4)


def test_parentheses_group_and_keep_inner_range():
    node = parse("(a + b) * c")
    assert node == Binary("*", Binary("+", Ref("a"), Ref("b")), Ref("c"))
    assert (node.left.start, node.left.end) == (1, 6)


@pytest.mark.parametrize("src, expected", [
    # multiplicative binds tighter than additive
    ("a + b * c", Binary("+", Ref("a"), Binary("*", Ref("b"), Ref("c")))),
    ("a * b + c", Binary("+", Binary("*", Ref("a"), Ref("b")), Ref("c"))),
    # left associativity
    ("a - b - c", Binary("-", Binary("-", Ref("a"), Ref("b")), Ref("c"))),
    ("a / b / c", Binary("/", Binary("/", Ref("a"), Ref("b")), Ref("c"))),
    # additive binds tighter than comparison, comparison tighter than equality
    ("a + 1 < b", Binary("<", Binary("+", Ref("a"), Literal(1)), Ref("b"))),
    ("a < b == c > d",
     Binary("==", Binary("<", Ref("a"), Ref("b")), Binary(">", Ref("c"), Ref("d")))),
    # equality tighter than &&, && tighter than ||
    ("a == b && c", Binary("&&", Binary("==", Ref("a"), Ref("b")), Ref("c"))),
    ("a || b && c", Binary("||", Ref("a"), Binary("&&", Ref("b"), Ref("c")))),
    ("a && b || c", Binary("||", Binary("&&", Ref("a"), Ref("b")), Ref("c"))),
    # unary binds tighter than binary, postfix tighter than unary
    ("-a * b", Binary("*", Unary("-", Ref("a")), Ref("b"))),
    ("!a && b", Binary("&&", Unary("!", Ref("a")), Ref("b"))),
    ("-a[0]", Unary("-", Index(Ref("a"), Literal(0)))),
    ("!f(x).y", Unary("!", Member(Call("f", (Ref("x"),)), "y"))),
    ("a - -b", Binary("-", Ref("a"), Unary("-", Ref("b")))),
])
def test_precedence(src, expected):
    assert parse(src) == expected


def test_whitespace_and_newlines_are_ignored():
    assert parse("\n  a\t+\r\n b  ") == Binary("+", Ref("a"), Ref("b"))


def test_walk_and_refs():
    node = parse("len(params.xs) > 0 && contains(['a', item], env.X[0])")
    kinds = [type(n).__name__ for n in walk(node)]
    assert kinds[0] == "Binary"
    assert kinds.count("Ref") == 3
    assert [r.dotted for r in refs(node)] == ["params.xs", "item", "env.X"]
    assert len(list(walk(parse("1")))) == 1


def test_nodes_are_frozen_and_hashable():
    node = parse("a + [1, 2]")
    with pytest.raises(AttributeError):
        node.op = "-"  # type: ignore[misc]
    assert {node: 1}[parse(" a+[1,2]")] == 1


def test_importing_the_package_is_light():
    import subprocess
    import sys

    code = ("import sys, pipespec.expr as e; "
            "heavy = [m for m in ('lark', 'yaml', 'jinja2', 'jsonschema') if m in sys.modules]; "
            "assert not heavy, heavy; e.parse('a + b[0]'); assert 'lark' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())


def _env():
    import os

    import pipespec

    # the child must find the same pipespec as this process, however it was made importable
    root = os.path.dirname(os.path.dirname(os.path.abspath(pipespec.__file__)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, os.environ.get("PYTHONPATH", "")])}


def test_lexers_are_compiled_once_and_shared():
    from pipespec.expr import parser

    parse("a")
    first = dict(parser._compiled)
    parse("b + 1")
    assert all(parser._compiled[n] is lx for n, lx in first.items())


def test_package_functions_survive_their_submodule_being_imported():
    """``evaluate`` and ``typecheck`` are functions of submodules of the same name: importing the
    submodule (template.py does, lazily) must not turn ``pipespec.expr.evaluate`` into the module."""
    import subprocess
    import sys

    code = ("import pipespec.expr as E, pipespec.expr.evaluate, pipespec.expr.typecheck; "
            "assert callable(E.evaluate) and callable(E.typecheck), (E.evaluate, E.typecheck); "
            "from pipespec.expr import evaluate, typecheck; assert callable(evaluate) and callable(typecheck)")
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), timeout=60)
