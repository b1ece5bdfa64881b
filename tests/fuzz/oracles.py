"""What must hold for ANY input, shared by the fuzzer (``fuzz.py``, outside CI) and the corpus
replay (``test_corpus.py``, in CI).

loader: ``check_text`` never raises, every diagnostic is positioned inside the file, and a
valid spec's IR builds. expr: ``parse`` raises only ``ExprSyntaxError`` (positioned inside the
text); whatever parses type-checks and evaluates raising only ``EvalError``; the same holds for
``split_template`` and ``TemplateError``.
"""

from __future__ import annotations

import pathlib

from pipespec.expr import (ANY, EvalError, ExprSyntaxError, TemplateError, evaluate, parse,
                           split_template, typecheck)
from pipespec.frontend import check_text
from pipespec.loader import YAML_LINE_BREAK

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def _inside(text: str, line: int, col: int) -> bool:
    lines = YAML_LINE_BREAK.split(text)       # lines as YAML counts them (\r, \u2028 too)
    return 1 <= line <= len(lines) and 1 <= col <= len(lines[line - 1]) + 1


def check_loader(data: bytes) -> None:
    res = check_text(data, "fuzz.yaml")
    text = res.text
    if text.startswith("\ufeff"):
        text = text[1:]
    for d in res.diagnostics:
        assert d.message, d
        assert _inside(text, d.span.line, d.span.col), (d.code, d.message, d.span)
    assert res.ok or res.diagnostics


def check_expr(data: bytes) -> None:
    source = data.decode("utf-8", "replace")
    try:
        expr = parse(source)
    except ExprSyntaxError as e:
        assert 0 <= e.start <= e.end <= len(source), (e.start, e.end, len(source))
        assert e.message
    else:
        typecheck(expr, lambda ref: ANY)
        for value in (1, "x", [1, 2], {"a": 1}, None, 2.5, True):
            try:
                evaluate(expr, lambda ref, v=value: v)
            except EvalError as e:
                assert e.message
    try:
        split_template(source)
    except TemplateError as e:
        assert 0 <= e.start <= e.end <= len(source)


ORACLES = {"loader": check_loader, "expr": check_expr}
