"""What a target lets a spec configure: ``targets.<name>`` and its key under ``secrets.<NAME>``.

Each backend declares a ``TargetOptions`` in a small module of its own (``<backend>_options.py``)
that imports nothing heavy, so ``pipespec validate`` can check a target's options without
importing its generator (jinja2, yaml writers). The declaration holds:

- ``schema``: the JSON-schema fragment of ``targets.<name>`` (its ``properties``; ``output``,
  ``project_root`` and ``spec_path`` -- what ``compile --all`` and the base class read -- come
  from ``COMMON``);
- ``options``: a frozen dataclass with one field per property, built once per compile by
  ``parse`` (``Backend.compile`` sets ``self.opts``);
- ``secret_stores``: the stores the target reads secrets from; each is a key a secret may name
  its value in the store with (``secrets.X.airflow: conn:db``), the schema of a reference in it
  and its default. A store is not a target: Kubeflow and Airflow's kubernetes operator both
  read ``kubernetes`` (``KUBERNETES_SECRETS``);
- ``worker_sinks``: result sinks ``pipespec exec`` adds on the target's workers (GitHub's
  ``$GITHUB_OUTPUT``), so the step executor names no target.

The built-in fragments are merged into the published schema (``schemas/pipeline.v1.schema.json``:
``python -m pipespec.backends.options --write`` rewrites it, a test keeps it equal to the merge).
A third-party target is merged in when a spec names it (``pipespec.schema.check``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable

# what every target accepts: read by compile --all and the Backend base class
COMMON: dict[str, dict] = {
    "output": {
        "description": "Where `pipespec compile --all` writes this target's file, relative to the spec's folder "
                       "(checked by the pipespec-compile-check pre-commit hook).",
        "type": "string",
        "minLength": 1,
    },
    "project_root": {
        "description": "The project root, relative to the spec's folder: '.', '..', '../..' (default: the git "
                       "repository holding the spec, else the spec's folder). Every path the compiled file names "
                       "(the spec, the requirements file, the header) is relative to it, whatever folder pipespec "
                       "compile ran from; workers resolve them against $PIPESPEC_PROJECT_DIR (docs/targets/).",
        "type": "string",
        "pattern": "^(\\.|\\.\\.(/\\.\\.)*)/?$",
    },
}


@dataclass(frozen=True)
class SecretStore:
    """Where a target reads a secret's value: a spec names the value in it with
    ``secrets.<NAME>.<key>: <reference>``; without one, the reference is ``default(NAME)``."""

    key: str                                # the key under secrets.<NAME>
    schema: dict                            # the schema of a reference
    default: Callable[[str], str]           # the reference when the spec writes none

    def ref(self, secret) -> str:
        """The reference of ``secret`` (an ``ir.Secret``) in this store."""
        return secret.ref(self.key) or self.default(secret.name)


# Kubernetes Secrets: read by Kubeflow and by Airflow's kubernetes operator
KUBERNETES_SECRETS = SecretStore(
    "kubernetes",
    {
        "description": ("Kubernetes (Kubeflow, Airflow's kubernetes operator): Secret 'secret-name/key' (default: "
                        "pipespec-secrets/NAME, with '_' written as '-')."),
        "type": "string",
        "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+$",
    },
    lambda name: f"pipespec-secrets/{name.replace('_', '-')}")


@dataclass(frozen=True)
class WorkerSink:
    """A result sink ``pipespec exec`` adds when the environment variable ``env`` is set (the
    worker runs on this target): ``factory`` ("module:callable", imported only then) is called
    with the variable's value and returns a ``runtime.worker.Sink``. An installed target's sinks
    are looked up only when ``$PIPESPEC_TARGET`` names it (its compiled file sets it for its
    workers): reading entry-point metadata on every step would cost ~0.1 s."""

    env: str
    factory: str


@dataclass(frozen=True)
class TargetOptions:
    name: str
    description: str                        # of targets.<name>, for editors
    schema: dict[str, dict]                 # property -> schema (COMMON ones may be overridden)
    options: type                           # frozen dataclass: one field per property
    secret_stores: tuple[SecretStore, ...] = ()   # the stores this target reads secrets from
    worker_sinks: tuple[WorkerSink, ...] = ()     # what pipespec exec also writes on its workers
    common: tuple[str, ...] = ("output", "project_root")
    order: tuple[str, ...] = ()             # property order in the published schema (default: schema's)

    def properties(self) -> dict[str, dict]:
        props = dict(self.schema)
        for k in self.common:
            props.setdefault(k, COMMON[k])
        if self.order:
            props = {k: props[k] for k in self.order} | {k: v for k, v in props.items() if k not in self.order}
        return props

    def fragment(self) -> dict:
        """The JSON-schema of ``targets.<name>``."""
        return {"type": "object", "additionalProperties": False, "description": self.description,
                "properties": copy.deepcopy(self.properties())}

    def parse(self, raw: Any) -> Any:
        """The options object for ``targets.<name>`` as the spec wrote it (already schema-checked):
        every field the spec does not set keeps its default; ``given`` names the keys it set."""
        raw = raw if isinstance(raw, dict) else {}
        names = {f.name for f in dataclasses.fields(self.options)}
        kwargs = {k: _frozen(v) for k, v in raw.items() if k in names}
        if "given" in names:
            kwargs["given"] = frozenset(raw)
        return self.options(**kwargs)


def _frozen(v: Any) -> Any:
    """Lists as tuples (the options object is frozen and hashable where it can be)."""
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    return v


@dataclass(frozen=True)
class BaseOptions:
    """The fields every target's options have (``COMMON``); subclass per target."""

    output: str | None = None
    project_root: str | None = None
    spec_path: str | None = None
    given: frozenset = field(default=frozenset(), compare=False)

    def has(self, key: str) -> bool:
        """Whether the spec set ``key`` (some defaults depend on whether a value was written)."""
        return key in self.given


def merge(schema: dict, declared: list[TargetOptions]) -> dict:
    """``schema`` with each declaration's fragment under ``$defs.targets.properties`` and its
    store's reference under ``$defs.secret.properties`` (a copy; ``schema`` is left alone)."""
    out = dict(schema)
    defs = dict(out["$defs"])
    targets = copy.deepcopy(defs["targets"])
    secret = copy.deepcopy(defs["secret"])
    for d in declared:
        targets["properties"][d.name] = d.fragment()
        for store in d.secret_stores:
            secret["properties"][store.key] = copy.deepcopy(store.schema)
    defs["targets"], defs["secret"] = targets, secret
    out["$defs"] = defs
    return out


def published_text() -> str:
    """The published schema file as the built-in declarations make it."""
    from importlib import resources

    from . import builtin_options

    path = resources.files("pipespec.schemas").joinpath("pipeline.v1.schema.json")
    current = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps(merge(current, builtin_options()), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m pipespec.backends.options [--write]``: print (or rewrite) the published schema."""
    import sys
    from importlib import resources

    text = published_text()
    if "--write" in (argv if argv is not None else sys.argv[1:]):
        path = resources.files("pipespec.schemas").joinpath("pipeline.v1.schema.json")
        with open(str(path), "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
