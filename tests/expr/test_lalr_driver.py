"""The expression parser's generated LALR tables and their driver (compiler/expr/parser.py) are
lark, without lark at run time: the committed ``_tables.py`` is what ``gen_tables`` generates
from grammar.lark today, and the driver parses every input exactly as lark does -- the same AST
(node types, values and character ranges) or the same ``ExprSyntaxError`` (message, range,
expected) -- on the grammar's test corpus and on generated expressions."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import expressions

from pipespec.expr import parser
from pipespec.expr.errors import ExprSyntaxError

ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_are_fresh():
    from pipespec.expr import gen_tables

    assert gen_tables.TABLES.read_text("utf-8") == gen_tables.generate(), (
        "compiler/expr/_tables.py is stale: run python -m pipespec.expr.gen_tables")


@lru_cache(maxsize=1)
def _lark():
    """lark's own LALR parser and lark's Transformer over the same rule callbacks (ToAst)."""
    from lark import Transformer
    from lark.lexer import Token as LarkToken

    from pipespec.expr import gen_tables
    from pipespec.expr._transform import ToAst, Token

    def ours(children):
        return [Token(c.type, str(c), c.start_pos, c.end_pos) if isinstance(c, LarkToken) else c for c in children]

    to_ast = ToAst()
    methods = {name: (lambda f: lambda self, children: f(ours(children)))(getattr(to_ast, name))
               for name in gen_tables.CALLBACKS}
    return gen_tables.build_lark(), type("LarkToAst", (Transformer,), methods)()


def _by_lark(source: str):
    """What the parser did before the driver: lark's parse and transform, its errors explained
    by the same _explain (lark's exceptions carry the same fields)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken, VisitError

    from pipespec.expr._transform import Token

    lark_parser, transformer = _lark()
    try:
        return transformer.transform(lark_parser.parse(source))
    except UnexpectedCharacters as e:
        return parser._explain(source, parser.UnexpectedCharacters(e.pos_in_stream, e.allowed))
    except UnexpectedToken as e:
        t = e.token
        return parser._explain(source, parser.UnexpectedToken(Token(t.type, str(t), t.start_pos, t.end_pos),
                                                              e.expected))
    except VisitError as e:
        if isinstance(e.orig_exc, ExprSyntaxError):
            return e.orig_exc
        return ExprSyntaxError(f"cannot read expression: {e.orig_exc}", 0, len(source))


def _by_driver(source: str):
    try:
        return parser._run(source)
    except (parser.UnexpectedCharacters, parser.UnexpectedToken) as e:
        return parser._explain(source, e)
    except ExprSyntaxError as e:
        return e


def _key(result):
    if isinstance(result, ExprSyntaxError):
        return ("error", result.message, result.start, result.end, result.expected)
    return ("ast", repr(result))   # dataclass reprs: node types, values and ranges


def _same(source: str) -> None:
    if not source.strip():
        return   # both refuse a blank expression before parsing (parser._parse_cached)
    assert _key(_by_driver(source)) == _key(_by_lark(source)), source


def _corpus() -> list[str]:
    """Every expression in the repository's specs and test cases, and the strings the parser
    tests feed it (the grammar's test corpus)."""
    texts = set()
    for path in [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("tests/cases/**/*.yaml"), *ROOT.glob("docs/*.md")]:
        texts.update(m.group(1) for m in re.finditer(r"\$\{\{(.*?)\}\}", path.read_text("utf-8", errors="replace")))
    for path in (ROOT / "tests" / "expr").glob("test_*.py"):
        for m in re.finditer(r'(?:parse|error|_err|syntax_error)\(\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')',
                             path.read_text("utf-8")):
            texts.add(eval(m.group(1)))   # a string literal of our own tests
    return sorted(texts)


def test_corpus_parses_exactly_as_lark():
    corpus = _corpus()
    assert len(corpus) > 100
    for source in corpus:
        _same(source)


def test_error_paths_parse_exactly_as_lark():
    for source in ["(", "'", "a..", "@", "[", "a[", "f(", "1e", "1e+", "..", "a.b.", "`x`", "a 1", "1 a",
                   "a = b", "a & b", "a | b", '"x"', "'it''s", "x.true", "true.x", "f.g(1)", "a and b",
                   "not a", "a +", "+", ")", "]", "a)", "(a]", "[a)", "f(1,)", "[,]", "a.1", "1.a", "1..2",
                   "-", "!!a", "a[0", "a(1)", "format('{}', a", "1" * 5000, "(" * 300 + "1" + ")" * 300,
                   "[" * 150 + "]" * 150, " \t\n", "a\n+\n", "true.x + (", "true.x + null.y"]:
        _same(source)


def test_nesting_is_bounded_without_recursion():
    n = parser.MAX_DEPTH - 1     # n parentheses and the literal inside: MAX_DEPTH tree levels
    ok = "(" * n + "1" + ")" * n
    assert parser.parse(ok) == parser.parse("1")
    deep = "-" * (parser.MAX_DEPTH + 1) + "1"
    try:
        parser.parse(deep)
        raise AssertionError("a tree deeper than MAX_DEPTH parsed")
    except ExprSyntaxError as e:
        assert e.message == "expression is nested too deeply"
    # a syntax error anywhere is reported before the depth, as lark reports it before transforming
    try:
        parser.parse(deep + " +")
    except ExprSyntaxError as e:
        assert e.message.startswith("expected an operand"), e.message


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_generated_expressions_parse_exactly_as_lark(source):
    _same(source)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab1.0'()[]+-*/!=<>&|, _\n\"{}$e", max_size=30))
def test_character_soup_parses_exactly_as_lark(source):
    _same(source)
