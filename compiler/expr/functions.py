"""The fixed set of functions expressions may call (docs/spec.md, "Functions").

Each function carries both halves of its meaning side by side, so the checker and the
evaluator cannot drift apart: ``check`` maps argument types to a result type, ``run`` maps
argument values to a result. ``run`` is defined in ``runtime`` (the one run-time implementation,
which generated DAG files embed). Both report a bad argument with the argument's index
(``ArgProblem`` here, ``runtime._Problem`` there), which the caller turns into a positioned
issue or error.
"""

from __future__ import annotations

from ..record import record

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, Callable

from . import runtime as R
from .types import (ANY, BOOL, FLOAT, INT, STRING, Type, compatible, is_any, is_number,
                    is_text)
from .values import with_article

MAX_TEXT_CHARS = R._MAX_TEXT_CHARS
MAX_LIST_ITEMS = R._MAX_LIST_ITEMS
INT64_MIN, INT64_MAX = R._INT64_MIN, R._INT64_MAX
too_long = R._too_long
format_text = R._format_text


class ArgProblem(Exception):
    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index          # which argument is wrong; None for the call as a whole
        self.message = message


@record(frozen=True, slots=True)
class Function:
    name: str
    signature: str
    min_args: int
    max_args: int | None            # None: any number
    check: Callable[[list[Type]], Type]
    run: Callable[..., Any]

    def arity_text(self) -> str:
        if self.max_args == self.min_args:
            n = self.min_args
            return f"{n} argument" + ("" if n == 1 else "s")
        if self.max_args is None:
            return f"at least {self.min_args} argument" + ("" if self.min_args == 1 else "s")
        return f"{self.min_args} to {self.max_args} arguments"


def _want(ok: bool, index: int, message: str) -> None:
    if not ok:
        raise ArgProblem(index, message)


def _text_or_any(t: Type) -> bool:
    return is_text(t) or is_any(t)


def _num_or_any(t: Type) -> bool:
    return is_number(t) or is_any(t)


# -- len ---------------------------------------------------------------------------------------
def _len_check(ts: list[Type]) -> Type:
    _want(ts[0].kind in ("list", "map", "any") or is_text(ts[0]), 0,
          f"len() takes a list, string or map, not {ts[0]}")
    return INT


# -- join --------------------------------------------------------------------------------------
def _join_check(ts: list[Type]) -> Type:
    _want(ts[0].kind in ("list", "any"), 0, f"join() takes a list, not {ts[0]}")
    if len(ts) > 1:
        _want(_text_or_any(ts[1]), 1, f"join() separator must be a string, not {ts[1]}")
    return STRING


# -- contains ----------------------------------------------------------------------------------
def _contains_check(ts: list[Type]) -> Type:
    hay, needle = ts
    if is_text(hay):
        _want(_text_or_any(needle), 1, f"contains() on a string looks for a string, not {needle}")
    elif hay.kind == "list":
        _want(hay.item is None or compatible(hay.item, needle), 1,
              f"{with_article(hay)} never contains {with_article(needle)}")
    else:
        _want(is_any(hay), 0, f"contains() takes a list or string, not {hay}")
    return BOOL


# -- startsWith / endsWith ---------------------------------------------------------------------
def _affix_check(name: str) -> Callable[[list[Type]], Type]:
    def check(ts: list[Type]) -> Type:
        for i, t in enumerate(ts):
            _want(_text_or_any(t), i, f"{name}() takes strings, not {t}")
        return BOOL
    return check


# -- format ------------------------------------------------------------------------------------
def _format_check(ts: list[Type]) -> Type:
    _want(_text_or_any(ts[0]), 0, f"format() takes a format string first, not {ts[0]}")
    return STRING


# -- min / max ---------------------------------------------------------------------------------
def _extreme_check(name: str) -> Callable[[list[Type]], Type]:
    def check(ts: list[Type]) -> Type:
        if len(ts) == 1:
            t = ts[0]
            if is_any(t):
                return ANY
            _want(t.kind == "list" and (t.item is None or _num_or_any(t.item)), 0,
                  f"{name}() of one argument takes a list of numbers, not {t}")
            return t.item if t.item is not None else ANY
        for i, t in enumerate(ts):
            _want(_num_or_any(t), i, f"{name}() takes numbers, not {t}")
        if any(is_any(t) for t in ts):
            return ANY
        return INT if all(t == INT for t in ts) else FLOAT
    return check


# -- round -------------------------------------------------------------------------------------
def _round_check(ts: list[Type]) -> Type:
    _want(_num_or_any(ts[0]), 0, f"round() takes a number, not {ts[0]}")
    if len(ts) == 1:
        return INT
    _want(ts[1] == INT or is_any(ts[1]), 1, f"round() digits must be an int, not {ts[1]}")
    return FLOAT


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("len", "len(list | string | map) -> int", 1, 1, _len_check, R._fn_len),
    Function("join", "join(list, separator = ',') -> string", 1, 2, _join_check, R._fn_join),
    Function("contains", "contains(list | string, value) -> bool", 2, 2,
             _contains_check, R._fn_contains),
    Function("startsWith", "startsWith(string, prefix) -> bool", 2, 2,
             _affix_check("startsWith"), R._fn_starts_with),
    Function("endsWith", "endsWith(string, suffix) -> bool", 2, 2,
             _affix_check("endsWith"), R._fn_ends_with),
    Function("format", "format(string, value...) -> string", 1, None, _format_check, R._fn_format),
    Function("min", "min(number, number...) or min(list) -> number", 1, None,
             _extreme_check("min"), R._fn_min),
    Function("max", "max(number, number...) or max(list) -> number", 1, None,
             _extreme_check("max"), R._fn_max),
    Function("round", "round(number) -> int, round(number, digits) -> float", 1, 2,
             _round_check, R._fn_round),
)}
