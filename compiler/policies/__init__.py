"""Org policies: rules a repository adds to ``pipespec validate`` (docs/policies.md).

A policy is a Python module the repository's config file names (``[policies]`` of
``pipespec.toml``, or ``[tool.pipespec.policies]`` of ``pyproject.toml``): a local file, or an
installed package registered in the ``pipespec.policies`` entry-point group. It exposes
``RULES``, a list of ``Rule`` values, each made with ``@rule(code, name, ...)`` over a function
``check(ctx)`` that reads the typed spec (``ctx.spec``, a ``pipespec.spec.RawPipeline`` with a
position on every node) and calls ``ctx.report(node, message)``.

Nothing here is imported unless a config file names a policy: the front end asks
``files.policy_config`` first. A spec value never chooses code to import; only the config file
does. A rule that raises is reported as E830 naming the rule, and the other rules still run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..codes import ERROR, PLUGIN_CODE_PATTERN, WARNING
from ..diagnostics import Diagnostic
from ..span import Span

SEVERITIES = (ERROR, WARNING)
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class Rule:
    """One check of a policy: one code, one name, one default severity."""

    code: str
    name: str
    severity: str
    summary: str
    check: Callable[["Context"], None]
    origin: str = ""              # where it came from, for messages: "builtin", a file, an entry point

    def __call__(self, ctx: "Context") -> None:
        self.check(ctx)


def rule(code: str, name: str, *, severity: str = ERROR, summary: str = "") -> Callable[[Callable], Rule]:
    """Declare a rule: ``@rule("ORG001", "step-without-owner", severity="warning")`` over
    ``def check(ctx): ...``. The code is 2-8 capital letters and 3 digits (never a built-in
    E/W code); the name is lower-case words joined by ``-``, naming the bad pattern."""
    if not re.fullmatch(PLUGIN_CODE_PATTERN, code):
        raise ValueError(f"policy code {code!r} is not 2-8 capital letters and 3 digits (e.g. ORG001)")
    return _declare(code, name, severity, summary)


def _declare(code: str, name: str, severity: str, summary: str) -> Callable[[Callable], Rule]:
    if not _NAME.fullmatch(name):
        raise ValueError(f"policy rule name {name!r} is not lower-case words joined by '-'")
    if severity not in SEVERITIES:
        raise ValueError(f"policy rule {name}: severity {severity!r} is not 'error' or 'warning'")

    def wrap(fn: Callable) -> Rule:
        return Rule(code, name, severity, summary or (fn.__doc__ or "").strip().split("\n")[0], fn)

    return wrap


@dataclass
class Context:
    """What a rule sees: the spec, its own options from the config, and ``report``."""

    spec: Any                                   # pipespec.spec.RawPipeline
    options: dict = field(default_factory=dict)   # [policies.options.<rule name>] of the config
    config: str = ""                              # the config file's path, for messages
    _rule: Rule | None = None
    _severity: str = ERROR
    _found: list = field(default_factory=list)

    def report(self, at, message: str, help: str | None = None, notes: tuple[str, ...] = ()) -> None:
        """A finding of this rule at ``at``: a syntax node, a raw-model record with a ``span``
        (a step, an output), or a ``Span`` of this spec."""
        span = at if isinstance(at, Span) else getattr(at, "span", None)
        if not isinstance(span, Span) or span.file != self.spec.file:
            raise _BadPosition(f"report() was given {type(at).__name__}, not a node or a span of this spec")
        self._found.append(Diagnostic(self._rule.code, str(message), span, help, tuple(notes), self._severity))


class _BadPosition(Exception):
    pass


def run(rules: list[tuple[Rule, str, dict]], raw, config: str) -> list[Diagnostic]:
    """Every finding of ``rules`` (each with the severity and options the config gives it) on
    the raw model ``raw``. A rule that raises becomes one E830 at the spec's first key; what it
    reported before that is kept; the other rules run regardless."""
    out: list[Diagnostic] = []
    for r, severity, options in rules:
        ctx = Context(raw, dict(options), config, r, severity)
        try:
            r.check(ctx)
        except Exception as e:  # a policy's bug: one diagnostic naming the rule, never a traceback
            what = str(e) if isinstance(e, _BadPosition) else f"{type(e).__name__}: {e}"
            out.append(Diagnostic(
                "E830", f"policy rule {r.code} {r.name} failed: {what}", _first_key(raw),
                help=f"this is a bug in the policy ({r.origin or 'unknown origin'}), not necessarily in the spec; "
                     f"its other findings, and the other rules, are still reported"))
        out += ctx._found
    return out


def _first_key(raw) -> Span:
    items = raw.root.items
    return items[0][0].span if items else raw.root.span
