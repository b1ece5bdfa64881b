"""The expression translators of every target, through the shared base (backends/translate.py):
a refusal points at the exact node in the file whatever the scalar's style, and every function
of the language is translated or refused on every target."""

from __future__ import annotations

import textwrap

import pytest

from pipespec import backends
from pipespec.backends.base import CompileOptions
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
