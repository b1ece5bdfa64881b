"""Static types for an expression: ``typecheck(expr, resolve) -> (type, issues)``.

The caller knows the pipeline (its params, steps and contexts) and supplies ``resolve``, which
gives the type of each context reference or a ``TypeIssue`` saying why it names nothing. The
checker knows the operators and functions. A problem is reported once, where it arises; the
offending node then counts as ``any`` so one mistake does not cascade into several.
"""

from __future__ import annotations

from ..record import record
TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Callable

from .ast import Binary, Call, Expr, Index, ListExpr, Literal, Member, Ref, Unary
from .functions import FUNCTIONS, ArgProblem, format_text
from .types import (ANY, BOOL, FLOAT, INT, NULL, STRING, Type, compatible, is_any, is_number,
                    is_text, item_type, list_of, unify)
from .values import with_article


@record(frozen=True, slots=True)
class TypeIssue:
    """A problem found by the checker. ``start``/``end`` are offsets into the expression."""

    code: str
    message: str
    start: int
    end: int
    help: str | None = None


Resolver = "Callable[[Ref], Type | TypeIssue]"     # a type alias, for annotations (they are strings)

_NO_TRUTHINESS = "there is no truthiness: compare explicitly, e.g. len(x) > 0, x != '' or x != 0"


def typecheck(expr: Expr, resolve: Resolver,
              types: dict[Expr, Type] | None = None) -> tuple[Type, list[TypeIssue]]:
    """The type of ``expr`` and every problem found. ``types``, when given, receives the type
    of each node (useful to a backend that renders sub-expressions differently by type)."""
    checker = _Checker(resolve, types)
    return checker.check(expr), checker.issues


class _Checker:
    def __init__(self, resolve: Resolver, types: dict[Expr, Type] | None) -> None:
        self.resolve = resolve
        self.types = types
        self.issues: list[TypeIssue] = []

    def issue(self, node: Expr, message: str, help: str | None = None, code: str = "E302",
              end: int | None = None) -> Type:
        self.issues.append(TypeIssue(code, message, node.start,
                                     node.end if end is None else end, help))
        return ANY

    def check(self, node: Expr) -> Type:
        t = getattr(self, "_" + type(node).__name__)(node)
        if self.types is not None:
            self.types[node] = t
        return t

    # -- leaves ---------------------------------------------------------------------------------
    def _Literal(self, node: Literal) -> Type:
        v = node.value
        if v is None:
            return NULL
        if isinstance(v, bool):
            return BOOL
        if isinstance(v, int):
            return INT
        if isinstance(v, float):
            return FLOAT
        return STRING

    def _Ref(self, node: Ref) -> Type:
        got = self.resolve(node)
        if isinstance(got, TypeIssue):
            self.issues.append(got)
            return ANY
        return got

    def _ListExpr(self, node: ListExpr) -> Type:
        common: Type | None = None
        for i, item in enumerate(node.items):
            t = self.check(item)
            common = t if i == 0 else (unify(common, t) if common is not None else None)
        return list_of(common if common is not None else ANY)

    # -- postfix --------------------------------------------------------------------------------
    def _Index(self, node: Index) -> Type:
        obj, idx = self.check(node.obj), self.check(node.index)
        if obj.kind == "list":
            if idx == INT or is_any(idx):
                return item_type(obj)
            return self.issue(node.index, f"a list index must be an int, not {idx}")
        if obj.kind == "map":
            if is_text(idx) or is_any(idx):
                return ANY
            return self.issue(node.index, f"a map key must be a string, not {idx}")
        if is_any(obj):
            if idx == INT or is_text(idx) or is_any(idx):
                return ANY
            return self.issue(node.index, f"an index must be an int or a string, not {idx}")
        return self.issue(node, f"cannot index {with_article(obj)}: only lists and maps have items",
                          end=node.end)

    def _Member(self, node: Member) -> Type:
        obj = self.check(node.obj)
        if obj.kind in ("map", "any"):
            return ANY
        return self.issue(node, f"cannot read field '{node.name}' of {with_article(obj)}: "
                                "only maps have fields")

    # -- operators ------------------------------------------------------------------------------
    def _Unary(self, node: Unary) -> Type:
        t = self.check(node.operand)
        if node.op == "!":
            if t == BOOL or is_any(t):
                return BOOL
            return self.issue(node.operand, f"'!' needs a bool, not {t}", _NO_TRUTHINESS)
        if is_number(t) or is_any(t):
            return t
        return self.issue(node, f"cannot negate {with_article(t)}: '-' needs a number")

    def _Binary(self, node: Binary) -> Type:
        op = node.op
        left, right = self.check(node.left), self.check(node.right)
        if op in ("&&", "||"):
            for side, t in ((node.left, left), (node.right, right)):
                if not (t == BOOL or is_any(t)):
                    self.issue(side, f"'{op}' needs bool operands, not {t}", _NO_TRUTHINESS)
            return BOOL
        if op in ("==", "!="):
            if not compatible(left, right):
                self.issue(node, f"cannot compare {left} and {right} with '{op}': "
                                 "values of these types are never equal")
            return BOOL
        if op in ("<", "<=", ">", ">="):
            if NULL in (left, right):
                self.issue(node, f"cannot compare null with '{op}': null can only be "
                                 "compared with '==' or '!='")
            elif not _orderable(left, right):
                self.issue(node, f"cannot compare {left} and {right} with '{op}': "
                                 "both sides must be numbers or both strings")
            return BOOL
        if op == "+":
            if is_number(left) and is_number(right):
                return INT if left == right == INT else FLOAT
            if is_text(left) and is_text(right):
                return STRING
            if is_any(left) or is_any(right):
                other = right if is_any(left) else left
                if is_any(other) or is_number(other) or is_text(other):
                    return ANY
            return self.issue(node, f"cannot add {left} and {right}",
                              "'+' adds two numbers or joins two strings; "
                              "to build text from other values use format('{0}{1}', a, b)")
        # - * /
        if (is_number(left) or is_any(left)) and (is_number(right) or is_any(right)):
            if op == "/":
                return FLOAT
            if is_any(left) or is_any(right):
                return ANY
            return INT if left == right == INT else FLOAT
        verb = {"-": "subtract", "*": "multiply", "/": "divide"}[op]
        return self.issue(node, f"cannot {verb} {left} and {right}: '{op}' needs numbers")

    # -- calls ----------------------------------------------------------------------------------
    def _Call(self, node: Call) -> Type:
        args = [self.check(a) for a in node.args]
        name_end = node.start + len(node.name)
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            import difflib   # only to word a "did you mean"

            close = difflib.get_close_matches(node.name, FUNCTIONS, n=1)
            help = (f"did you mean '{close[0]}'?" if close
                    else "the functions are: " + ", ".join(sorted(FUNCTIONS)))
            return self.issue(node, f"unknown function '{node.name}'", help, "E312", name_end)
        n = len(args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            return self.issue(node, f"{fn.name}() takes {fn.arity_text()}, got {n}",
                              f"usage: {fn.signature}", "E312")
        try:
            result = fn.check(args)
        except ArgProblem as p:
            where = node.args[p.index] if p.index is not None else node
            return self.issue(where, p.message, f"usage: {fn.signature}")
        if fn.name == "format" and isinstance(node.args[0], Literal) and \
                isinstance(node.args[0].value, str):
            # a literal format string can be checked against the arguments now, not at run time
            try:
                format_text(node.args[0].value, [None] * (n - 1))
            except ValueError as e:
                return self.issue(node.args[0], str(e), f"usage: {fn.signature}")
        return result


def _orderable(a: Type, b: Type) -> bool:
    if is_any(a) or is_any(b):
        other = b if is_any(a) else a
        return is_any(other) or is_number(other) or is_text(other)
    return (is_number(a) and is_number(b)) or (is_text(a) and is_text(b))

