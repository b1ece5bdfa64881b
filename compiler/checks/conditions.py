"""if: must be a boolean: a literal true/false, or one whole ${{ }} expression of type bool."""

from __future__ import annotations

from ..syntax import ScalarNode


def check(ctx) -> None:
    sites = {id(s.node): s for s in ctx.analysis.sites if s.field == "if"}
    for st in ctx.raw.all_steps:
        node = st.condition
        if node is None or not isinstance(node, ScalarNode):
            continue
        if not isinstance(node.value, str):
            continue  # true/false are fine; numbers and null are the shape check's (E200)
        site = sites.get(id(node))
        if site is None:
            ctx.diags.add("E307", f"if: must be a boolean expression, not the text {node.value!r}", node.span,
                          help="write the condition inside ${{ }}, e.g. if: ${{ params.deploy }}")
            continue
        if not site.ok or site.template is None:
            continue
        if not site.template.whole:
            ctx.diags.add("E307", "if: mixes text and ${{ }}: the result is text, not a boolean", node.span,
                          help="put the whole condition inside one ${{ }}")
        elif site.type is not None and site.type.kind not in ("bool", "any"):
            ctx.diags.add("E307", f"if: must be bool, but this expression is {site.type}", node.span,
                          help="compare it, e.g. ${{ x > 0 }} or ${{ x == 'yes' }}")
