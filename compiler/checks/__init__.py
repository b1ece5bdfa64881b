"""Stage 3b: semantic checks, one bad pattern per module, listed in ``CHECKS``.

Each check is ``check(ctx: Context) -> None`` and adds diagnostics to ``ctx.diags``. They run
on the raw model even when the shape check failed, so they read defensively. A check only
reads the stages before it (the raw model, the analysis, the graph), never another check, so
their order does not matter.
"""

from __future__ import annotations

from ..record import named_tuple
from ..analysis import Analysis
from ..diagnostics import Diagnostics
from ..graph import Graph
from ..spec import RawPipeline
from . import (bounds, conditions, credentials, dependency_cycle, escaping_paths, integrations, number_text, params,
               secret_env, shell_expressions, skipped_outputs, step_shape, unused)


@named_tuple
class Context:
    raw: RawPipeline
    analysis: Analysis
    graph: Graph
    diags: Diagnostics


CHECKS = (
    step_shape.check,
    params.check,
    secret_env.check,
    conditions.check,
    shell_expressions.check,
    dependency_cycle.check,
    skipped_outputs.check,
    integrations.check,              # before unused: the secrets it names count as read
    unused.check,
    credentials.check,
    number_text.check,
    escaping_paths.check,
    bounds.check,
)


def run_all(ctx: Context) -> None:
    for check in CHECKS:
        check(ctx)
