"""Direct evaluation of an expression, for the local runner: ``evaluate(expr, lookup)``.

The meaning matches the checker's: where the checker saw ``any`` it let the expression
through, and this is where a wrong value is finally caught, as an ``EvalError`` located at
the node. Pure Python over plain values; nothing is ever handed to ``eval``.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from .ast import Binary, Call, Expr, Index, ListExpr, Literal, Member, Ref, Unary
from .errors import EvalError
from .functions import (FUNCTIONS, INT64_MAX, INT64_MIN, MAX_LIST_ITEMS, MAX_TEXT_CHARS, ArgProblem,
                        too_long)
from .values import equal, with_article, is_number, kind_of, normalize

Lookup = Callable[[Ref], Any]

_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"-": operator.sub, "*": operator.mul, "/": operator.truediv}
_VERB = {"-": "subtract", "*": "multiply", "/": "divide"}


def evaluate(expr: Expr, lookup: Lookup) -> Any:
    """The value of ``expr``; ``lookup`` supplies the value of each context reference."""
    return _Evaluator(lookup).eval(expr)


class _Evaluator:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    def eval(self, node: Expr) -> Any:
        return getattr(self, "_" + type(node).__name__)(node)

    def _Literal(self, node: Literal) -> Any:
        return node.value

    def _Ref(self, node: Ref) -> Any:
        try:
            return normalize(self.lookup(node))
        except KeyError:
            raise EvalError(f"no value for '{node.dotted}'", node.start, node.end) from None

    def _ListExpr(self, node: ListExpr) -> list:
        if len(node.items) > MAX_LIST_ITEMS:
            raise EvalError(f"a list of {len(node.items)} items is longer than {MAX_LIST_ITEMS} "
                            "(the bound on lists an expression builds)", node.start, node.end)
        return [self.eval(i) for i in node.items]

    def _Index(self, node: Index) -> Any:
        obj, idx = self.eval(node.obj), self.eval(node.index)
        if isinstance(obj, list):
            if not (isinstance(idx, int) and not isinstance(idx, bool)):
                raise EvalError(f"a list index must be an int, not {kind_of(idx)}",
                                node.index.start, node.index.end)
            if not 0 <= idx < len(obj):
                raise EvalError(f"index {idx} is out of range for a list of {len(obj)} "
                                f"item{'' if len(obj) == 1 else 's'}", node.index.start,
                                node.index.end)
            return obj[idx]
        if isinstance(obj, dict):
            if not isinstance(idx, str):
                raise EvalError(f"a map key must be a string, not {kind_of(idx)}",
                                node.index.start, node.index.end)
            return self._field(obj, idx, node)
        raise EvalError(f"cannot index {with_article(kind_of(obj))}: "
                        "only lists and maps have items",
                        node.start, node.end)

    def _Member(self, node: Member) -> Any:
        obj = self.eval(node.obj)
        if not isinstance(obj, dict):
            raise EvalError(f"cannot read field '{node.name}' of {with_article(kind_of(obj))}: "
                            "only maps have fields", node.start, node.end)
        return self._field(obj, node.name, node)

    @staticmethod
    def _field(obj: dict, key: str, node: Expr) -> Any:
        if key not in obj:
            known = ", ".join(sorted(map(str, obj))[:10]) or "none"
            raise EvalError(f"the map has no key '{key}' (keys: {known})", node.start, node.end)
        return normalize(obj[key])

    def _Unary(self, node: Unary) -> Any:
        v = self.eval(node.operand)
        if node.op == "!":
            return not self._bool(v, "!", node.operand)
        if not is_number(v):
            raise EvalError(f"cannot negate {with_article(kind_of(v))}: '-' needs a number",
                            node.start, node.end)
        return _bounded(-v, node)

    @staticmethod
    def _bool(v: Any, op: str, node: Expr) -> bool:
        if not isinstance(v, bool):
            raise EvalError(f"'{op}' needs a bool, not {kind_of(v)}", node.start, node.end)
        return v

    def _Binary(self, node: Binary) -> Any:
        op = node.op
        if op in ("&&", "||"):
            left = self._bool(self.eval(node.left), op, node.left)
            if left == (op == "||"):        # short-circuit: the right side is never evaluated
                return left
            return self._bool(self.eval(node.right), op, node.right)
        a, b = self.eval(node.left), self.eval(node.right)
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        if op in _ORDER:
            if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
                return _ORDER[op](a, b)
            raise EvalError(f"cannot compare {kind_of(a)} and {kind_of(b)} with '{op}'",
                            node.start, node.end)
        if op == "+":
            if isinstance(a, str) and isinstance(b, str) and len(a) + len(b) > MAX_TEXT_CHARS:
                raise EvalError(too_long(len(a) + len(b)), node.start, node.end)
            if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
                return self._arith(operator.add, a, b, node)
            raise EvalError(f"cannot add {kind_of(a)} and {kind_of(b)}", node.start, node.end)
        if not (is_number(a) and is_number(b)):
            raise EvalError(f"cannot {_VERB[op]} {kind_of(a)} and {kind_of(b)}: "
                            f"'{op}' needs numbers", node.start, node.end)
        if op == "/" and b == 0:
            raise EvalError("division by zero", node.right.start, node.right.end)
        return self._arith(_ARITH[op], a, b, node)

    @staticmethod
    def _arith(fn: Callable, a: Any, b: Any, node: Expr) -> Any:
        try:
            return _bounded(fn(a, b), node)
        except OverflowError:
            raise EvalError("number too large", node.start, node.end) from None

    def _Call(self, node: Call) -> Any:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            raise EvalError(f"unknown function '{node.name}'", node.start, node.end)
        n = len(node.args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            raise EvalError(f"{fn.name}() takes {fn.arity_text()}, got {n}", node.start, node.end)
        args = [self.eval(a) for a in node.args]
        try:
            return fn.run(*args)
        except ArgProblem as p:
            where = node.args[p.index] if p.index is not None else node
            raise EvalError(p.message, where.start, where.end) from None


def _bounded(v: Any, node: Expr) -> Any:
    """A number an operator made: an int within int64, a float finite (what every target holds)."""
    if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
        raise EvalError("the result is outside the 64-bit integer range", node.start, node.end)
    if type(v) is float and v - v != 0:
        raise EvalError("number too large: the result is not a finite float", node.start, node.end)
    return v
