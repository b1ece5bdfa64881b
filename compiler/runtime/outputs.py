"""Value outputs and metrics: read what a step produced and check it against its declaration.

A ``run:`` step writes ``name=value`` lines (or GitHub's ``name<<DELIM`` blocks) to the file
named by ``$PIPESPEC_OUTPUT``; each value is parsed per its declared type. A ``call:`` step
returns a dict, whose values must already have the declared types. Either way a missing
declared value, an undeclared name or a wrong type is an ``OutputError`` naming the output.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from .. import ir

from .params import INT64_MAX, INT64_MIN, loads_json, parse_float, parse_int


def _short_text(text: str) -> str:
    return repr(text[:80]) + ("..." if len(text) > 80 else "")


class OutputError(Exception):
    """The step ran but what it produced does not match its declared outputs."""


def read_output_file(path: str) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` ... ``DELIM`` blocks; later lines win."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc > 0 and (eq < 0 or heredoc < eq):
            name, delim = line[:heredoc].strip(), line[heredoc + 2:]
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise OutputError(f"$PIPESPEC_OUTPUT: block '{name}<<{delim}' is never closed by a line '{delim}'")
            i += 1
            out[name] = "\n".join(body)
        elif eq > 0:
            out[line[:eq].strip()] = line[eq + 1:]
        else:
            raise OutputError(f"$PIPESPEC_OUTPUT: line {line[:60]!r} is not name=value")
    return out


def parse_text(out: ir.Output, text: str) -> Any:
    """A value written as text, read per the output's declared type."""
    t = out.type
    if t in ("string", "path"):
        return text
    s = text.strip()
    if t in ("int", "float"):    # as the spec's grammar reads numbers (params.py): ASCII, int64, finite
        try:
            return parse_int(s) if t == "int" else parse_float(s)
        except ValueError as e:
            raise OutputError(f"output '{out.name}' ({t}): {_short_text(text)} {e}") from None
    elif t == "bool":
        if s.lower() in ("true", "false"):
            return s.lower() == "true"
    elif t in ("list", "map", "metrics"):
        try:
            v = loads_json(s)
        except json.JSONDecodeError:
            v = None
        except ValueError as e:
            raise OutputError(f"output '{out.name}' ({t}): {_short_text(text)} holds {e}") from None
        if t == "list" and isinstance(v, list) or t in ("map", "metrics") and isinstance(v, dict):
            return v
        want = "a JSON list like [1, 2]" if t == "list" else 'a JSON object like {"k": 1}'
        raise OutputError(f"output '{out.name}' ({t}): {text[:80]!r} is not {want}")
    raise OutputError(f"output '{out.name}' ({t}): {text[:80]!r} is not {_a(t)}")


def check_value(out: ir.Output, v: Any) -> Any:
    """A returned value against the declared type; ints widen to float, paths become text."""
    t = out.type
    if t in ("string", "path") and isinstance(v, (str, os.PathLike)):
        return os.fspath(v)
    if t == "int" and isinstance(v, int) and not isinstance(v, bool):
        if not INT64_MIN <= v <= INT64_MAX:
            raise OutputError(f"output '{out.name}' (int): the step gave an integer of {v.bit_length()} bits, "
                              "outside the 64-bit range")
        return v
    if t == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise OutputError(f"output '{out.name}' (float): the step gave {v if isinstance(v, float) else 'a huge int'}"
                              ", not a finite number")
        return f
    if t == "bool" and isinstance(v, bool):
        return v
    if t == "list" and isinstance(v, (list, tuple)):
        return list(v)
    if t == "map" and isinstance(v, dict):
        return v
    raise OutputError(f"output '{out.name}' should be {_a(t)}, but the step gave {_kind(v)} {_short(v)}")


def collect_values(step: ir.Step, given: dict[str, Any], from_text: bool) -> tuple[dict, dict]:
    """(value outputs, metrics given inline) from what the step wrote or returned.

    A metrics output may arrive inline (a dict under its name) instead of as a file.
    """
    declared = {o.name: o for o in step.outputs}
    undeclared = sorted(n for n in given if n not in declared or declared[n].is_artifact
                        and declared[n].type != "metrics")
    if undeclared:
        names = ", ".join(o.name for o in step.value_outputs) or "none"
        raise OutputError(f"the step gave output '{undeclared[0]}', which it does not declare "
                          f"(value outputs: {names})")
    values, metrics = {}, {}
    for name, raw in given.items():
        o = declared[name]
        if o.type == "metrics":
            metrics[name] = check_metrics(name, parse_text(o, raw) if from_text else raw)
        else:
            values[name] = parse_text(o, raw) if from_text else check_value(o, raw)
    missing = [o.name for o in step.value_outputs if o.name not in values]
    if missing:
        how = "write name=value lines to $PIPESPEC_OUTPUT" if from_text else "return them in a dict"
        raise OutputError(f"the step did not produce value output{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(repr(m) for m in missing)} ({how})")
    return values, metrics


def check_metrics(name: str, data: Any) -> dict[str, float | int]:
    """A metrics output must be one flat JSON object of finite numbers."""
    if not isinstance(data, dict):
        raise OutputError(f"metrics output '{name}' must be a JSON object of numbers, not {_kind(data)}")
    for k, v in data.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or isinstance(v, float) and not math.isfinite(v):
            raise OutputError(f"metrics output '{name}': field '{k}' is {_kind(v)} {_short(v)}; "
                              "every field must be a finite number")
    return data


def read_metrics_file(name: str, path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise OutputError(f"metrics output '{name}' was not written (expected JSON at {path})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OutputError(f"metrics output '{name}' is not valid JSON ({e})") from None
    return check_metrics(name, data)


def _a(t: str) -> str:
    return ("an " if t[0] in "aeiou" else "a ") + t


def _kind(v: Any) -> str:
    from ..expr.values import kind_of

    return _a(kind_of(v))


def _short(v: Any) -> str:
    text = repr(v)
    return f"({text[:60]}...)" if len(text) > 60 else f"({text})"
