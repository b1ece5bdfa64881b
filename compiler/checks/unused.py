"""Declared but never read: parameters, secrets, and outputs of steps whose other outputs are
read (a leaf step's outputs are the pipeline's results, so they are not flagged)."""

from __future__ import annotations


def check(ctx) -> None:
    raw, d = ctx.raw, ctx.diags
    read_params, read_secrets, read_outputs = set(), set(), set()
    for site in ctx.analysis.sites:
        for r in site.refs:
            if r.kind == "param":
                read_params.add(r.name)
            elif r.kind == "secret":
                read_secrets.add(r.name)
            elif r.kind == "output":
                read_outputs.add((r.step, r.name))
    read_params |= {n for r, n in ctx.analysis.mentioned if r == "params"}
    read_secrets |= {n for r, n in ctx.analysis.mentioned if r == "secrets"}
    for name, p in raw.params.items():
        if name not in read_params:
            d.add("W501", f"parameter '{name}' is never read", p.key.span,
                  help=f"use it as ${{{{ params.{name} }}}} or remove it")
    for name, (key, _) in raw.secrets.items():
        if name not in read_secrets:
            d.add("W504", f"secret '{name}' is never read", key.span,
                  help=f"read it in an env: value as ${{{{ secrets.{name} }}}} or remove it")
    consumed_steps = {s for s, _ in read_outputs}
    for st in raw.steps.values():
        if st.name not in consumed_steps:
            continue
        for o in st.outputs:
            if (st.name, o.name) not in read_outputs:
                d.add("W502", f"output '{o.name}' of step '{st.name}' is never read", o.key.span,
                      help="remove it, or read it in a later step")
