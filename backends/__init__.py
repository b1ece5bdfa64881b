"""Backends: one module per target, each a ``Backend`` subclass, found through a registry.

Built-in backends are imported lazily by name; third parties register a class under the
entry-point group ``pipespec.backends`` (``name = "package.module:Class"``).

What a target lets a spec configure (``targets.<name>``, its secret store) is declared apart, in
a module that imports nothing heavy (``backends/options.py``): built-in ones are listed in
``BUILTIN_OPTIONS``; a third party registers its ``TargetOptions`` under the entry-point group
``pipespec.target_options`` with the backend's name, or sets ``options`` on its backend class
(then checking a spec imports the backend). ``pipespec validate`` reads only these.
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
# the built-in targets' worker sinks (TargetOptions.worker_sinks) as plain data, so that
# pipespec exec imports no options module (~7 ms a step); a test keeps it equal to them
BUILTIN_WORKER_SINKS: tuple[tuple[str, str], ...] = (
    ("GITHUB_OUTPUT", "pipespec.backends.github_task:GithubOutputSink"),
)
OPTIONS_GROUP = "pipespec.target_options"
BUILTIN_OPTIONS: dict[str, str] = {
    "airflow": "pipespec.backends.airflow_options:OPTIONS",
    "kubeflow": "pipespec.backends.kubeflow_options:OPTIONS",
    "github": "pipespec.backends.github_options:OPTIONS",
}


def _entry_points(group: str = GROUP) -> dict[str, object]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def _load(target: str):
    mod, attr = target.split(":")
    return getattr(importlib.import_module(mod), attr)


def builtin_options() -> list:
    """The ``TargetOptions`` of every built-in backend (their light modules only)."""
    return [_load(t) for t in BUILTIN_OPTIONS.values()]


def registered_options() -> tuple[dict, dict]:
    """For every backend installed through an entry point: name -> its ``TargetOptions`` (None
    when it declares none), and name -> why its declaration could not be loaded. Reads
    entry-point metadata: only when a spec names a target that is not built in."""
    from .options import TargetOptions

    eps = _entry_points()
    declared = _entry_points(OPTIONS_GROUP)
    found: dict = {}
    broken: dict = {}
    for name in sorted(set(eps) | set(declared)):
        if name in BUILTIN:
            continue
        try:
            opts = declared[name].load() if name in declared else getattr(eps[name].load(), "options", None)
        except Exception as e:          # a broken plugin: a diagnostic at the spec, not a traceback
            broken[name] = f"{type(e).__name__}: {e}"
            continue
        if opts is not None and not (isinstance(opts, TargetOptions) and opts.name == name):
            broken[name] = f"its options are not a TargetOptions named '{name}'"
            continue
        found[name] = opts
    return found, broken


def worker_sinks(environ) -> list:
    """The result sinks the targets declare for a worker in ``environ`` (``WorkerSink``): the
    built-in targets' (``BUILTIN_WORKER_SINKS``), and those of the installed target
    ``$PIPESPEC_TARGET`` names (set by its compiled file for its workers). Entry-point metadata
    (~0.1 s) is read only then."""
    declared = list(BUILTIN_WORKER_SINKS)
    name = environ.get("PIPESPEC_TARGET")
    if name and name not in BUILTIN:
        found = registered_options()[0].get(name)
        declared += [(ws.env, ws.factory) for ws in found.worker_sinks] if found is not None else []
    return [_load(factory)(environ[env]) for env, factory in declared if environ.get(env)]


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
        return _load(BUILTIN[name])
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    raise KeyError(name)
