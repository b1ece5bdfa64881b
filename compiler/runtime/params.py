"""Run-time parameter values: defaults applied, command-line text coerced to the declared types.

``coerce_params(pipeline, overrides)`` takes ``{name: value}`` where a value is either text from
the command line (``-p n=3``) or an already-typed value (``--params-json``, the Python API) and
returns every parameter's value, typed, with enum/minimum/maximum enforced.

Command-line text for a list is read two ways, both documented in docs/runner.md:
``[a, b]`` (brackets; JSON when it parses as JSON, else comma-separated bare words) or
``a,b`` (comma-separated, no brackets). An item holding a comma needs JSON: ``'["a,b"]'``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .. import ir

_BOOLS = {"true": True, "false": False}
# numbers as the spec's grammar writes them (the YAML 1.2 core schema, docs/spec.md "Literals"):
# ASCII digits only (int() and float() also take '١٢', '１２' and '1_0'), no nan or inf
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1   # what every target holds (docs/spec.md "Bounds")
_SPACE = " \t\r\n"


def parse_int(text: str) -> int:
    """``'12'`` -> 12; ValueError(reason) for anything the spec grammar would not read as an
    int within int64 (no Unicode digits, no underscores, no more digits than fit)."""
    t = text.strip(_SPACE)
    if not _INT.match(t):
        raise ValueError("is not an int")
    if len(t.lstrip("+-").lstrip("0")) > 19:
        raise ValueError(_OUT_OF_INT64)
    v = int(t)
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError(_OUT_OF_INT64)
    return v


def parse_float(text: str) -> float:
    """``'1e3'`` -> 1000.0; ValueError(reason) for nan, inf, '1_0.5', Unicode digits and a
    literal that overflows a float."""
    t = text.strip(_SPACE)
    if not _FLOAT.match(t):
        raise ValueError("is not a number (digits, '.', an exponent; no nan or inf)")
    v = float(t)
    if not math.isfinite(v):
        raise ValueError("is too large for a 64-bit float")
    return v


_OUT_OF_INT64 = f"is outside the 64-bit integer range ({INT64_MIN} to {INT64_MAX})"


def loads_json(text: str) -> Any:
    """``json.loads`` that cannot be made to crash by a number's size: an integer literal with
    more digits than any int64 raises ValueError saying so (plain ``json.loads`` raises
    Python's own 4300-digit error, or converts for seconds)."""
    return json.loads(text, parse_int=_json_int)


def _json_int(digits: str) -> int:
    if len(digits.lstrip("-").lstrip("0")) > 19:
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits is outside the 64-bit range")
    return int(digits)


class ParamError(ValueError):
    """A parameter value that does not fit its declaration. ``str()`` says which, and why."""

    def __init__(self, name: str, type_: str, value: Any, reason: str) -> None:
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        super().__init__(f"param '{name}' ({type_}): {shown!r} {reason}" if shown != "" else
                         f"param '{name}' ({type_}): {reason}")
        self.name, self.type, self.value, self.reason = name, type_, value, reason


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; raises ParamError on a missing '='."""
    out: dict[str, str] = {}
    for text in items:
        name, eq, value = text.partition("=")
        if not eq or not name.strip():
            raise ParamError(name or text, "?", text, "is not NAME=VALUE")
        out[name.strip()] = value
    return out


def coerce_params(pipeline: ir.Pipeline, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every declared parameter's value: the override (coerced) or the default."""
    overrides = dict(overrides or {})
    declared = {p.name: p for p in pipeline.params}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        name = unknown[0]
        known = ", ".join(declared) or "none"
        raise ParamError(name, "?", overrides[name], f"is not a declared param (params: {known})")
    values: dict[str, Any] = {}
    for p in pipeline.params:
        if p.name in overrides:
            values[p.name] = coerce_one(p, overrides[p.name])
        elif p.required:
            raise ParamError(p.name, str(p.type), "", "is required and has no default: pass -p "
                             f"{p.name}=VALUE")
        else:
            values[p.name] = coerce_one(p, p.default)
    return values


def coerce_one(p: ir.Param, value: Any) -> Any:
    kind = p.type.kind
    v = _from_text(p, kind, p.type.item, value) if isinstance(value, str) else _typed(p, kind, p.type.item, value)
    _check_bounds(p, v, value)
    if _has_nul(v):
        # no command line, environment variable or file name can carry one: refused here, once,
        # for every way a value arrives (-p, --params-json, pipespec exec, the Python API)
        raise _fail(p, value, "holds a NUL byte (\\0), which no command argument or environment "
                    "variable can carry")
    return v


def _has_nul(v: Any) -> bool:
    stack = [v]                       # a walk, not recursion: JSON may nest deeply
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if "\0" in x:
                return True
        elif isinstance(x, dict):
            stack += x.keys()
            stack += x.values()
        elif isinstance(x, (list, tuple)):
            stack += x
    return False


def _fail(p: ir.Param, value: Any, reason: str) -> ParamError:
    return ParamError(p.name, str(p.type), value, reason)


def _from_text(p: ir.Param, kind: str, item, text: str) -> Any:
    if kind in ("string", "path"):
        return text
    if kind in ("int", "float"):
        try:
            return parse_int(text) if kind == "int" else parse_float(text)
        except ValueError as e:
            raise _fail(p, text, str(e)) from None
    if kind == "bool":
        b = _BOOLS.get(text.strip().lower())
        if b is None:
            raise _fail(p, text, "is not a bool: use true or false")
        return b
    if kind == "list":
        return [_item(p, item, x, text) for x in _split_list(p, text)]
    if kind == "map":
        try:
            v = loads_json(text)
        except json.JSONDecodeError:
            v = None
        except ValueError as e:
            raise _fail(p, text, f"holds {e}") from None
        if not isinstance(v, dict):
            raise _fail(p, text, "is not a JSON object, e.g. '{\"k\": 1}'")
        return v
    return text


def _split_list(p: ir.Param, text: str) -> list:
    s = text.strip()
    if s.startswith("["):
        try:
            v = loads_json(s)
            if isinstance(v, list):
                return v
        except json.JSONDecodeError:
            pass
        except ValueError as e:
            raise _fail(p, text, f"holds {e}") from None
        if not s.endswith("]"):
            raise _fail(p, text, "opens '[' but does not close it")
        s = s[1:-1].strip()
    if not s:
        return []
    out = []
    for part in s.split(","):
        part = part.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            part = part[1:-1]
        out.append(part)
    return out


def _item(p: ir.Param, item, x: Any, whole: str) -> Any:
    if item is None or item.kind == "any":
        return x
    try:
        if isinstance(x, str):
            return _from_text(p, item.kind, item.item, x)
        return _typed(p, item.kind, item.item, x)
    except ParamError as e:
        raise _fail(p, whole, f"has an item {x!r} that {e.reason}") from None


def _typed(p: ir.Param, kind: str, item, v: Any) -> Any:
    ok = {
        "string": lambda: isinstance(v, str),
        "path": lambda: isinstance(v, str),
        "int": lambda: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda: isinstance(v, bool),
        "list": lambda: isinstance(v, (list, tuple)),
        "map": lambda: isinstance(v, dict),
    }.get(kind, lambda: True)()
    if not ok:
        raise _fail(p, v, f"is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX:
        raise _fail(p, f"<an integer of {v.bit_length()} bits>", _OUT_OF_INT64)
    if isinstance(v, float) and not math.isfinite(v):
        raise _fail(p, v, "is not a finite number")
    if kind == "float":
        return float(v)
    if kind == "list":
        return [_item(p, item, x, v) for x in v]
    return v


def _check_bounds(p: ir.Param, v: Any, given: Any) -> None:
    if p.enum is not None and not any(v == e and type(v) is type(e) or (isinstance(v, float) and v == e)
                                      for e in p.enum):
        raise _fail(p, given, "is not one of " + ", ".join(json.dumps(e) for e in p.enum))
    nums = v if isinstance(v, list) else [v]
    for n in nums:
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            continue
        if p.minimum is not None and n < p.minimum:
            raise _fail(p, given, f"is below the minimum {p.minimum}")
        if p.maximum is not None and n > p.maximum:
            raise _fail(p, given, f"is above the maximum {p.maximum}")
