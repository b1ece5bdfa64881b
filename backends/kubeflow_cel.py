"""Expressions -> CEL, the language of Kubeflow's ``triggerPolicy.condition``.

Takes one typed expression AST of the spec and a callback that turns each context reference
into the CEL text reading it (``inputs.parameter_values['pipelinechannel--...']``, which also
wires that value into the condition task); gives CEL text, or raises ``CelError`` for what CEL
cannot say, located at the node so the backend reports it at the right column.

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


class CelError(Exception):
    def __init__(self, message: str, node: E.Expr) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


# Functions of the language that have a CEL spelling; the rest are refused by name.
_NO_CEL = {
    "join": "CEL has no join() in its standard library",
    "format": "CEL has no format() in its standard library",
    "min": "CEL has no min() in its standard library",
    "max": "CEL has no max() in its standard library",
    "round": "CEL has no round() in its standard library",
}

RefToCel = Callable[[E.Ref], str]
TypeOf = Callable[[E.Expr], E.Type]


def to_cel(expr: E.Expr, ref: RefToCel, type_of: TypeOf) -> str:
    """The CEL text of ``expr``; ``ref`` renders a context reference, ``type_of`` types a node."""
    text = _Cel(ref, type_of).emit(expr)
    return text[1:-1] if _wrapped(text) else text


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


def _wrapped(text: str) -> bool:
    """Whether ``text`` is one parenthesised group from its first to its last character."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth, quote, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quote = False
        elif ch == "'":
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
        i += 1
    return True


class _Cel:
    def __init__(self, ref: RefToCel, type_of: TypeOf) -> None:
        self.ref = ref
        self.type_of = type_of

    def emit(self, node: E.Expr) -> str:
        return getattr(self, "_" + type(node).__name__)(node)

    def _Literal(self, node: E.Literal) -> str:
        try:
            return cel_literal(node.value)
        except ValueError as e:
            raise CelError(str(e), node) from None

    def _Ref(self, node: E.Ref) -> str:
        return self.ref(node)

    def _ListExpr(self, node: E.ListExpr) -> str:
        return "[" + ", ".join(self.emit(i) for i in node.items) + "]"

    def _Index(self, node: E.Index) -> str:
        idx = node.index
        if isinstance(idx, E.Literal) and isinstance(idx.value, str):
            return f"{self.emit(node.obj)}[{cel_string(idx.value)}]"
        if isinstance(idx, E.Literal) and isinstance(idx.value, int) and not isinstance(idx.value, bool):
            return f"{self.emit(node.obj)}[{idx.value}]"
        # a computed index is a double in KFP; CEL indexes lists with int only
        return f"{self.emit(node.obj)}[int({self.emit(idx)})]"

    def _Member(self, node: E.Member) -> str:
        return f"{self.emit(node.obj)}[{cel_string(node.name)}]"

    def _Unary(self, node: E.Unary) -> str:
        inner = self.emit(node.operand)
        if not _wrapped(inner):
            inner = f"({inner})"
        return ("!" if node.op == "!" else "-") + inner

    def _Binary(self, node: E.Binary) -> str:
        return f"({self.emit(node.left)} {node.op} {self.emit(node.right)})"

    def _Call(self, node: E.Call) -> str:
        name, args = node.name, node.args
        if name in _NO_CEL:
            raise CelError(f"{name}() cannot be translated to CEL: {_NO_CEL[name]}", node)
        if name == "len":
            return f"size({self.emit(args[0])})"
        if name == "contains":
            hay = self.type_of(args[0])
            if hay.kind in ("string", "path"):
                return f"{self.emit(args[0])}.contains({self.emit(args[1])})"
            if hay.kind == "list":
                return f"({self.emit(args[1])} in {self.emit(args[0])})"
            raise CelError("contains() on a value whose type is only known at run time cannot be "
                           "translated to CEL (a list needs 'in', a string '.contains()')", node)
        if name in ("startsWith", "endsWith"):
            return f"{self.emit(args[0])}.{name}({self.emit(args[1])})"
        raise CelError(f"{name}() has no CEL translation", node)
