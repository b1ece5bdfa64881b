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
import glob
import hashlib
import json
import os
from typing import Any

from .. import ir
from ..expr import Ref, refs

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


def dep_digests(spec_dir: str, deps: tuple[str, ...], hasher) -> dict[str, str]:
    """deps: entries are files, folders or glob patterns relative to the spec's folder."""
    out: dict[str, str] = {}
    for d in deps:
        full = os.path.join(spec_dir, d)
        if any(c in d for c in "*?["):
            matches = sorted(glob.glob(full, recursive=True))
            for m in matches:
                out[os.path.relpath(m, spec_dir)] = hasher.digest(m)
            if not matches:
                out[d] = "missing"
        else:
            out[d] = hasher.digest(full)
    return out


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
    if old.get("item") != new.get("item"):
        out.append(f"foreach item changed ({_short(old.get('item'))} -> {_short(new.get('item'))})")
    return out


def _short(v: Any) -> str:
    text = _dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."
