"""A number written where it becomes text (an env: value, an argv item) must keep its spelling:
YAML reads ``3.10`` as 3.1 and ``1e3`` as 1000.0, so ``PYTHON: 3.10`` would silently become
``3.1``. Reported as E108 with the quoted form to write instead."""

from __future__ import annotations

from ..expr import to_text
from ..syntax import ScalarNode, SeqNode


def _check(ctx, node, where: str) -> None:
    if not isinstance(node, ScalarNode) or node.style != "" or isinstance(node.value, bool):
        return
    if isinstance(node.value, (int, float)) and to_text(node.value) != node.source:
        ctx.diags.add("E108", f"{node.source} in {where} is read as the number {node.value!r} and becomes "
                      f"the text '{to_text(node.value)}'", node.span,
                      help=f"quote it to keep it as written: \"{node.source}\"")


def check(ctx) -> None:
    raw = ctx.raw
    for st in raw.all_steps:
        run = st.run
        if isinstance(run, SeqNode):
            for item in run.items:
                _check(ctx, item, f"the command of step '{st.name}'")
    for where, env in raw.env_blocks():
        for _, v in env:
            _check(ctx, v, where)
