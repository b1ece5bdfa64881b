"""What a run does with each step, from ``--only`` / ``--from``: the modes of ``StepState``.

``force``: selected, runs whatever the cache says; ``reuse``: an ancestor of a selected step,
taken from the store; ``run``: runs or is a cache hit as usual; ``exclude``: not part of the run.
"""

from __future__ import annotations

from .state import StepState


class PlanError(Exception):
    """--only/--from name unknown steps, or a run to resume does not fit the spec."""


def plan(states: dict[str, StepState], only: tuple[str, ...], from_: tuple[str, ...]) -> None:
    """Link each step to its dependents and set every step's mode."""
    names = set(states)
    for n in (*only, *from_):
        if n not in names:
            raise PlanError(f"no step '{n}' (steps: {', '.join(states)})")
    for st in states.values():
        for d in st.step.depends_on:
            states[d].dependents.append(st)
    if not only and not from_:
        return
    chosen = set(only)
    for n in from_:
        stack = [n]
        while stack:
            cur = stack.pop()
            if cur not in chosen:
                chosen.add(cur)
                stack += [d.name for d in states[cur].dependents]
    ancestors: set[str] = set()
    stack = [d for n in chosen for d in states[n].step.depends_on]
    while stack:
        cur = stack.pop()
        if cur not in ancestors and cur not in chosen:
            ancestors.add(cur)
            stack += list(states[cur].step.depends_on)
    for st in states.values():
        if st.name in chosen:
            st.mode = "force"
        elif st.name in ancestors:
            st.mode = "reuse"
        elif st.step.is_finally and not only:
            st.mode = "run"
        else:
            st.mode = "exclude"
