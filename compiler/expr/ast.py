"""The expression syntax tree: frozen dataclass nodes that the parser builds.

Every node carries ``start``/``end``, character offsets into the parsed source, so a checker
can point at the exact operand. Positions are metadata and take no part in equality: two nodes
are equal when they say the same thing, which keeps tests readable (``parse('a') == Ref('a')``)
and lets a node key a table of inferred types.
"""

from __future__ import annotations

from ..record import record, field

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, Iterator


@record(frozen=True, slots=True)
class Expr:
    start: int = field(default=0, compare=False, kw_only=True)
    end: int = field(default=0, compare=False, kw_only=True)

    def children(self) -> tuple["Expr", ...]:
        return ()


@record(frozen=True, slots=True)
class Literal(Expr):
    value: Any                      # int | float | str | bool | None
    # Python says 1 == 1.0 == True; the language does not, so the value's class is compared too.
    _kind: str = field(init=False, repr=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_kind", type(self.value).__name__)


@record(frozen=True, slots=True)
class Ref(Expr):
    """A context path: ``params.n`` is ``Ref('params', ('n',))``, ``item`` is ``Ref('item')``."""

    root: str
    path: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return ".".join((self.root, *self.path))


@record(frozen=True, slots=True)
class Index(Expr):
    obj: Expr
    index: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.obj, self.index)


@record(frozen=True, slots=True)
class Member(Expr):
    """``.name`` after something that is not a plain context path (an index, call, parenthesis)."""

    obj: Expr
    name: str

    def children(self) -> tuple[Expr, ...]:
        return (self.obj,)


@record(frozen=True, slots=True)
class Unary(Expr):
    op: str                         # '!' or '-'
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@record(frozen=True, slots=True)
class Binary(Expr):
    op: str                         # == != < <= > >= && || + - * /
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@record(frozen=True, slots=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.args


@record(frozen=True, slots=True)
class ListExpr(Expr):
    items: tuple[Expr, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.items


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children, left to right."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


def refs(expr: Expr) -> Iterator[Ref]:
    """Every context reference in ``expr``, in source order."""
    return (n for n in walk(expr) if isinstance(n, Ref))
