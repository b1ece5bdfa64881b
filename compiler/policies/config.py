"""Reading a repository's policy config and loading the rules it names.

``[policies]`` of ``pipespec.toml`` (or ``[tool.pipespec.policies]`` of ``pyproject.toml``)::

    builtin = ["step-without-timeout", "unpinned-image", "missing-required-key"]
    modules = ["tools/org_policies.py"]      # files, relative to the config file, inside the project
    plugins = ["acme"]                       # entry points of the pipespec.policies group
    [policies.severity]                      # per code: "error", "warning" or "off"
    ORG001 = "warning"
    [policies.options.missing-required-key]  # per rule name: handed to the rule as ctx.options
    keys = ["targets.airflow.owner"]

A config is read, and its modules imported, once per process. Every problem with it is one
E831 at the config file (the key's line when it can be found), and the rules that did load
still run.
"""

from __future__ import annotations

import os
import re

from ..codes import CODES, register_plugin_code
from ..diagnostics import Diagnostic
from ..span import Span
from . import SEVERITIES, Rule

GROUP = "pipespec.policies"
_KEYS = ("builtin", "modules", "plugins", "severity", "options")
_CACHE: dict[str, tuple[list, list]] = {}
_MODULES: dict[str, object] = {}


def load(path: str) -> tuple[list[tuple[Rule, str, dict]], list[Diagnostic]]:
    """(rules with their severity and options, E831 diagnostics) of the config file ``path``."""
    key = os.path.abspath(path)
    if key not in _CACHE:
        _CACHE[key] = _Loader(key).load()
    return _CACHE[key]


def shown(path: str) -> str:
    """The config file's path as diagnostics and messages name it: relative to the working
    directory when it is below it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class _Loader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.shown = shown(path)
        self.text = ""
        self.diags: list[Diagnostic] = []

    def fail(self, message: str, near: str | None = None, help: str | None = None) -> None:
        self.diags.append(Diagnostic("E831", message, self._span(near), help))

    def _span(self, near: str | None) -> Span:
        if near:
            for n, line in enumerate(self.text.splitlines(), 1):
                i = line.find(near)
                if i >= 0:
                    return Span(self.shown, n, i + 1, n, i + 1 + len(near))
        return Span(self.shown, 1, 1, 1, 1)

    def load(self) -> tuple[list, list]:
        import tomllib

        try:
            with open(self.path, "rb") as f:
                self.text = f.read().decode("utf-8", "replace")
            doc = tomllib.loads(self.text)
        except (OSError, tomllib.TOMLDecodeError) as e:
            self.fail(f"cannot read the policy config: {e}")
            return [], self.diags
        if os.path.basename(self.path) == "pyproject.toml":
            tool = doc.get("tool", {}).get("pipespec", {})
            table = tool.get("policies", {}) if isinstance(tool, dict) else None
        else:
            table = doc.get("policies", {})
        if not isinstance(table, dict):
            self.fail("'policies' is a table ([policies])", "policies")
            return [], self.diags
        for k in table:
            if k not in _KEYS:
                self.fail(f"unknown key '{k}' in [policies]", k, help=f"the keys are {', '.join(_KEYS)}")
        rules: list[Rule] = []
        rules += self._builtin(self._list(table, "builtin"))
        for m in self._list(table, "modules"):
            rules += self._module(m)
        for p in self._list(table, "plugins"):
            rules += self._plugin(p)
        rules = self._unique(rules)
        return self._configured(rules, table), self.diags

    def _list(self, table: dict, key: str) -> list[str]:
        v = table.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(f"[policies] {key} is a list of strings", key)
            return []
        return v

    def _builtin(self, names: list[str]) -> list[Rule]:
        from .builtin import RULES

        known = {r.name: r for r in RULES}
        out = []
        for n in names:
            if n in known:
                out.append(known[n])
            else:
                self.fail(f"no built-in policy rule '{n}'", n, help=f"the built-in rules are {', '.join(known)}")
        return out

    def _module(self, rel: str) -> list[Rule]:
        from ..files import is_inside, project_root

        folder = os.path.dirname(self.path)
        target = os.path.normpath(os.path.join(folder, rel))
        root = project_root(folder)
        if os.path.isabs(rel) or not is_inside(target, root):
            self.fail(f"policy module '{rel}' is not inside the project ({root})", rel,
                      help="name a .py file by its path relative to this config file")
            return []
        if not rel.endswith(".py") or not os.path.isfile(target):
            why = "is not a .py file" if os.path.exists(target) or not rel.endswith(".py") else "does not exist"
            self.fail(f"policy module '{rel}' {why}", rel, help="name a .py file by its path relative to this config file")
            return []
        if target not in _MODULES:
            import hashlib
            import importlib.util
            import sys

            name = f"pipespec_policy_{hashlib.sha256(target.encode()).hexdigest()[:12]}"
            spec = importlib.util.spec_from_file_location(name, target)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except Exception as e:      # the module's own error, in one line
                del sys.modules[name]
                self.fail(f"policy module '{rel}' does not load: {type(e).__name__}: {e}", rel)
                return []
            _MODULES[target] = mod
        return self._rules_of(_MODULES[target], rel, rel)

    def _plugin(self, name: str) -> list[Rule]:
        from importlib.metadata import entry_points

        eps = {ep.name: ep for ep in entry_points(group=GROUP)}
        if name not in eps:
            have = ", ".join(sorted(eps)) or "none"
            self.fail(f"no installed policy plugin '{name}' (entry point group {GROUP}; installed: {have})", name,
                      help="install the package that provides it in the environment that runs pipespec")
            return []
        try:
            obj = eps[name].load()
        except Exception as e:
            self.fail(f"policy plugin '{name}' ({eps[name].value}) does not load: {type(e).__name__}: {e}", name)
            return []
        return self._rules_of(obj, f"plugin {name} ({eps[name].value})", name)

    def _rules_of(self, obj, origin: str, near: str) -> list[Rule]:
        found = getattr(obj, "RULES", obj)
        if isinstance(found, Rule):
            found = [found]
        if not isinstance(found, (list, tuple)) or not found or not all(isinstance(r, Rule) for r in found):
            self.fail(f"policy {origin} has no RULES (a list of rules made with pipespec.policies.rule)", near)
            return []
        return [Rule(r.code, r.name, r.severity, r.summary, r.check, r.origin or origin) for r in found]

    def _unique(self, rules: list[Rule]) -> list[Rule]:
        out, codes, names = [], {}, {}
        for r in rules:
            clash = codes.get(r.code) or names.get(r.name)
            if clash is not None and clash.check is not r.check:
                self.fail(f"rules '{clash.name}' ({clash.origin}) and '{r.name}' ({r.origin}) share a code or a name")
                continue
            if clash is not None:
                continue                     # the same rule named twice
            if r.code not in CODES:
                try:
                    register_plugin_code(r.code, r.name, r.severity, r.summary)
                except ValueError as e:
                    self.fail(f"policy rule '{r.name}' ({r.origin}): {e}")
                    continue
            codes[r.code] = names[r.name] = r
            out.append(r)
        return out

    def _configured(self, rules: list[Rule], table: dict) -> list[tuple[Rule, str, dict]]:
        sev = table.get("severity", {})
        opts = table.get("options", {})
        if not isinstance(sev, dict):
            self.fail("[policies.severity] is a table of CODE = \"error\" | \"warning\" | \"off\"", "severity")
            sev = {}
        if not isinstance(opts, dict):
            self.fail("[policies.options] is a table of tables, one per rule name", "options")
            opts = {}
        by_code = {r.code: r for r in rules}
        by_name = {r.name: r for r in rules}
        for code, v in sev.items():
            if code not in by_code:
                self.fail(f"[policies.severity] names {code}, which no enabled rule has", code)
            elif v not in (*SEVERITIES, "off"):
                self.fail(f"[policies.severity] {code} = {v!r}: use \"error\", \"warning\" or \"off\"", code)
        for name, v in opts.items():
            if name not in by_name:
                self.fail(f"[policies.options] names rule '{name}', which is not enabled", name)
            elif not isinstance(v, dict):
                self.fail(f"[policies.options.{name}] is a table", name)
        out = []
        for r in rules:
            s = sev.get(r.code, r.severity)
            if s == "off":
                continue
            o = opts.get(r.name, {})
            out.append((r, s if s in SEVERITIES else r.severity, o if isinstance(o, dict) else {}))
        return out
