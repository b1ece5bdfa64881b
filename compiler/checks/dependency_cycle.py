"""Steps that depend on each other in a cycle (through outputs they read or needs:); the
cycle is printed, starting at the step that comes first in the file. The graph stage
(``pipespec.graph``) found it; this check reports it."""

from __future__ import annotations


def check(ctx) -> None:
    g, raw = ctx.graph, ctx.raw
    cycle = g.cycle
    if not cycle:
        return
    first = min(cycle[:-1], key=g.order.index)
    i = cycle.index(first)
    cyc = list(cycle[i:-1] + cycle[:i]) + [first]
    ctx.diags.add("E400", f"dependency cycle: {' -> '.join(cyc)}", raw.steps[first].span,
                  notes=tuple(f"'{a}' depends on '{b}'" for a, b in zip(cyc, cyc[1:])),
                  help="a step can only read outputs of steps that finish before it; break the cycle")
