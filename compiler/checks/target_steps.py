"""``targets.<T>.steps`` keys that name no step (E304): per-step target options (Airflow's
``targets.airflow.steps.<step>.pool``) keyed by a misspelt step name would silently apply to
nothing, so the step would run in the DAG's pool after all."""

from __future__ import annotations

import difflib

from ..syntax import MapNode


def check(ctx) -> None:
    raw = ctx.raw
    if not isinstance(raw.targets, MapNode):
        return
    names = [*raw.steps, *raw.finally_steps]
    for target, opts in raw.targets.items:
        per_step = opts.get("steps") if isinstance(opts, MapNode) else None
        if not isinstance(per_step, MapNode):
            continue
        for key, _ in per_step.items:
            if isinstance(key.value, str) and key.value not in names:
                close = difflib.get_close_matches(key.value, names, n=1)
                ctx.diags.add("E304", f"targets.{target.value}.steps: '{key.value}' names no step", key.span,
                              help=f"did you mean '{close[0]}'?" if close else
                              f"the steps are: {', '.join(names) or 'none'}")
