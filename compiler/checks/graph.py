"""The dependency graph: needs: must name steps, and no step may depend on itself, directly or
through a cycle (the cycle is printed). Builds ``ctx.graph`` for later checks and the lowering."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis import _dym


@dataclass
class Graph:
    order: list[str]                               # file order of steps (not finally)
    deps: dict[str, set[str]] = field(default_factory=dict)        # all upstream steps
    data_deps: dict[str, set[str]] = field(default_factory=dict)   # steps whose outputs are read
    cyclic: bool = False

    def topological(self) -> list[str]:
        """Kahn's algorithm; ties broken by file order, so the order is stable."""
        pos = {n: i for i, n in enumerate(self.order)}
        indeg = {n: len(self.deps[n]) for n in self.order}
        users: dict[str, list[str]] = {n: [] for n in self.order}
        for n in self.order:
            for u in self.deps[n]:
                users[u].append(n)
        import heapq

        ready = [(pos[n], n) for n in self.order if indeg[n] == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            _, n = heapq.heappop(ready)
            out.append(n)
            for m in users[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    heapq.heappush(ready, (pos[m], m))
        return out

    def may_skip(self, conditional: set[str]) -> set[str]:
        """Steps that can be skipped: those with if:, and everything depending on one."""
        out: set[str] = set()
        for n in self.topological():
            if n in conditional or self.deps[n] & out:
                out.add(n)
        return out


def build(ctx) -> Graph:
    raw = ctx.raw
    g = Graph(order=list(raw.steps))
    for n in raw.steps:
        g.deps[n] = set()
        g.data_deps[n] = set()
    for site in ctx.analysis.sites:
        if site.step is None or site.step.is_finally:
            continue
        for r in site.refs:
            if r.kind == "output" and r.step in raw.steps and r.step != site.step.name:
                g.deps[site.step.name].add(r.step)
                g.data_deps[site.step.name].add(r.step)
    for st in raw.steps.values():
        for n in st.needs:
            if n.value in raw.steps and n.value != st.name:
                g.deps[st.name].add(n.value)
    return g


def check(ctx) -> None:
    raw, d = ctx.raw, ctx.diags
    for st in raw.all_steps:
        for n in st.needs:
            if n.value == st.name:
                d.add("E401", f"step '{st.name}' needs itself", n.span, help="remove it from needs:")
            elif n.value not in raw.steps:
                if n.value in raw.finally_steps:
                    d.add("E304", f"needs: '{n.value}' names a finally: step", n.span,
                          help="finally: steps run after every other step; nothing can need them")
                else:
                    d.add("E304", f"needs: '{n.value}' names no step", n.span,
                          help=_dym(n.value, raw.steps) or f"steps: {', '.join(raw.steps)}")
    g = build(ctx)
    ctx.graph = g
    cycle = _find_cycle(g)
    if cycle:
        g.cyclic = True
        first = min(cycle[:-1], key=g.order.index)
        i = cycle.index(first)
        cyc = cycle[i:-1] + cycle[:i] + [first]
        d.add("E400", f"dependency cycle: {' -> '.join(cyc)}", raw.steps[first].span,
              notes=tuple(f"'{a}' depends on '{b}'" for a, b in zip(cyc, cyc[1:])),
              help="a step can only read outputs of steps that finish before it; break the cycle")


def _find_cycle(g: Graph) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    pos = {n: i for i, n in enumerate(g.order)}
    color = {n: WHITE for n in g.order}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        # iterative DFS: deep chains (10k steps) must not hit the recursion limit
        work = [(n, iter(sorted(g.deps[n], key=pos.__getitem__)))]
        color[n] = GREY
        stack.append(n)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                stack.pop()
                color[node] = BLACK
                continue
            if color[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if color[nxt] == WHITE:
                color[nxt] = GREY
                stack.append(nxt)
                work.append((nxt, iter(sorted(g.deps[nxt], key=pos.__getitem__))))
        return None

    for n in g.order:
        if color[n] == WHITE:
            c = visit(n)
            if c:
                return c  # in the direction of deps: each step depends on the next
    return None
