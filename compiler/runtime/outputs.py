"""Value outputs and metrics: read what a step produced and check it against its declaration.

A ``run:`` step writes ``name=value`` lines (or GitHub's ``name<<DELIM`` blocks) to the file
named by ``$PIPESPEC_OUTPUT``; each value is parsed per its declared type. A ``call:`` step
returns a dict, whose values must already have the declared types. Either way a missing
declared value, an undeclared name or a wrong type is an ``OutputError`` naming the output.
``finish`` checks a finished attempt's outputs and moves its artifacts into place.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets as _random
import shutil
import stat
from typing import Any

from .. import ir
from ..files import special_kind

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


def finish(inv) -> tuple[dict, dict, dict]:
    """After a successful command: (values, metrics, artifact paths), artifacts moved into place."""
    step = inv.step
    if inv.value_file is not None:
        given = read_output_file(inv.value_file)
        values, inline = collect_values(step, given, from_text=True)
    else:
        given = {}
        if inv.result_file is not None and os.path.exists(inv.result_file):
            with open(inv.result_file, encoding="utf-8") as f:
                given = json.load(f)
        values, inline = collect_values(step, given, from_text=False)
    for o in step.artifact_outputs:
        refuse_links(o, inv.temp_paths[o.name])
    metrics: dict[str, dict] = {}
    for o in step.artifact_outputs:
        path = inv.temp_paths[o.name]
        if o.type == "metrics":
            if o.name in inline:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
                with open(fd, "w", encoding="utf-8") as f:
                    json.dump(inline[o.name], f, indent=2, sort_keys=True)
                    f.write("\n")
            metrics[o.name] = read_metrics_file(o.name, path)
        elif o.type == "dir":
            if not os.path.isdir(path):
                raise OutputError(f"output '{o.name}' (dir) is not a folder any more at {path}")
        elif o.type in ("file",) and not os.path.isfile(path):
            raise OutputError(f"the step did not write output '{o.name}' (file): nothing at {path}")
        elif not os.path.exists(path):
            raise OutputError(f"the step did not write output '{o.name}' ({o.type}): nothing at {path}")
    for o in step.artifact_outputs:
        move_into_place(inv.temp_paths[o.name], inv.final_paths[o.name])
    return values, metrics, dict(inv.final_paths)


def refuse_links(o: ir.Output, path: str) -> None:
    """An artifact is regular files and folders written at its path, nothing else: a symbolic
    link (to anywhere), a FIFO, a socket or a device — the output itself or anything inside a
    ``dir`` output — fails the step, naming it. Nothing is followed, read or changed, so a link
    to a file outside the store leaves that file as it was (mode, content, link count)."""
    def refuse(rel: str, st: os.stat_result, where: str) -> None:
        if stat.S_ISLNK(st.st_mode):
            try:
                to = f" (to {os.readlink(where)})"
            except OSError:
                to = ""
            raise OutputError(f"output '{o.name}' ({o.type}): '{rel}' is a symbolic link{to}; an output must "
                              "be regular files and folders written at its path: copy the data there "
                              "(cp, not ln -s)")
        raise OutputError(f"output '{o.name}' ({o.type}): '{rel}' is {special_kind(st.st_mode)}; an output must be "
                          "regular files and folders")

    parent = os.path.dirname(path)
    if not stat.S_ISDIR(os.lstat(parent).st_mode):         # the step's temporary folder, swapped
        raise OutputError(f"output '{o.name}': its folder {parent} was replaced by something that is not a folder")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return                                              # reported below as not written
    if stat.S_ISREG(st.st_mode):
        return
    if not stat.S_ISDIR(st.st_mode):
        refuse(o.name, st, path)
    stack = [(path, o.name)]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                est = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(est.st_mode):
                    stack.append((e.path, f"{rel}/{e.name}"))
                elif not stat.S_ISREG(est.st_mode):
                    refuse(f"{rel}/{e.name}", est, e.path)


def move_into_place(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` atomically; a folder already at ``dst`` is swapped out first."""
    if os.path.isdir(dst) and not os.path.islink(dst):
        old = f"{dst}.old-{_random.token_hex(4)}"
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
