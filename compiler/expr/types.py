"""The static types of expression values, and the few rules that relate them.

The rules the language promises (docs/spec.md, "Types"): int widens to float; a path is a
string wherever text is compared, joined or passed to a function; ``any`` (a value the checker
cannot see into, such as a metrics field) fits everything and is checked at run time; nothing
else converts implicitly; ``null`` meets other values only through ``==`` and ``!=``.
"""

from __future__ import annotations

from ..record import record

KINDS = ("string", "int", "float", "bool", "path", "list", "map", "null", "any")


@record(frozen=True, slots=True)
class Type:
    kind: str
    item: "Type | None" = None     # the item type of a list; None when unknown

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown type kind {self.kind!r}")
        if self.item is not None and self.kind != "list":
            raise ValueError("only a list has an item type")

    def __str__(self) -> str:
        if self.kind == "list" and self.item is not None:
            return f"list[{self.item}]"
        return self.kind


STRING = Type("string")
INT = Type("int")
FLOAT = Type("float")
BOOL = Type("bool")
PATH = Type("path")
MAP = Type("map")
NULL = Type("null")
ANY = Type("any")
LIST = Type("list")            # a list whose items the checker does not know


def list_of(item: Type | None) -> Type:
    return Type("list", item)


def is_any(t: Type) -> bool:
    return t.kind == "any"


def is_number(t: Type) -> bool:
    return t.kind in ("int", "float")


def is_text(t: Type) -> bool:
    return t.kind in ("string", "path")


def item_type(t: Type) -> Type:
    """What indexing a list gives: its item type, or ``any`` when that is unknown."""
    return t.item if t.kind == "list" and t.item is not None else ANY


def compatible(a: Type, b: Type) -> bool:
    """Whether ``a == b`` is a sensible question: the two could hold equal values."""
    if is_any(a) or is_any(b) or a.kind == "null" or b.kind == "null":
        return True
    if is_number(a) and is_number(b) or is_text(a) and is_text(b):
        return True
    if a.kind == "list" and b.kind == "list":
        return a.item is None or b.item is None or compatible(a.item, b.item)
    return a.kind == b.kind


def unify(a: Type, b: Type) -> Type | None:
    """The one type both fit (int+float -> float, path+string -> string), or None."""
    if a == b:
        return a
    if is_any(a) or is_any(b):
        return ANY
    if is_number(a) and is_number(b):
        return FLOAT
    if is_text(a) and is_text(b):
        return STRING
    if a.kind == "list" and b.kind == "list":
        if a.item is None or b.item is None:
            return LIST
        inner = unify(a.item, b.item)
        return list_of(inner) if inner is not None else list_of(ANY)
    return None


def fits(value: Type, wanted: Type) -> bool:
    """Whether a value of type ``value`` may be used where ``wanted`` is expected."""
    if is_any(value) or is_any(wanted) or value == wanted:
        return True
    if wanted.kind == "float" and value.kind == "int":
        return True
    if is_text(wanted) and is_text(value):
        return True
    if wanted.kind == "list" and value.kind == "list":
        return wanted.item is None or value.item is None or fits(value.item, wanted.item)
    return False
