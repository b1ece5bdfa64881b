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

A dialect of the shared translator (``backends/translate.py``): it reads the static types the
analysis left in the IR, refuses through ``unsupported(node, why)`` and warns through
``warn(node, why)``; ``render`` reports both at the node.
"""

from __future__ import annotations

import json
import re

from pipespec import ir
from pipespec.expr import ast as A

from .translate import Refused, Translator

TEXT, NUMBER, BOOL, LIST, MAP, NULL, ANY = "text", "number", "bool", "list", "map", "null", "any"
_KIND = {"string": TEXT, "path": TEXT, "int": NUMBER, "float": NUMBER, "bool": BOOL,
         "list": LIST, "map": MAP, "any": ANY, "null": NULL}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
DISPATCHED = "github.event_name != 'workflow_dispatch'"


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


def param_text(p: ir.Param, always_inputs: bool = False) -> str:
    """The param's value as GitHub text on every event: the dispatched input, else the default.
    A reusable workflow (``always_inputs``) reads ``inputs`` alone: GitHub fills in the defaults
    on workflow_call and workflow_dispatch, its only triggers, and ``github.event_name`` there
    is the caller's event, which says nothing about whether inputs were passed."""
    if p.required or always_inputs:
        return f"inputs.{p.name}"
    default = p.default if isinstance(p.default, str) else compact_json(p.default)
    if default == "":            # '' is falsy: fall through to inputs (null on schedule, == '')
        return f"inputs.{p.name}"
    return f"({DISPATCHED} && {literal(default)} || inputs.{p.name})"


def param_value(p: ir.Param, always_inputs: bool = False) -> tuple[str, str]:
    """The param's value typed: numbers, bools, lists and maps through fromJSON."""
    kind = _KIND.get(p.type.kind, ANY)
    text = param_text(p, always_inputs)
    if kind == TEXT:
        return text, TEXT
    if always_inputs:
        # a call passes number and boolean inputs typed, a dispatch (act's, at least) as text,
        # and fromJSON takes only text (act: "Cannot parse non-string type int as JSON"):
        # format() makes either the same text first
        return f"fromJSON(format('{{0}}', {text}))", kind
    inner = text[1:-1] if text.startswith("(") else text
    return f"fromJSON({inner})", kind


def _member(obj: str, name: str) -> str:
    return f"{obj}.{name}" if _IDENT.match(name) else f"{obj}[{literal(name)}]"


def _kind(t) -> str:
    return _KIND.get(t.kind, ANY)


def _ignoring_case(tr: "GithubTranslator", node: A.Call) -> str:
    kinds = [_kind(tr.type_of(a)) for a in node.args]
    texts = ", ".join(tr.gen(a) for a in node.args)
    if any(k in (TEXT, ANY) for k in kinds) or (node.name == "contains" and kinds[0] == LIST):
        tr.warn(node, f"{node.name}() ignores case on GitHub")
    return f"{node.name}({texts})"


def _join(tr: "GithubTranslator", node: A.Call) -> str:
    texts = ", ".join(tr.gen(a) for a in node.args)
    return f"join({texts}, ',')" if len(node.args) == 1 else f"join({texts})"


def _format(tr: "GithubTranslator", node: A.Call) -> str:
    texts = ", ".join(tr.gen(a) for a in node.args)
    if any(_kind(tr.type_of(a)) != TEXT for a in node.args[1:]):
        tr.warn(node, "format() writes numbers and booleans GitHub's way on GitHub (e.g. 1.0 as 1)")
    return f"format({texts})"


_NO_COUNTERPART = Refused("{name}() has no GitHub counterpart: compute it in a step and read it as a value output")


class GithubTranslator(Translator):
    """The GitHub Actions dialect, over one pipeline (params and producers are read from it)."""

    target = "github"
    QUOTES = "'"
    BACKSLASH = False                   # GitHub doubles a quote ('it''s'); a backslash is a character
    FUNCTIONS = {
        "len": _NO_COUNTERPART, "min": _NO_COUNTERPART, "max": _NO_COUNTERPART, "round": _NO_COUNTERPART,
        "contains": _ignoring_case, "startsWith": _ignoring_case, "endsWith": _ignoring_case,
        "join": _join, "format": _format,
    }

    def __init__(self, pipe: ir.Pipeline) -> None:
        super().__init__()
        self.pipe = pipe
        self.steps = {s.name: s for s in pipe.steps}
        self.run_status: str | None = None     # the GitHub form of run.status, in finally: steps
        self.always_inputs = False             # a reusable workflow: params are inputs on every run

    def top(self, text: str) -> str:
        return text                     # a binary parenthesises its operands, never itself

    def write_literal(self, value) -> str:
        return literal(value)

    def _operand(self, node: A.Expr) -> str:
        text = self.gen(node)
        return self.paren(text) if isinstance(node, A.Binary) else text

    # -- nodes -----------------------------------------------------------------------------
    def listexpr(self, e: A.ListExpr) -> str:
        if all(isinstance(i, A.Literal) for i in e.items):
            return literal([i.value for i in e.items])
        self.unsupported(e, "a list of non-literal values has no GitHub form "
                            "(GitHub expressions have no list constructor)")

    def index(self, e: A.Index) -> str:
        obj, idx = self.gen(e.obj), self.gen(e.index)
        if isinstance(e.index, A.Literal) and isinstance(e.index.value, int) and e.index.value < 0:
            self.unsupported(e.index, "a negative index has no GitHub form (it gives null there)")
        return f"{obj}[{idx}]"

    def member(self, e: A.Member) -> str:
        return _member(self.gen(e.obj), e.name)

    def ref(self, e: A.Ref) -> str:
        if e.root == "params":
            text, _ = param_value(self.pipe.param(e.path[0]), self.always_inputs)
            for name in e.path[1:]:
                text = _member(text, name)
            return text
        if e.root == "steps":
            return self._output(e)
        if e.root == "run" and e.path == ("id",):
            return "github.run_id"
        if e.root == "run" and e.path == ("status",) and self.run_status:
            return self.run_status
        self.unsupported(e, f"'{e.dotted}' has no GitHub form in if:/foreach: "
                            "(run.date is only known to the step executor)")

    def _output(self, e: A.Ref) -> str:
        step, _, name, *rest = e.path
        prod = self.steps[step]
        out = prod.output(name)
        if prod.foreach is not None:
            self.unsupported(e, f"'{e.dotted}' is the fan-in list of a foreach step: a matrix job's outputs "
                                "keep only its last leg on GitHub, so its instances' values reach later steps "
                                "through artifacts, not expressions")
        ref = f"needs.{step}.outputs.{name}"
        text = ref if out.type != "metrics" and _KIND.get(out.type, ANY) == TEXT else f"fromJSON({ref})"
        for f in rest:
            text = _member(text, f)
        return text

    def unary(self, e: A.Unary) -> str:
        if e.op == "!":
            return f"!{self._operand(e.operand)}"
        if isinstance(e.operand, A.Literal) and isinstance(e.operand.value, (int, float)) \
                and not isinstance(e.operand.value, bool):
            return literal(-e.operand.value)
        self.unsupported(e, "GitHub expressions have no arithmetic: unary minus works only on a "
                            "number literal")

    def binary(self, e: A.Binary) -> str:
        if e.op in ("+", "-", "*", "/"):
            self.unsupported(e, f"GitHub expressions have no arithmetic ('{e.op}'): compute the "
                                "value in a step and read it as a value output")
        left, right = self._operand(e.left), self._operand(e.right)
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            kinds = (_kind(self.type_of(e.left)), _kind(self.type_of(e.right)))
            if LIST in kinds or MAP in kinds:
                self.unsupported(e, "GitHub compares lists and maps by reference (always unequal): "
                                    "compare a field or an item instead")
            if TEXT in kinds and not (isinstance(e.left, A.Literal) and isinstance(e.right, A.Literal)):
                self.warn(e, f"'{e.op}' on strings ignores case on GitHub ('A' == 'a' is true there)")
        return f"{left} {e.op} {right}"
