"""Stage 3b: semantic checks, one bad pattern per module, listed in ``CHECKS``.

Each check is ``check(ctx: Context) -> None`` and adds diagnostics to ``ctx.diags``. They run
on the raw model even when the shape check failed, so they read defensively.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis
from ..diagnostics import Diagnostics
from ..spec import RawPipeline
from . import (bounds, conditions, credentials, escaping_paths, graph, integrations, number_text, params,
               secret_env, shell_expressions, skipped_outputs, step_shape, unused)


@dataclass
class Context:
    raw: RawPipeline
    analysis: Analysis
    diags: Diagnostics
    graph: "graph.Graph | None" = None


# order matters only where a check reads what an earlier one computed (graph before skips)
CHECKS = (
    step_shape.check,
    params.check,
    secret_env.check,
    conditions.check,
    shell_expressions.check,
    graph.check,
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
