"""A ${{ }} in a shell-string run: must stand where a variable reference can carry its value:
outside quotes, inside double quotes or an unquoted here-document, and for a number or a bool
a few places more (E315 elsewhere; ``compiler/shell.py`` has the table)."""

from __future__ import annotations

from ..shell import Refusal, contexts, safe_exprs
from ..syntax import ScalarNode


def check(ctx) -> None:
    sites = {id(s.node): s for s in ctx.analysis.sites if s.field == "run"}
    for st in ctx.raw.all_steps:
        node = st.run
        if not isinstance(node, ScalarNode):
            continue                      # argv items reach the command as they are
        site = sites.get(id(node))
        if site is None or site.template is None:
            continue
        for te, where in zip(site.template.exprs, contexts(site.template, safe_exprs(site.expr_types))):
            if isinstance(where, Refusal):
                ctx.diags.add("E315", where.message, node.offset_span(te.start, te.end), help=where.help)
