"""Run-time values of expressions: plain JSON-like Python values, and how they behave.

Python's own ``==`` says ``True == 1``; the language keeps bool apart from numbers, so every
comparison goes through ``equal`` and every number test through ``is_number``.
"""

from __future__ import annotations

import json
import os
from typing import Any


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def kind_of(v: Any) -> str:
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


def normalize(v: Any) -> Any:
    """Bring a value supplied from outside to the language's forms (paths are strings)."""
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, tuple):
        return [normalize(x) for x in v]
    return v


def equal(a: Any, b: Any) -> bool:
    """``==`` of the language: numbers by value, bool only with bool, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return a == b


def with_article(word: object) -> str:
    """``word`` with its indefinite article, for messages: 'an int', 'a string'."""
    text = str(word)
    return ("an " if text[:1] in ("a", "e", "i", "o", "u") else "a ") + text


def to_text(value: Any) -> str:
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


def _json_default(v: Any) -> Any:
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError(f"cannot render {type(v).__name__} as text")
