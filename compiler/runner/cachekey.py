"""Cache keys: what a step instance's result depends on, as named parts and one digest.

Parts: ``definition`` (the step's IR JSON minus description and positions), ``params`` (only
the parameters the step's expressions read, so changing one re-runs only its readers),
``inputs`` (content digests of upstream artifacts and the upstream values it reads), ``deps``
(files named in ``deps:``), ``modules`` (for ``call:``, the module's source and, transitively,
the local modules it imports), ``item`` (the foreach item), ``run``/``env`` (run fields and
inherited environment variables the step reads). ``explain`` names the parts that differ.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import os
from typing import Any

from .. import ir
from ..expr import Ref, refs
from ..files import is_inside
from .objects import UnsafeDep

KEY_VERSION = 1


def _dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def definition_digest(step: ir.Step) -> str:
    plain = ir._plain(step)
    plain.pop("description", None)
    return hashlib.sha256(_dumps(plain).encode()).hexdigest()


def step_refs(step: ir.Step) -> list[Ref]:
    """Every context reference of the step's expressions that can change what one instance
    computes. ``if:`` only decides whether the step runs, and ``foreach:`` only which items
    there are (each instance is keyed by its own item), so both are left out."""
    values: list[ir.Value] = [v for _, v in step.args] + [v for _, v in step.env]
    if step.shell is not None:
        values += [v for _, v in step.shell.bindings]
    values += list(step.argv or ())
    out: list[Ref] = []
    for v in values:
        if v.template is not None:
            for te in v.template.exprs:
                out += list(refs(te.expr))
    return out


class StepReads:
    """Per step, computed once: which params, run fields and env variables it reads."""

    def __init__(self, step: ir.Step, definition: str | None = None) -> None:
        rs = step_refs(step)
        self.params = sorted({r.path[0] for r in rs if r.root == "params" and r.path})
        self.run = sorted({r.path[0] for r in rs if r.root == "run" and r.path})
        own_env = {n for n, _ in step.env}
        self.env = sorted({r.path[0] for r in rs if r.root == "env" and r.path and r.path[0] not in own_env})
        self.inputs = {".".join(("steps",) + r.path[:3]) for r in rs if r.root == "steps" and len(r.path) >= 3}
        self.definition = definition or definition_digest(step)


class ModuleSources:
    """The files of a ``call:`` module and the local modules it imports, transitively."""

    def __init__(self, spec_dir: str, hasher) -> None:
        self.spec_dir = os.path.abspath(spec_dir)
        self.hasher = hasher
        self.memo: dict[str, dict[str, str]] = {}

    def digests(self, module: str) -> dict[str, str]:
        if module not in self.memo:
            files: dict[str, str] = {}
            self._walk(module, files)
            self.memo[module] = {os.path.relpath(p, self.spec_dir): self.hasher.digest(p) for p in sorted(files)}
        return self.memo[module]

    def _resolve(self, module: str) -> str | None:
        base = os.path.join(self.spec_dir, *module.split("."))
        for cand in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(cand):
                return cand
        return None

    def _walk(self, module: str, seen: dict[str, str]) -> None:
        path = self._resolve(module)
        if path is None or path in seen:
            return
        seen[path] = module
        # a submodule's package __init__ runs first on import
        parts = module.split(".")
        for i in range(1, len(parts)):
            self._walk(".".join(parts[:i]), seen)
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), path)
        except (SyntaxError, ValueError, OSError):
            return                                # the digest of the file still keys the cache
        is_pkg = path.endswith("__init__.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self._walk(a.name, seen)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    pkg = parts if is_pkg else parts[:-1]
                    pkg = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                    base = ".".join(pkg + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if base:
                    self._walk(base, seen)
                for a in node.names:
                    self._walk(f"{base}.{a.name}" if base else a.name, seen)


class DepError(Exception):
    """A ``deps:`` entry the runner will not read: outside the project, not a regular file or
    folder, or too many files. The step fails with it; nothing is hashed or recorded."""


MAX_DEP_FILES = 100_000     # files and folders one step's deps may visit: a bound on the walk


def dep_digests(spec_dir: str, deps: tuple[str, ...], hasher, limit: int = MAX_DEP_FILES) -> dict[str, str]:
    """deps: entries are files, folders or glob patterns relative to the spec's folder, inside
    the project (``hasher.root``). A glob's ``**`` does not enter a linked folder; a link is
    followed only when it resolves inside the project; a FIFO, socket or device is refused
    without being opened. At most ``limit`` paths are visited, globs and folders together."""
    spec_dir = os.path.abspath(spec_dir)
    out: dict[str, str] = {}
    hasher.budget = hasher.limit = limit
    try:
        for d in deps:
            if os.path.isabs(d):
                raise DepError(f"'{d}' is an absolute path; deps are files of the project (E407)")
            if any(c in d for c in "*?["):
                matches = sorted(_glob(spec_dir, d, hasher))
                for m in matches:
                    out[os.path.relpath(m, spec_dir)] = hasher.digest(m, os.path.relpath(m, spec_dir))
                if not matches:
                    out[d] = "missing"
            else:
                out[d] = hasher.digest(os.path.join(spec_dir, d), d)
    except UnsafeDep as e:
        raise DepError(str(e)) from None
    except OSError as e:
        raise DepError(f"cannot read: {e}") from None
    finally:
        hasher.budget = None
    return out


def _glob(base: str, pattern: str, hasher) -> list[str]:
    """``glob.glob(base/pattern, recursive=True)``, but walking without following folder links
    and counting every visited entry against ``hasher.budget``."""
    pats = [p for p in pattern.split("/") if p not in ("", ".")]
    fixed = []
    while pats and not any(c in pats[0] for c in "*?["):
        fixed.append(pats.pop(0))
    top = os.path.join(base, *fixed)
    if not pats:
        return [top] if os.path.lexists(top) else []
    found: list[str] = []
    if not os.path.isdir(top) or not is_inside(os.path.realpath(top), hasher.root):
        if os.path.isdir(top):
            raise UnsafeDep(f"'{os.path.relpath(top, base)}' is, through a symbolic link, outside the project")
        return []
    stack = [(top, ())]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                hasher.spend(os.path.relpath(folder, base))
                parts = rel + (e.name,)
                if _match(parts, pats):
                    found.append(e.path)
                if e.is_dir(follow_symlinks=False) and _may_match_below(parts, pats):
                    stack.append((e.path, parts))
    if _match((), pats):                  # "dir/**" names the folder itself too, as glob does
        found.append(top)
    return found


def _name_match(name: str, pat: str) -> bool:
    if name.startswith(".") and not pat.startswith("."):
        return False                      # as glob: wildcards do not match hidden names
    return fnmatch.fnmatchcase(name, pat)


def _match(parts: tuple, pats: list[str]) -> bool:
    if not pats:
        return not parts
    if pats[0] == "**":
        return any(_match(parts[i:], pats[1:]) for i in range(len(parts) + 1)
                   if all(not p.startswith(".") for p in parts[:i]))
    return bool(parts) and _name_match(parts[0], pats[0]) and _match(parts[1:], pats[1:])


def _may_match_below(parts: tuple, pats: list[str]) -> bool:
    """Some path below the folder ``parts`` could match ``pats``."""
    if not pats:
        return False
    if pats[0] == "**":
        for i in range(len(parts) + 1):
            if i and parts[i - 1].startswith("."):
                return False
            if i == len(parts) or _may_match_below(parts[i:], pats[1:]):
                return True
        return False
    if not parts:
        return True
    return _name_match(parts[0], pats[0]) and _may_match_below(parts[1:], pats[1:])


def make_key(parts: dict) -> str:
    return hashlib.sha256(_dumps({"v": KEY_VERSION, **parts}).encode()).hexdigest()


def explain(old: dict | None, new: dict) -> list[str]:
    """What differs between two keys' parts, in words (empty when they are equal)."""
    if old is None:
        return ["no earlier execution of this step"]
    out: list[str] = []
    if old.get("definition") != new.get("definition"):
        out.append("step definition changed")
    for group, label in (("params", "param"), ("inputs", "input"), ("deps", "dep file"),
                         ("modules", "module source"), ("run", "run field"), ("env", "env var")):
        a, b = old.get(group, {}), new.get(group, {})
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                if group == "params" and name in a and name in b:
                    out.append(f"param {name} changed ({_short(a[name])} -> {_short(b[name])})")
                elif name not in a:
                    out.append(f"{label} {name} added")
                elif name not in b:
                    out.append(f"{label} {name} no longer read")
                else:
                    out.append(f"{label} {name} changed")
    return out


def _short(v: Any) -> str:
    text = _dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."
