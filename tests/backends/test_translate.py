"""The expression translators of every target, through the shared base (backends/translate.py):
a refusal points at the exact node in the file whatever the scalar's style, and every function
of the language is translated or refused on every target."""

from __future__ import annotations

import pytest

from pipespec import backends
from pipespec.backends.base import CompileOptions
from pipespec.backends.translate import DIALECTS, Refused, Translator, function_support
from pipespec.expr.functions import FUNCTIONS
from pipespec.frontend import check_text

SPEC = """\
pipespec: 1
name: t
params:
  l: {type: list, items: string, default: [a]}
steps:
  s:
IF
    run: echo hi
"""

# the host scalar in each YAML style; X is the expression
STYLES = {
    "plain": "    if: ${{ X }}",
    "double-quoted": '    if: "${{ X }}"',
    "single-quoted": "    if: '${{ X }}'",
    "block": "    if: |\n      ${{ X }}",
}

# per target: an expression it refuses, and the node the caret must be under
REFUSED = {
    "kubeflow": ("join(params.l) == 'a'", "join(params.l)"),
    "github": ("len(params.l) > 0", "len(params.l)"),
}


def _compile(target: str, text: str):
    res = check_text(text, "spec.yaml")
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    return backends.get(target)().compile(res.pipeline, CompileOptions(spec_path="spec.yaml"))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("target", REFUSED)
def test_refusal_points_at_the_node_in_every_scalar_style(target, style):
    expr, node = REFUSED[target]
    if style == "single-quoted":
        expr = expr.replace("'", "''")          # YAML's escape inside single quotes
    text = SPEC.replace("IF", STYLES[style].replace("X", expr))
    res = _compile(target, text)
    errs = [d for d in res.diagnostics if d.code == "E600"]
    assert len(errs) == 1, [(d.code, d.message) for d in res.diagnostics]
    lines = text.splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if node in ln)
    col = lines[line - 1].index(node) + 1
    span = errs[0].span
    assert (span.line, span.col, span.end_line, span.end_col) == (line, col, line, col + len(node)), \
        f"{target} {style}: caret at {span.line}:{span.col}-{span.end_col}, node at {line}:{col}"


# one call of each function of the language, well typed, in a condition
CALLS = {
    "len": "len(params.l) > 0",
    "join": "join(params.l) == 'a'",
    "contains": "contains(params.l, 'a')",
    "startsWith": "startsWith(params.s, 'a')",
    "endsWith": "endsWith(params.s, 'a')",
    "format": "format('{0}!', params.s) == 'a!'",
    "min": "min(params.n, 2) > 0",
    "max": "max(params.n, 2) > 0",
    "round": "round(params.f) > 0",
}
TARGETS = ("airflow", "github", "kubeflow")


def test_every_function_has_a_call_here():
    assert set(CALLS) == set(FUNCTIONS)


def test_every_target_has_a_translator_whose_table_lists_every_function():
    for target in TARGETS:
        backends.get(target)                      # importing the backend defines its dialect
        assert set(DIALECTS[target].FUNCTIONS) == set(FUNCTIONS), target


def test_a_table_missing_a_function_is_refused_when_defined():
    with pytest.raises(TypeError, match="missing \\['round'\\]"):
        type("Partial", (Translator,), {"target": "partial-test", "FUNCTIONS": {
            n: Refused("no") for n in FUNCTIONS if n != "round"}})
    assert "partial-test" not in DIALECTS


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("target", TARGETS)
def test_every_function_is_translated_or_refused_at_the_call(target, name):
    backends.get(target)
    refused = function_support(DIALECTS[target])[name]
    expr = CALLS[name]
    text = SPEC.replace("params:\n", "params:\n  s: {type: string, default: x}\n  n: {type: int, default: 1}\n"
                                     "  f: {type: float, default: 1.5}\n")
    text = text.replace("IF", STYLES["plain"].replace("X", expr))
    res = _compile(target, text)
    errs = [d for d in res.diagnostics if d.is_error]
    if refused is None:
        assert res.ok, [(d.code, d.message) for d in errs]
        return
    assert [d.code for d in errs] == ["E600"] and refused in errs[0].message
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if expr in ln)
    call = expr[:expr.index(")") + 1]
    col = text.splitlines()[line - 1].index(call) + 1
    assert (errs[0].span.line, errs[0].span.col, errs[0].span.end_col) == (line, col, col + len(call))
