"""Direct evaluation of an expression, for the local runner: ``evaluate(expr, lookup)``.

The meaning matches the checker's: where the checker saw ``any`` it let the expression
through, and this is where a wrong value is finally caught, as an ``EvalError`` located at
the node. What each operator and function does is ``runtime``'s (the one implementation, which
generated Airflow DAGs embed); this module walks the tree and positions the problems. Pure
Python over plain values; nothing is ever handed to ``eval``.
"""

from __future__ import annotations

from typing import Any, Callable

from . import runtime as R
from .ast import Binary, Call, Expr, Index, ListExpr, Literal, Member, Ref, Unary
from .errors import EvalError
from .functions import FUNCTIONS, MAX_LIST_ITEMS

Lookup = Callable[[Ref], Any]


def evaluate(expr: Expr, lookup: Lookup) -> Any:
    """The value of ``expr``; ``lookup`` supplies the value of each context reference."""
    return _Evaluator(lookup).eval(expr)


class _Evaluator:
    """Walks the tree; what each operator, field, item and function does is ``runtime``'s."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    def eval(self, node: Expr) -> Any:
        return getattr(self, "_" + type(node).__name__)(node)

    @staticmethod
    def _at(problem: R._Problem, node: Expr, *parts: Expr) -> EvalError:
        """The EvalError of a run-time problem at ``node`` or the part of it ``problem.at`` names
        ("index", "right", or an argument's index into ``parts``)."""
        at = problem.at
        where = (node.index if at == "index" else node.right if at == "right"
                 else parts[at] if isinstance(at, int) else node)
        return EvalError(problem.message, where.start, where.end)

    def _Literal(self, node: Literal) -> Any:
        return node.value

    def _Ref(self, node: Ref) -> Any:
        try:
            return R._normalize(self.lookup(node))
        except KeyError:
            raise EvalError(f"no value for '{node.dotted}'", node.start, node.end) from None

    def _ListExpr(self, node: ListExpr) -> list:
        if len(node.items) > MAX_LIST_ITEMS:
            raise EvalError(f"a list of {len(node.items)} items is longer than {MAX_LIST_ITEMS} "
                            "(the bound on lists an expression builds)", node.start, node.end)
        return [self.eval(i) for i in node.items]

    def _Index(self, node: Index) -> Any:
        obj, idx = self.eval(node.obj), self.eval(node.index)
        try:
            return R._index(obj, idx)
        except R._Problem as p:
            raise self._at(p, node) from None

    def _Member(self, node: Member) -> Any:
        obj = self.eval(node.obj)
        try:
            return R._member(obj, node.name)
        except R._Problem as p:
            raise self._at(p, node) from None

    def _Unary(self, node: Unary) -> Any:
        v = self.eval(node.operand)
        if node.op == "!":
            return not self._bool(v, "!", node.operand)
        try:
            return R._negate(v)
        except R._Problem as p:
            raise self._at(p, node) from None

    def _bool(self, v: Any, op: str, node: Expr) -> bool:
        try:
            return R._need_bool(v, op)
        except R._Problem as p:
            raise self._at(p, node) from None

    def _Binary(self, node: Binary) -> Any:
        op = node.op
        if op in ("&&", "||"):
            left = self._bool(self.eval(node.left), op, node.left)
            if left == (op == "||"):        # short-circuit: the right side is never evaluated
                return left
            return self._bool(self.eval(node.right), op, node.right)
        a, b = self.eval(node.left), self.eval(node.right)
        try:
            return R._binary(op, a, b)
        except R._Problem as p:
            raise self._at(p, node) from None

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
        except R._Problem as p:
            raise self._at(p, node, *node.args) from None
