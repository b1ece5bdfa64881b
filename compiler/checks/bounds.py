"""Values every target must be able to hold: durations (timeouts, retry delays, Airflow's
``dagrun_timeout``) at most ``MAX_DURATION_S``, memory within int64 bytes, and a
``targets.*.pipespec`` command that splits as shell words. (Numbers outside int64 and control characters are refused by the loader.)

The bounds are documented in docs/spec.md ("Bounds"): Airflow's ``timedelta``, GitHub's
``timeout-minutes`` and the Kubernetes/KFP quantities are all far wider; 30 days is a bound
no real step reaches and every computation on it (delays x attempts) stays exact."""

from __future__ import annotations

import re
import shlex

from ..loader import INT64_MAX
from ..spec import as_map, map_items
from ..syntax import ScalarNode
from ..units import format_duration, memory_bytes, seconds

MAX_DURATION_S = 30 * 86400
_DURATION = re.compile(r"^(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$")


def _duration(ctx, node, where: str) -> None:
    if not isinstance(node, ScalarNode) or isinstance(node.value, bool) \
            or not isinstance(node.value, (int, str)):
        return
    if isinstance(node.value, int) and node.value > INT64_MAX:
        return  # the loader reported it (E210)
    if isinstance(node.value, str) and (not _DURATION.match(node.value) or not node.value):
        return  # not a duration: the schema reported it (E205)
    try:
        s = seconds(node.value)
    except (ValueError, OverflowError):  # well-formed, but too many digits to convert
        s = float("inf")
    if s > MAX_DURATION_S:
        ctx.diags.add("E211", f"{where} {node.source or node.value} is longer than the "
                      f"{MAX_DURATION_S // 86400}-day bound", node.span,
                      help=f"at most {format_duration(MAX_DURATION_S)} ({MAX_DURATION_S} seconds)")


def _steps_like(ctx):
    for st in ctx.raw.all_steps:
        yield f"step '{st.name}'", st.node
    dflt = as_map(ctx.raw.root.get("defaults"))
    if dflt is not None:
        yield "defaults", dflt


def _memory(ctx, node, where: str) -> None:
    if not isinstance(node, ScalarNode) or not isinstance(node.value, str):
        return
    try:
        b = memory_bytes(node.value)
    except (ValueError, OverflowError):
        return  # the schema reported it
    if b > INT64_MAX:
        ctx.diags.add("E212", f"memory {node.value} of {where} is more than int64 bytes", node.span,
                      help="use a smaller quantity, such as 64Gi")


def check(ctx) -> None:
    for where, node in _steps_like(ctx):
        _duration(ctx, node.get("timeout"), f"timeout of {where}:")
        r = as_map(node.get("retries"))
        if r is not None:
            _duration(ctx, r.get("delay"), f"retries.delay of {where}:")
            _duration(ctx, r.get("max_delay"), f"retries.max_delay of {where}:")
        res = as_map(node.get("resources"))
        if res is not None:
            _memory(ctx, res.get("memory"), where)
    targets = as_map(ctx.raw.root.get("targets"))
    for tk, t in map_items(targets):
        t = as_map(t)
        if t is None:
            continue
        for i, runner in enumerate(getattr(t.get("runners"), "items", ())):
            if as_map(runner) is not None:
                _memory(ctx, runner.get("memory"), f"runner {i + 1} of targets.{tk.value}")
        if tk.value == "airflow":
            _duration(ctx, t.get("dagrun_timeout"), "targets.airflow.dagrun_timeout:")
        cmd = t.get("pipespec")
        if isinstance(cmd, ScalarNode) and isinstance(cmd.value, str):
            try:
                words = shlex.split(cmd.value)
                problem = "is empty" if not words else None
            except ValueError as e:
                problem = f"does not split as shell words ({str(e).lower()})"
            if problem:
                ctx.diags.add("E213", f"targets.{tk.value}.pipespec {problem}", cmd.span,
                              help="the command that runs pipespec on the workers, e.g. \"pipespec\" or "
                                   "\"python -m pipespec\"")
