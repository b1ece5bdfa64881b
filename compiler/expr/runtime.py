"""The expression language at run time, over plain values: equality, text, operators, fields,
items and the run half of every function. The one implementation of what an expression does:
``evaluate`` (the local runner and the step executor) calls it, and the Airflow backend copies
the source of the definitions a DAG needs, verbatim, into the generated file
(``backends/airflow_expr.py``), because a DAG file may import only Airflow and the standard
library (pipespec need not be installed on the scheduler).

Hence three rules, each checked by a test (tests/expr/test_runtime.py):
- only the standard library is imported, and only modules the DAG template imports too;
- nothing of pipespec is used, so each definition stands alone with those it names;
- every top-level name starts with ``_``: in a DAG file the names that do not are the tasks of
  the steps (step names start with a letter), so no step can shadow a helper.

A problem raises ``_Problem``, saying where it lies (``at``: an argument's index, ``"index"``,
``"right"``, or None for the whole node): ``evaluate`` turns it into an ``EvalError`` at that
node, and in a DAG it fails the task with the same message.
"""

from __future__ import annotations

import json
import os

# What an expression may build at run time (docs/spec.md "Errors"): without a bound a 454-byte
# nest of format('{0}{0}...') calls builds 10^10 characters. A value passed in (a param, an
# output) may be longer; only what the expression makes is bounded.
_MAX_TEXT_CHARS = 1_000_000
_MAX_LIST_ITEMS = 10_000
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


class _Problem(Exception):
    """An expression went wrong at run time. ``at`` says where: an argument's index, "index",
    "right", or None for the whole expression node."""

    def __init__(self, message, at=None):
        super().__init__(message)
        self.message = message
        self.at = at


def _want(ok, at, message):
    if not ok:
        raise _Problem(message, at)


def _too_long(n, more=False):
    return (f"the result would be {'more than ' if more else ''}{n} characters long, longer than "
            f"{_MAX_TEXT_CHARS} (the bound on text an expression builds)")


# -- values ------------------------------------------------------------------------------------
def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind_of(v):
    """A value's type in the language's words, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, dict):
        return "map"
    return type(v).__name__


def _with_article(word):
    """``word`` with its indefinite article, for messages: 'an int', 'a string'."""
    text = str(word)
    return ("an " if text[:1] in ("a", "e", "i", "o", "u") else "a ") + text


def _normalize(v):
    """Bring a value supplied from outside to the language's forms (paths are strings)."""
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, tuple):
        return [_normalize(x) for x in v]
    return v


def _equal(a, b):
    """``==`` of the language: numbers by value, bool only with bool, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return a == b


def _to_text(value):
    """How a value embedded in text reads: the same on every target, so it is spelled here."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)          # shortest round-trip form; 1.0 stays 1.0
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_json_default)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _json_default(v):
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError(f"cannot render {type(v).__name__} as text")


# -- operators ---------------------------------------------------------------------------------
def _need_bool(v, op):
    """``v`` as an operand of ``op`` (``!``, ``&&``, ``||``): there is no truthiness."""
    if not isinstance(v, bool):
        raise _Problem(f"'{op}' needs a bool, not {_kind_of(v)}")
    return v


def _bounded(v):
    """A number an operator made: an int within int64, a float finite (what every target holds)."""
    if type(v) is int and not _INT64_MIN <= v <= _INT64_MAX:
        raise _Problem("the result is outside the 64-bit integer range")
    if type(v) is float and v - v != 0:
        raise _Problem("number too large: the result is not a finite float")
    return v


def _negate(v):
    if not _is_number(v):
        raise _Problem(f"cannot negate {_with_article(_kind_of(v))}: '-' needs a number")
    return _bounded(-v)


_ORDER = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
          ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
          "*": lambda a, b: a * b, "/": lambda a, b: a / b}
_VERB = {"-": "subtract", "*": "multiply", "/": "divide"}


def _binary(op, a, b):
    """``a op b`` for every operator but ``&&`` and ``||``, which the caller short-circuits."""
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    numbers, texts = _is_number(a) and _is_number(b), isinstance(a, str) and isinstance(b, str)
    if op in _ORDER:
        if numbers or texts:
            return _ORDER[op](a, b)
        raise _Problem(f"cannot compare {_kind_of(a)} and {_kind_of(b)} with '{op}'")
    if op == "+":
        if texts and len(a) + len(b) > _MAX_TEXT_CHARS:
            raise _Problem(_too_long(len(a) + len(b)))
        if not (numbers or texts):
            raise _Problem(f"cannot add {_kind_of(a)} and {_kind_of(b)}")
    elif not numbers:
        raise _Problem(f"cannot {_VERB[op]} {_kind_of(a)} and {_kind_of(b)}: '{op}' needs numbers")
    elif op == "/" and b == 0:
        raise _Problem("division by zero", "right")
    try:
        return _bounded(_ARITH[op](a, b))
    except OverflowError:
        raise _Problem("number too large") from None


def _member(obj, name):
    """``obj.name``."""
    if not isinstance(obj, dict):
        raise _Problem(f"cannot read field '{name}' of {_with_article(_kind_of(obj))}: "
                       "only maps have fields")
    return _field(obj, name)


def _field(obj, key):
    if key not in obj:
        known = ", ".join(sorted(map(str, obj))[:10]) or "none"
        raise _Problem(f"the map has no key '{key}' (keys: {known})")
    return _normalize(obj[key])


def _index(obj, idx):
    """``obj[idx]``: an item of a list, or a field of a map."""
    if isinstance(obj, list):
        if not (isinstance(idx, int) and not isinstance(idx, bool)):
            raise _Problem(f"a list index must be an int, not {_kind_of(idx)}", "index")
        if not 0 <= idx < len(obj):
            raise _Problem(f"index {idx} is out of range for a list of {len(obj)} "
                           f"item{'' if len(obj) == 1 else 's'}", "index")
        return obj[idx]
    if isinstance(obj, dict):
        if not isinstance(idx, str):
            raise _Problem(f"a map key must be a string, not {_kind_of(idx)}", "index")
        return _field(obj, idx)
    raise _Problem(f"cannot index {_with_article(_kind_of(obj))}: only lists and maps have items")


# -- functions: the run half (compiler/expr/functions.py holds the check half beside it) -------
def _fn_len(v):
    _want(isinstance(v, (str, list, dict)), 0, f"len() takes a list, string or map, not {_kind_of(v)}")
    return len(v)


def _fn_join(items, sep=","):
    _want(isinstance(items, list), 0, f"join() takes a list, not {_kind_of(items)}")
    _want(isinstance(sep, str), 1, f"join() separator must be a string, not {_kind_of(sep)}")
    texts = [_to_text(i) for i in items]
    n = sum(map(len, texts)) + len(sep) * max(0, len(texts) - 1)
    _want(n <= _MAX_TEXT_CHARS, 0, _too_long(n))
    return sep.join(texts)


def _fn_contains(hay, needle):
    if isinstance(hay, str):
        _want(isinstance(needle, str), 1,
              f"contains() on a string looks for a string, not {_kind_of(needle)}")
        return needle in hay
    _want(isinstance(hay, list), 0, f"contains() takes a list or string, not {_kind_of(hay)}")
    return any(_equal(x, needle) for x in hay)


def _affix(name, s, affix):
    for i, v in enumerate((s, affix)):
        _want(isinstance(v, str), i, f"{name}() takes strings, not {_kind_of(v)}")


def _fn_starts_with(s, prefix):
    _affix("startsWith", s, prefix)
    return s.startswith(prefix)


def _fn_ends_with(s, suffix):
    _affix("endsWith", s, suffix)
    return s.endswith(suffix)


def _format_text(fmt, args):
    """GitHub-style ``format``: ``{0}`` is the first argument after the format string, and
    ``{{``/``}}`` are literal braces. Raises ValueError on a malformed format string."""
    out = []
    i, n = 0, len(fmt)
    size = 0
    texts = [_to_text(a) for a in args]
    while i < n:
        if size > _MAX_TEXT_CHARS:
            raise ValueError(_too_long(size, more=True))
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
    if size > _MAX_TEXT_CHARS:
        raise ValueError(_too_long(size))
    return "".join(out)


def _fn_format(fmt, *args):
    _want(isinstance(fmt, str), 0, f"format() takes a format string first, not {_kind_of(fmt)}")
    try:
        return _format_text(fmt, list(args))
    except ValueError as e:
        raise _Problem(str(e), 0) from None


def _extreme(name, pick, args):
    if len(args) == 1:
        _want(isinstance(args[0], list), 0,
              f"{name}() of one argument takes a list of numbers, not {_kind_of(args[0])}")
        values, spread = args[0], False
        _want(bool(values), 0, f"{name}() of an empty list")
    else:
        values, spread = args, True
    for i, v in enumerate(values):
        _want(_is_number(v), i if spread else 0, f"{name}() takes numbers, not {_kind_of(v)}")
    result = pick(values)
    # int only when every operand is int, as the checker promises
    return float(result) if any(isinstance(v, float) for v in values) else result


def _fn_min(*args):
    return _extreme("min", min, args)


def _fn_max(*args):
    return _extreme("max", max, args)


def _fn_round(x, digits=None):
    _want(_is_number(x), 0, f"round() takes a number, not {_kind_of(x)}")
    if digits is not None:
        _want(isinstance(digits, int) and not isinstance(digits, bool), 1,
              f"round() digits must be an int, not {_kind_of(digits)}")
    try:
        if digits is None:
            r = int(round(x))       # halves go to the even neighbour, as in Python
            _want(_INT64_MIN <= r <= _INT64_MAX, 0, f"round() of {x!r} is outside the 64-bit integer range")
            return r
        return float(round(x, digits))
    except (OverflowError, ValueError):
        raise _Problem(f"round() cannot round {x!r}", 0) from None


# function name -> its run half, for ``evaluate``; a DAG calls the _fn_* functions by name
_RUN = {"len": _fn_len, "join": _fn_join, "contains": _fn_contains, "startsWith": _fn_starts_with,
        "endsWith": _fn_ends_with, "format": _fn_format, "min": _fn_min, "max": _fn_max,
        "round": _fn_round}
