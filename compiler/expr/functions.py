"""The fixed set of functions expressions may call (docs/spec.md, "Functions").

Each function carries both halves of its meaning side by side, so the checker and the
evaluator cannot drift apart: ``check`` maps argument types to a result type, ``run`` maps
argument values to a result. Both report a bad argument by raising ``ArgProblem`` with the
argument's index, which the caller turns into a positioned issue or error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .types import (ANY, BOOL, FLOAT, INT, STRING, Type, compatible, is_any, is_number,
                    is_text)
from .values import equal, with_article, is_number as is_num_value, kind_of, to_text


# What an expression may build at run time (docs/spec.md "Errors"): without a bound a 454-byte
# nest of format('{0}{0}...') calls builds 10^10 characters. A value passed in (a param, an
# output) may be longer; only what the expression makes is bounded.
MAX_TEXT_CHARS = 1_000_000
MAX_LIST_ITEMS = 10_000
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


def too_long(n: int, more: bool = False) -> str:
    return (f"the result would be {'more than ' if more else ''}{n} characters long, longer than "
            f"{MAX_TEXT_CHARS} (the bound on text an expression builds)")


class ArgProblem(Exception):
    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index          # which argument is wrong; None for the call as a whole
        self.message = message


@dataclass(frozen=True, slots=True)
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


def _len_run(v: Any) -> int:
    _want(isinstance(v, (str, list, dict)), 0,
          f"len() takes a list, string or map, not {kind_of(v)}")
    return len(v)


# -- join --------------------------------------------------------------------------------------
def _join_check(ts: list[Type]) -> Type:
    _want(ts[0].kind in ("list", "any"), 0, f"join() takes a list, not {ts[0]}")
    if len(ts) > 1:
        _want(_text_or_any(ts[1]), 1, f"join() separator must be a string, not {ts[1]}")
    return STRING


def _join_run(items: Any, sep: Any = ",") -> str:
    _want(isinstance(items, list), 0, f"join() takes a list, not {kind_of(items)}")
    _want(isinstance(sep, str), 1, f"join() separator must be a string, not {kind_of(sep)}")
    texts = [to_text(i) for i in items]
    n = sum(map(len, texts)) + len(sep) * max(0, len(texts) - 1)
    _want(n <= MAX_TEXT_CHARS, 0, too_long(n))
    return sep.join(texts)


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


def _contains_run(hay: Any, needle: Any) -> bool:
    if isinstance(hay, str):
        _want(isinstance(needle, str), 1,
              f"contains() on a string looks for a string, not {kind_of(needle)}")
        return needle in hay
    _want(isinstance(hay, list), 0, f"contains() takes a list or string, not {kind_of(hay)}")
    return any(equal(x, needle) for x in hay)


# -- startsWith / endsWith ---------------------------------------------------------------------
def _affix_check(name: str) -> Callable[[list[Type]], Type]:
    def check(ts: list[Type]) -> Type:
        for i, t in enumerate(ts):
            _want(_text_or_any(t), i, f"{name}() takes strings, not {t}")
        return BOOL
    return check


def _affix_run(name: str, method: str) -> Callable[..., bool]:
    def run(s: Any, affix: Any) -> bool:
        for i, v in enumerate((s, affix)):
            _want(isinstance(v, str), i, f"{name}() takes strings, not {kind_of(v)}")
        return getattr(s, method)(affix)
    return run


# -- format ------------------------------------------------------------------------------------
def format_text(fmt: str, args: list[Any]) -> str:
    """GitHub-style ``format``: ``{0}`` is the first argument after the format string, and
    ``{{``/``}}`` are literal braces. Raises ValueError on a malformed format string."""
    out: list[str] = []
    i, n = 0, len(fmt)
    size = 0
    texts = [to_text(a) for a in args]
    while i < n:
        if size > MAX_TEXT_CHARS:
            raise ValueError(too_long(size, more=True))
        ch = fmt[i]
        if ch == "{":
            if fmt.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            close = fmt.find("}", i)
            digits = fmt[i + 1:close] if close > 0 else ""
            if not digits.isascii() or not digits.isdigit():
                raise ValueError(f"format string has a '{{' at {i} that is not '{{N}}' or '{{{{'")
            k = int(digits)
            if k >= len(args):
                raise ValueError(f"format string refers to {{{k}}} but only {len(args)} "
                                 f"argument{'' if len(args) == 1 else 's'} follow")
            out.append(texts[k])
            size += len(texts[k])
            i = close + 1
        elif ch == "}":
            if not fmt.startswith("}}", i):
                raise ValueError(f"format string has a lone '}}' at {i}: write '}}}}'")
            out.append("}")
            size += 1
            i += 2
        else:
            out.append(ch)
            size += 1
            i += 1
    if size > MAX_TEXT_CHARS:
        raise ValueError(too_long(size))
    return "".join(out)


def _format_check(ts: list[Type]) -> Type:
    _want(_text_or_any(ts[0]), 0, f"format() takes a format string first, not {ts[0]}")
    return STRING


def _format_run(fmt: Any, *args: Any) -> str:
    _want(isinstance(fmt, str), 0, f"format() takes a format string first, not {kind_of(fmt)}")
    try:
        return format_text(fmt, list(args))
    except ValueError as e:
        raise ArgProblem(0, str(e)) from None


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


def _extreme_run(name: str, pick: Callable) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        if len(args) == 1:
            _want(isinstance(args[0], list), 0,
                  f"{name}() of one argument takes a list of numbers, not {kind_of(args[0])}")
            values, where = args[0], lambda i: 0
            _want(bool(values), 0, f"{name}() of an empty list")
        else:
            values, where = args, lambda i: i
        for i, v in enumerate(values):
            _want(is_num_value(v), where(i), f"{name}() takes numbers, not {kind_of(v)}")
        result = pick(values)
        # int only when every operand is int, as the checker promises
        return float(result) if any(isinstance(v, float) for v in values) else result
    return run


# -- round -------------------------------------------------------------------------------------
def _round_check(ts: list[Type]) -> Type:
    _want(_num_or_any(ts[0]), 0, f"round() takes a number, not {ts[0]}")
    if len(ts) == 1:
        return INT
    _want(ts[1] == INT or is_any(ts[1]), 1, f"round() digits must be an int, not {ts[1]}")
    return FLOAT


def _round_run(x: Any, digits: Any = None) -> Any:
    _want(is_num_value(x), 0, f"round() takes a number, not {kind_of(x)}")
    if digits is not None:
        _want(isinstance(digits, int) and not isinstance(digits, bool), 1,
              f"round() digits must be an int, not {kind_of(digits)}")
    try:
        if digits is None:
            r = int(round(x))       # halves go to the even neighbour, as in Python
            _want(INT64_MIN <= r <= INT64_MAX, 0, f"round() of {x!r} is outside the 64-bit integer range")
            return r
        return float(round(x, digits))
    except (OverflowError, ValueError):
        raise ArgProblem(0, f"round() cannot round {x!r}") from None


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("len", "len(list | string | map) -> int", 1, 1, _len_check, _len_run),
    Function("join", "join(list, separator = ',') -> string", 1, 2, _join_check, _join_run),
    Function("contains", "contains(list | string, value) -> bool", 2, 2,
             _contains_check, _contains_run),
    Function("startsWith", "startsWith(string, prefix) -> bool", 2, 2,
             _affix_check("startsWith"), _affix_run("startsWith", "startswith")),
    Function("endsWith", "endsWith(string, suffix) -> bool", 2, 2,
             _affix_check("endsWith"), _affix_run("endsWith", "endswith")),
    Function("format", "format(string, value...) -> string", 1, None, _format_check, _format_run),
    Function("min", "min(number, number...) or min(list) -> number", 1, None,
             _extreme_check("min"), _extreme_run("min", min)),
    Function("max", "max(number, number...) or max(list) -> number", 1, None,
             _extreme_check("max"), _extreme_run("max", max)),
    Function("round", "round(number) -> int, round(number, digits) -> float", 1, 2,
             _round_check, _round_run),
)}
