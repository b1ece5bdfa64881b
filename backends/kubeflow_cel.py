"""Expressions -> CEL, the language of Kubeflow's ``triggerPolicy.condition``.

A dialect of the shared translator (``backends/translate.py``): takes one typed IR expression
and a callback that turns each context reference into the CEL text reading it
(``inputs.parameter_values['pipelinechannel--...']``, which also wires that value into the
condition task); gives CEL text, or ``Unsupported`` at the node for what CEL cannot say.

Choices that keep the meaning of the spec, not of Python or of CEL's defaults:
- KFP hands every parameter to CEL as a ``google.protobuf.Value``: numbers are doubles. So every
  number literal is written as a double (``2`` -> ``2.0``) and ``/`` is a double division,
  which is the language's ``/`` too; CEL refuses ``double < int`` on some runtimes.
- Every compound operand is parenthesised and negation is written ``!(...)``: precedence
  cannot drift, and kfp.local's Python rewrite of CEL (``!(`` -> ``not (``) reads it too.
- Fields are read with ``['name']``: a metrics object or map arrives as a Struct, which CEL
  indexes like a map (and kfp.local's rewrite like a dict).
"""

from __future__ import annotations

from typing import Callable

from pipespec import expr as E
from pipespec.backends.translate import Refused, Translator

RefToCel = Callable[[E.Ref], str]


def _contains(tr: "CelTranslator", node: E.Call) -> str:
    hay, needle = node.args
    kind = tr.type_of(hay).kind
    if kind in ("string", "path"):
        return f"{tr.gen(hay)}.contains({tr.gen(needle)})"
    if kind == "list":
        return f"({tr.gen(needle)} in {tr.gen(hay)})"
    tr.unsupported(node, "contains() on a value whose type is only known at run time cannot be "
                         "translated to CEL (a list needs 'in', a string '.contains()')")


def _method(name: str) -> Callable[["CelTranslator", E.Call], str]:
    return lambda tr, node: f"{tr.gen(node.args[0])}.{name}({tr.gen(node.args[1])})"


_NOT_IN_CEL = Refused("{name}() cannot be translated to CEL: CEL has no {name}() in its standard library")


class CelTranslator(Translator):
    """The CEL dialect. ``ref`` renders a context reference (and wires its value into the
    condition task); it refuses a reference a condition cannot read by ``unsupported``."""

    target = "kubeflow"
    FUNCTIONS = {
        "len": lambda tr, node: f"size({tr.gen(node.args[0])})",
        "contains": _contains,
        "startsWith": _method("startsWith"),
        "endsWith": _method("endsWith"),
        "join": _NOT_IN_CEL, "format": _NOT_IN_CEL, "min": _NOT_IN_CEL, "max": _NOT_IN_CEL,
        "round": _NOT_IN_CEL,
    }

    def __init__(self, ref: Callable[["CelTranslator", E.Ref], str]) -> None:
        super().__init__()
        self._ref = ref

    def write_literal(self, value) -> str:
        return cel_literal(value)

    def ref(self, node: E.Ref) -> str:
        return self._ref(self, node)

    def listexpr(self, node: E.ListExpr) -> str:
        return "[" + ", ".join(self.gen(i) for i in node.items) + "]"

    def index(self, node: E.Index) -> str:
        idx = node.index
        if isinstance(idx, E.Literal) and isinstance(idx.value, str):
            return f"{self.gen(node.obj)}[{cel_string(idx.value)}]"
        if isinstance(idx, E.Literal) and isinstance(idx.value, int) and not isinstance(idx.value, bool):
            return f"{self.gen(node.obj)}[{idx.value}]"
        # a computed index is a double in KFP; CEL indexes lists with int only
        return f"{self.gen(node.obj)}[int({self.gen(idx)})]"

    def member(self, node: E.Member) -> str:
        return f"{self.gen(node.obj)}[{cel_string(node.name)}]"

    def unary(self, node: E.Unary) -> str:
        inner = self.gen(node.operand)
        if self.unparen(inner) == inner:
            inner = self.paren(inner)
        return ("!" if node.op == "!" else "-") + inner

    def binary(self, node: E.Binary) -> str:
        return self.paren(f"{self.gen(node.left)} {node.op} {self.gen(node.right)}")


def cel_string(s: str) -> str:
    """A CEL (and Python) single-quoted string literal of ``s``."""
    out = s.replace("\\", "\\\\").replace("'", "\\'")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{out}'"


def cel_literal(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        f = float(v)
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError("CEL has no literal for NaN or infinity")
        return repr(f)
    if isinstance(v, str):
        return cel_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(cel_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{cel_string(str(k))}: {cel_literal(x)}" for k, x in sorted(v.items())) + "}"
    raise ValueError(f"no CEL literal for {type(v).__name__}")
