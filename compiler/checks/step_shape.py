"""A step must be exactly one of run:/call:, with a well-formed callable and arguments that do
not shadow its outputs; finally: steps must not clash with steps or fan out."""

from __future__ import annotations

import re

from ..spec import ARTIFACT_TYPES, as_map, as_str, map_items
from ..syntax import ScalarNode

CALLABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def check(ctx) -> None:
    d = ctx.diags
    for st in ctx.raw.all_steps:
        has_run, has_call = "run" in st.node, "call" in st.node
        if not has_run and not has_call:
            d.add("E202", f"step '{st.name}' needs run: (a command) or call: (module:function)", st.span,
                  help="add run: or call:")
        elif has_run and has_call:
            d.add("E215", f"step '{st.name}' has both run: and call:", st.node.key_node("call").span,
                  help="a step is either a command (run:) or a Python callable (call:); split it in two steps")
        if has_call:
            c = st.get("call")
            if isinstance(c, ScalarNode) and isinstance(c.value, str) and not CALLABLE.match(c.value):
                d.add("E404", f"call: '{c.value}' is not module:function", c.span,
                      help="e.g. call: steps:train (module steps.py beside the spec, function train)")
        w = st.get("with")
        if w is not None and has_run and not has_call:
            d.add("E216", "with: passes arguments to a call: step; a run: step gets values through env: or ${{ }}",
                  st.node.key_node("with").span, help="move the values into env: and read \"$NAME\" in the command")
        # artifact outputs are passed to the function as keyword arguments (their paths); value
        # outputs are returned, so they may share a name with an argument
        outs = {o.name for o in st.outputs if o.type in ARTIFACT_TYPES}
        for k, _ in map_items(w):
            if k.value in outs:
                d.add("E403", f"argument '{k.value}' has the name of an artifact output of step '{st.name}'", k.span,
                      help="artifact outputs are passed to the function under their own names; rename the argument")
        par = st.node.key_node("parallelism")
        if par is not None and "foreach" not in st.node:
            d.add("E217", "parallelism: limits the instances of a foreach:, and this step has none", par.span,
                  help="remove parallelism:, or add foreach:")
        img = st.get("image")
        if isinstance(img, ScalarNode) and isinstance(img.value, str) and "${{" in img.value:
            d.add("E218", "image: cannot hold expressions (targets need it when the pipeline is compiled)", img.span)
        if st.is_finally:
            if st.name in ctx.raw.steps:
                d.add("E405", f"finally: step '{st.name}' has the name of a step", st.span,
                      help="step names are shared by steps: and finally:; rename one")
            for key in ("if", "foreach", "needs"):
                kn = st.node.key_node(key)
                if kn is not None:
                    d.add("E219", f"a finally: step cannot have {key}: (it always runs once, after every other step)",
                          kn.span, help="read ${{ run.status }} inside the step to act on success or failure")
    # defaults: image must not be an expression either
    dflt = as_map(ctx.raw.root.get("defaults"))
    img = dflt.get("image") if dflt else None
    if as_str(img) and "${{" in as_str(img):
        d.add("E218", "image: cannot hold expressions (targets need it when the pipeline is compiled)", img.span)
