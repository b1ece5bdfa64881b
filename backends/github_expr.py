"""Translate a pipespec expression (``if:``, ``foreach:``) into a GitHub Actions expression.

Takes an expression AST (``pipespec.expr``) and the pipeline, gives the text that goes inside
``${{ }}`` in a job's ``if:`` or ``strategy.matrix``. GitHub's language differs from ours in
ways that change results, so the translation is explicit about each (docs/targets/github.md):

- Two strings compare as text, so every number is read through ``fromJSON`` (job outputs and
  ``inputs`` are text; ``'1000' >= '900'`` is false). Booleans, lists and maps likewise.
- On ``schedule``/``push``/``pull_request`` runs ``inputs.*`` is null (null compares as 0), so a
  param reads ``(github.event_name != 'workflow_dispatch' && '<default>' || inputs.NAME)``:
  the default, written out, unless the run was dispatched. ``inputs.x || default`` would wrongly
  replace a dispatched 0 or false.
- String comparisons and contains/startsWith/endsWith ignore case on GitHub: a warning.
- There is no arithmetic, no len/min/max/round, no list literal over non-literals: an error.
- A foreach step's outputs are a list only through artifacts; a matrix job's outputs keep the
  last leg alone, so reading them in an expression is an error.

``translate`` raises ``Untranslatable`` (message, start, end: offsets into the expression
source) for the first thing GitHub cannot express, and returns warnings the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pipespec import ir
from pipespec.expr import ast as A

TEXT, NUMBER, BOOL, LIST, MAP, NULL, ANY = "text", "number", "bool", "list", "map", "null", "any"
_KIND = {"string": TEXT, "path": TEXT, "int": NUMBER, "float": NUMBER, "bool": BOOL,
         "list": LIST, "map": MAP, "any": ANY, "null": NULL}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
DISPATCHED = "github.event_name != 'workflow_dispatch'"


class Untranslatable(Exception):
    def __init__(self, message: str, node: A.Expr) -> None:
        super().__init__(message)
        self.message = message
        self.start = node.start
        self.end = node.end


@dataclass
class Translation:
    text: str
    kind: str
    warnings: list[tuple[str, int, int]] = field(default_factory=list)


def literal(value) -> str:
    """A JSON-like value as a GitHub expression literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no GitHub literal")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return f"fromJSON({literal(compact_json(value))})"


def compact_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def param_text(p: ir.Param) -> str:
    """The param's value as GitHub text on every event: the dispatched input, else the default."""
    if p.required:
        return f"inputs.{p.name}"
    default = p.default if isinstance(p.default, str) else compact_json(p.default)
    if default == "":            # '' is falsy: fall through to inputs (null on schedule, == '')
        return f"inputs.{p.name}"
    return f"({DISPATCHED} && {literal(default)} || inputs.{p.name})"


def param_value(p: ir.Param) -> tuple[str, str]:
    """The param's value typed: numbers, bools, lists and maps through fromJSON."""
    kind = _KIND.get(p.type.kind, ANY)
    text = param_text(p)
    if kind == TEXT:
        return text, TEXT
    inner = text[1:-1] if text.startswith("(") else text
    return f"fromJSON({inner})", kind


def _member(obj: str, name: str) -> str:
    return f"{obj}.{name}" if _IDENT.match(name) else f"{obj}[{literal(name)}]"


class Translator:
    def __init__(self, pipe: ir.Pipeline) -> None:
        self.pipe = pipe
        self.steps = {s.name: s for s in pipe.steps}
        self.run_status: str | None = None     # the GitHub form of run.status, in finally: steps

    def translate(self, expr: A.Expr) -> Translation:
        self._warnings: list[tuple[str, int, int]] = []
        text, kind = self._expr(expr, top=True)
        return Translation(text, kind, self._warnings)

    def _warn(self, msg: str, node: A.Expr) -> None:
        self._warnings.append((msg, node.start, node.end))

    # -- nodes -----------------------------------------------------------------------------
    def _expr(self, e: A.Expr, top: bool = False) -> tuple[str, str]:
        if isinstance(e, A.Literal):
            return literal(e.value), _kind_of_value(e.value)
        if isinstance(e, A.Ref):
            return self._ref(e)
        if isinstance(e, A.Index):
            obj, _ = self._expr(e.obj)
            idx, ikind = self._expr(e.index)
            if isinstance(e.index, A.Literal) and isinstance(e.index.value, int) and e.index.value < 0:
                raise Untranslatable("a negative index has no GitHub form (it gives null there)", e.index)
            return f"{obj}[{idx}]", ANY
        if isinstance(e, A.Member):
            obj, _ = self._expr(e.obj)
            return _member(obj, e.name), ANY
        if isinstance(e, A.Unary):
            return self._unary(e)
        if isinstance(e, A.Binary):
            return self._binary(e, top)
        if isinstance(e, A.Call):
            return self._call(e)
        if isinstance(e, A.ListExpr):
            if all(isinstance(i, A.Literal) for i in e.items):
                return literal([i.value for i in e.items]), LIST
            raise Untranslatable("a list of non-literal values has no GitHub form "
                                 "(GitHub expressions have no list constructor)", e)
        raise Untranslatable(f"{type(e).__name__} has no GitHub form", e)  # pragma: no cover

    def _ref(self, e: A.Ref) -> tuple[str, str]:
        if e.root == "params":
            text, kind = param_value(self.pipe.param(e.path[0]))
            for name in e.path[1:]:
                text, kind = _member(text, name), ANY
            return text, kind
        if e.root == "steps":
            return self._output(e)
        if e.root == "run" and e.path == ("id",):
            return "github.run_id", TEXT
        if e.root == "run" and e.path == ("status",) and self.run_status:
            return self.run_status, TEXT
        raise Untranslatable(f"'{e.dotted}' has no GitHub form in if:/foreach: "
                             "(run.date is only known to the step executor)", e)

    def _output(self, e: A.Ref) -> tuple[str, str]:
        step, _, name, *rest = e.path
        prod = self.steps[step]
        out = prod.output(name)
        if prod.foreach is not None:
            raise Untranslatable(
                f"'{e.dotted}' is the fan-in list of a foreach step: a matrix job's outputs keep "
                "only its last leg on GitHub, so its instances' values reach later steps through "
                "artifacts, not expressions", e)
        ref = f"needs.{step}.outputs.{name}"
        if out.type == "metrics":
            text = f"fromJSON({ref})"
            for f in rest:
                text = _member(text, f)
            return text, NUMBER if rest else MAP
        kind = _KIND.get(out.type, ANY)
        text = ref if kind == TEXT else f"fromJSON({ref})"
        for f in rest:
            text, kind = _member(text, f), ANY
        return text, kind

    def _unary(self, e: A.Unary) -> tuple[str, str]:
        if e.op == "!":
            inner, _ = self._expr(e.operand)
            return f"!{_wrap(inner, e.operand)}", BOOL
        if isinstance(e.operand, A.Literal) and isinstance(e.operand.value, (int, float)) \
                and not isinstance(e.operand.value, bool):
            return literal(-e.operand.value), NUMBER
        raise Untranslatable("GitHub expressions have no arithmetic: unary minus works only on a "
                             "number literal", e)

    def _binary(self, e: A.Binary, top: bool) -> tuple[str, str]:
        if e.op in ("+", "-", "*", "/"):
            raise Untranslatable(f"GitHub expressions have no arithmetic ('{e.op}'): compute the "
                                 "value in a step and read it as a value output", e)
        left, lk = self._expr(e.left)
        right, rk = self._expr(e.right)
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            if LIST in (lk, rk) or MAP in (lk, rk):
                raise Untranslatable("GitHub compares lists and maps by reference (always unequal): "
                                     "compare a field or an item instead", e)
            if TEXT in (lk, rk) and not (isinstance(e.left, A.Literal) and isinstance(e.right, A.Literal)):
                self._warn(f"'{e.op}' on strings ignores case on GitHub ('A' == 'a' is true there)", e)
            kind = BOOL
        else:       # && ||
            kind = BOOL
        text = f"{_wrap(left, e.left)} {e.op} {_wrap(right, e.right)}"
        return text, kind

    def _call(self, e: A.Call) -> tuple[str, str]:
        name = e.name
        if name in ("len", "min", "max", "round"):
            raise Untranslatable(f"{name}() has no GitHub counterpart: compute it in a step and read "
                                 "it as a value output", e)
        args = [self._expr(a) for a in e.args]
        texts = ", ".join(t for t, _ in args)
        if name in ("contains", "startsWith", "endsWith"):
            if any(k in (TEXT, ANY) for _, k in args) or (name == "contains" and args[0][1] == LIST):
                self._warn(f"{name}() ignores case on GitHub", e)
            return f"{name}({texts})", BOOL
        if name == "join":
            if len(args) == 1:
                texts += ", ','"
            return f"join({texts})", TEXT
        if name == "format":
            if any(k not in (TEXT,) for _, k in args[1:]):
                self._warn("format() writes numbers and booleans GitHub's way on GitHub "
                           "(e.g. 1.0 as 1)", e)
            return f"format({texts})", TEXT
        raise Untranslatable(f"{name}() has no GitHub counterpart", e)


def _wrap(text: str, node: A.Expr) -> str:
    return f"({text})" if isinstance(node, A.Binary) else text


def _kind_of_value(v) -> str:
    if v is None:
        return NULL
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, (int, float)):
        return NUMBER
    if isinstance(v, str):
        return TEXT
    return LIST if isinstance(v, list) else MAP
