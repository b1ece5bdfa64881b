"""Stage 3a: the dependency graph, built once from the raw model and the analysis.

A step depends on the steps whose outputs it reads and on those it lists in ``needs:``
(references that name no step were reported by the analysis and are left out). The graph
also finds a cycle, the topological order (ties broken by file order, so it is stable) and
which steps may be skipped. The checks that need it (``dependency_cycle``,
``skipped_outputs``) and the lowering receive this one object.
"""

from __future__ import annotations

import heapq
from .record import named_tuple

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from .analysis import Analysis
    from .spec import RawPipeline


@named_tuple
class Graph:     # a named tuple, as the raw model's records (spec.py says why)
    order: tuple[str, ...]                  # file order of steps (not finally)
    deps: dict[str, frozenset[str]]         # all upstream steps of each step
    topological: tuple[str, ...]            # every step after its deps (partial when cyclic)
    cycle: tuple[str, ...] | None           # closed (first == last), each step depends on the next
    conditional: frozenset[str]             # steps with an if:
    skippable: frozenset[str]               # steps with an if:, and everything depending on one


def build(raw: RawPipeline, analysis: Analysis) -> Graph:
    deps: dict[str, set[str]] = {n: set() for n in raw.steps}
    for site in analysis.sites:
        if site.step is None or site.step.is_finally:
            continue
        for r in site.refs:
            if r.kind == "output" and r.step in raw.steps and r.step != site.step.name:
                deps[site.step.name].add(r.step)
    for st in raw.steps.values():
        for n in st.needs:
            if n.value in raw.steps and n.value != st.name:
                deps[st.name].add(n.value)
    order = tuple(raw.steps)
    topo = _topological(order, deps)
    cycle = _find_cycle(order, deps) if len(topo) < len(order) else None
    conditional = frozenset(n for n, st in raw.steps.items() if st.condition is not None)
    skippable: set[str] = set()
    if cycle is None:
        for n in topo:
            if n in conditional or deps[n] & skippable:
                skippable.add(n)
    return Graph(order, {n: frozenset(d) for n, d in deps.items()}, tuple(topo), cycle, conditional,
                 frozenset(skippable))


def _topological(order: tuple[str, ...], deps: dict[str, set[str]]) -> list[str]:
    """Kahn's algorithm; ties broken by file order."""
    pos = {n: i for i, n in enumerate(order)}
    indeg = {n: len(deps[n]) for n in order}
    users: dict[str, list[str]] = {n: [] for n in order}
    for n in order:
        for u in deps[n]:
            users[u].append(n)
    ready = [(pos[n], n) for n in order if indeg[n] == 0]
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


def _find_cycle(order: tuple[str, ...], deps: dict[str, set[str]]) -> tuple[str, ...] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    pos = {n: i for i, n in enumerate(order)}
    color = {n: WHITE for n in order}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        # iterative DFS: deep chains (10k steps) must not hit the recursion limit
        work = [(n, iter(sorted(deps[n], key=pos.__getitem__)))]
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
                work.append((nxt, iter(sorted(deps[nxt], key=pos.__getitem__))))
        return None

    for n in order:
        if color[n] == WHITE:
            c = visit(n)
            if c:
                return tuple(c)
    return None
