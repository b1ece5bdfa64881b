"""Reading an output of a step that may be skipped silently skips the reader too: warn, unless
the reader says so by listing the producer in needs:."""

from __future__ import annotations


def check(ctx) -> None:
    skippable, conditional = ctx.graph.skippable, ctx.graph.conditional   # empty when cyclic
    for site in ctx.analysis.sites:
        st = site.step
        if st is None or st.is_finally:
            continue
        needs = {n.value for n in st.needs}
        for r in site.refs:
            if r.kind == "output" and r.step in skippable and r.step not in needs and r.step != st.name:
                why = "has an if:" if r.step in conditional else "depends on a step with an if:"
                ctx.diags.add("W500", f"step '{st.name}' reads '{r.step}.{r.name}', but '{r.step}' may be skipped ({why}); "
                              f"then '{st.name}' is skipped too", r.span,
                              help=f"add '{r.step}' to needs: of '{st.name}' to say so")
