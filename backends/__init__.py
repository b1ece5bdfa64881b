"""Backends: one module per target, each a ``Backend`` subclass, found through a registry.

Built-in backends are imported lazily by name; third parties register a class under the
entry-point group ``pipespec.backends`` (``name = "package.module:Class"``).
"""

from __future__ import annotations

import importlib
import importlib.util

BUILTIN: dict[str, str] = {
    "airflow": "pipespec.backends.airflow:AirflowBackend",
    "kubeflow": "pipespec.backends.kubeflow:KubeflowBackend",
    "github": "pipespec.backends.github:GithubBackend",
}
GROUP = "pipespec.backends"


def _entry_points() -> dict[str, object]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of every installed backend: built-in ones that import, plus entry points."""
    names = [n for n in BUILTIN if _importable(BUILTIN[n])]
    names += sorted(n for n in _entry_points() if n not in BUILTIN)
    return names


def _importable(target: str) -> bool:
    mod = target.split(":")[0]
    return importlib.util.find_spec(mod) is not None


def get(name: str):
    """The backend class for ``name``; KeyError when no such backend is installed."""
    if name in BUILTIN and _importable(BUILTIN[name]):
        mod, cls = BUILTIN[name].split(":")
        return getattr(importlib.import_module(mod), cls)
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    raise KeyError(name)
