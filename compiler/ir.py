"""Stage 4's product: the intermediate representation that every backend and the local runner
consume, and nothing else.

Frozen, typed, fully resolved: defaults applied, dependencies explicit, expressions as typed
ASTs, durations in seconds, memory in bytes, steps in a stable topological order. Every node
keeps its source ``Span``. ``Pipeline.to_json()`` is byte-stable and ``digest()`` hashes it.
"""

from __future__ import annotations

import hashlib
import json
from .record import record, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .expr import Template, Type
from .span import ScalarMap, Span

if TYPE_CHECKING:
    from .expr.ast import Expr

VALUE_TYPES = ("string", "int", "float", "bool", "path", "list", "map")


@record(frozen=True)
class Value:
    """A value written in the spec: a literal, or a string holding ``${{ }}`` expressions.

    ``template`` is None for a literal (``literal`` holds it, JSON-like; lists/maps as tuples
    of Values / pairs are kept as plain JSON). When ``template.whole`` the value is one
    expression and keeps its type; otherwise it renders to text. ``type`` is the static type.
    """

    literal: Any
    template: Template | None
    type: Type
    span: Span = field(compare=False)
    # what the analysis found, one per expression of ``template`` (derived, so not compared)
    typed: tuple["TypedExpr", ...] = field(default=(), compare=False, repr=False)

    @property
    def is_literal(self) -> bool:
        return self.template is None


@record(frozen=True)
class TypedExpr:
    """One ``${{ }}`` of a Value with what the analysis found: the static type of every node and
    where every node is in the file. Backends read these instead of re-running the type checker,
    and point what they cannot translate at the node (``backends/translate.py``)."""

    expr: "Expr"
    offset: int                     # where the expression's source begins in the host string
    node_types: tuple[Type, ...]    # the type of each node of ``expr.walk(expr)``, in that order
    where: ScalarMap                # the host scalar's offset -> span map

    def types(self) -> dict[int, Type]:
        """id(node) -> static type, for every node of ``expr`` (by identity: equal sub-trees in
        different places are different nodes)."""
        from .expr.ast import walk
        return {id(n): t for n, t in zip(walk(self.expr), self.node_types)}

    def span_of(self, node: "Expr") -> Span:
        return self.where.at(self.offset + node.start, self.offset + node.end)


@record(frozen=True)
class Shell:
    """A shell-string ``run:`` as ``/bin/sh -c`` receives it (``compiler/shell.py``).

    ``script`` is the command with each ``${{ }}`` replaced by a reference to an environment
    variable, quoted for where it stands (``"${PIPESPEC_EXPR_1}"`` outside quotes,
    ``${PIPESPEC_EXPR_1}`` inside double quotes or a here-document); ``bindings`` name those
    variables and the whole expression whose value, as text, each one holds. No value is ever
    part of the script: the shell reads it as data.
    """

    script: str
    bindings: tuple[tuple[str, Value], ...]
    span: Span = field(compare=False)


@record(frozen=True)
class Param:
    name: str
    type: Type
    required: bool
    default: Any                       # JSON value; None when required
    description: str
    enum: tuple | None
    minimum: float | None
    maximum: float | None
    span: Span = field(compare=False)


@record(frozen=True)
class Secret:
    """A named reference to a secret, never its value. ``env`` is the environment variable the
    step's process reads it from (and the local runner's store); ``stores`` are the references
    the spec wrote for targets' stores (``secrets.NAME.<store>: ref``), in file order. A target
    reads its store's reference with ``SecretStore.ref`` (``backends/options.py``), which
    applies the store's default when the spec wrote none."""

    name: str
    description: str
    env: str
    stores: tuple[tuple[str, str], ...]
    span: Span = field(compare=False)

    def ref(self, store: str) -> str | None:
        """The reference the spec wrote for ``store``, if any."""
        for key, ref in self.stores:
            if key == store:
                return ref
        return None


@record(frozen=True)
class Output:
    name: str
    type: str                          # one of ARTIFACT_TYPES or VALUE_TYPES
    description: str
    span: Span = field(compare=False)

    @property
    def is_artifact(self) -> bool:
        return self.type in _artifact_types()


@record(frozen=True)
class Input:
    """One upstream output a step reads (through any of its expressions)."""

    step: str
    output: str
    type: str                          # the producer's output type
    fan_in: bool                       # the producer has foreach: the value arrives as a list

    @property
    def is_artifact(self) -> bool:
        return self.type in _artifact_types()


@record(frozen=True)
class Retries:
    limit: int
    delay_s: float
    backoff: float
    max_delay_s: float


@record(frozen=True)
class Resources:
    cpu: float | None                  # cores
    memory: int | None                 # bytes
    gpu: int
    accelerator: str | None


@record(frozen=True)
class Step:
    name: str
    description: str
    kind: str                          # 'run' | 'call'
    shell: Shell | None                # run: "string"  (executed by /bin/sh -c)
    argv: tuple[Value, ...] | None     # run: [list]    (executed without a shell)
    module: str | None                 # call: module:function
    function: str | None
    args: tuple[tuple[str, Value], ...]          # with:, in file order
    outputs: tuple[Output, ...]
    needs: tuple[str, ...]                       # explicit ordering, as written
    depends_on: tuple[str, ...]                  # every upstream step, sorted
    inputs: tuple[Input, ...]                    # every upstream output read, sorted
    condition: Value | None                      # if:, a bool-typed whole expression
    foreach: Value | None                        # a list-typed value
    item_type: Type | None
    parallelism: int | None
    image: str | None
    env: tuple[tuple[str, Value], ...]           # pipeline env merged with defaults and step env
    secrets: tuple[str, ...]                     # secret names the step's env reads
    resources: Resources
    retries: Retries
    timeout_s: float | None
    cache: bool
    deps: tuple[str, ...]
    is_finally: bool
    may_skip: bool                               # has if:, or depends on a step that may skip
    span: Span = field(compare=False)
    # setting -> where it is written, for the settings the step takes from defaults:
    spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False)

    def span_of(self, setting: str) -> Span:
        """Where ``setting`` (retries, timeout, cache, resources, image) is written for this step:
        under defaults: when it comes from there, else the step."""
        return next((s for k, s in self.spans if k == setting), self.span)

    def output(self, name: str) -> Output | None:
        for o in self.outputs:
            if o.name == name:
                return o
        return None

    @property
    def artifact_outputs(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if o.is_artifact)

    @property
    def value_outputs(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if not o.is_artifact)


@record(frozen=True)
class Channel:
    """An alert channel of ``notify:``: its address or key is the value of ``secret``."""

    name: str
    type: str                          # slack | webhook | email | pagerduty
    secret: str
    to: tuple[str, ...]                # email
    sender: str | None                 # email
    severity: str                      # pagerduty
    url: str | None                    # pagerduty endpoint; None: the public one
    span: Span = field(compare=False)


@record(frozen=True)
class Alert:
    """Which channels hear of what: ``event`` is failure | success | recovery | condition, of the
    run, or of one step (``step``)."""

    event: str
    channels: tuple[str, ...]
    condition: Value | None            # condition: a bool-typed whole expression
    reads: tuple[str, ...]             # condition: the steps whose outputs it reads, sorted
    message: str
    span: Span = field(compare=False)
    step: str | None = None            # notify.steps: the step it is about; None: the run


@record(frozen=True)
class Register:
    step: str
    output: str
    model: str
    alias: str | None


@record(frozen=True)
class Observe:
    """``notify:``, ``tracking:`` and ``metrics:`` of a pipeline (docs/spec.md "Alerts,
    tracking and metrics"); ``None`` fields were not written."""

    channels: tuple[Channel, ...]
    alerts: tuple[Alert, ...]
    mlflow_experiment: str | None
    mlflow_uri: str | None
    register: tuple[Register, ...]
    tracking: bool
    textfile: str | None
    pushgateway: str | None
    pushgateway_secret: str | None
    push_job: str
    spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False)   # key -> where it is written

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.name == name)


@record(frozen=True)
class Pipeline:
    version: int
    name: str
    description: str
    schedule: str | None
    params: tuple[Param, ...]
    secrets: tuple[Secret, ...]
    steps: tuple[Step, ...]            # topological order, finally steps excluded
    finally_steps: tuple[Step, ...]    # in file order
    targets: tuple[tuple[str, Any], ...]   # (target, its options as the spec wrote them), by name
    source: str = field(compare=False)  # the spec's path as given (not part of the digest)
    span: Span = field(compare=False)
    # notify:/tracking:/metrics:; left out of to_json() when None, so that specs without them
    # keep their digest
    observe: Observe | None = field(default=None, metadata={"omit_none": True})

    def step(self, name: str) -> Step:
        for s in self.steps + self.finally_steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def all_steps(self) -> tuple[Step, ...]:
        return self.steps + self.finally_steps

    def target(self, name: str) -> dict:
        """``targets.<name>`` as written (plain JSON; ``{}`` when absent). A backend reads its
        typed options object instead (``Backend.opts``, ``backends/options.py``)."""
        for key, options in self.targets:
            if key == name:
                return options if isinstance(options, dict) else {}
        return {}

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spans (positions do not change meaning)."""
        return self._json

    def digest(self) -> str:
        return self._digest

    # computed once: backends put the digest in headers and executors, the runner keys on it
    @cached_property
    def _json(self) -> str:
        return json.dumps(_plain(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @cached_property
    def _digest(self) -> str:
        return hashlib.sha256(self._json.encode("utf-8")).hexdigest()


def _plain(obj: Any, memo: dict | None = None) -> Any:
    """Dataclasses -> JSON-like data, dropping spans and expression offsets. A node shared by
    several steps (the pipeline env is in every step's env) is converted once: ``memo`` maps
    its id to its data, which the result then shares."""
    t = type(obj)
    convert = _CONVERTERS.get(t) or _converter(t)
    return convert(obj, {} if memo is None else memo)


def plain(pipeline: "Pipeline") -> dict:
    """The data whose canonical JSON is ``to_json()`` (shared subtrees stay shared)."""
    return _plain(pipeline)


# One converter per type, made on first sight: the generic walk (the fields and
# is_dataclass on every node) was most of the digest's cost at 10000 steps.
_CONVERTERS: dict[type, Any] = {}
_SKIPPED = ("span", "start", "end", "offset")


def _artifact_types() -> tuple:
    # one list of the artifact types, kept with the raw model (spec.py); imported on first use:
    # a cached run loads the IR from its cache and never needs the raw model's classes
    from .spec import ARTIFACT_TYPES

    return ARTIFACT_TYPES


def _fields(t: type):
    """The fields of a record (``pipespec.record``) or of a dataclass; None for anything else."""
    got = getattr(t, "__record_fields__", None)
    if got is None and isinstance(t, type) and hasattr(t, "__dataclass_fields__"):
        import dataclasses

        got = dataclasses.fields(t)
    return got


def _converter(t: type):
    fields_ = _fields(t)
    if fields_ is not None:
        name = t.__name__
        names = tuple(f.name for f in fields_ if f.compare and f.name not in _SKIPPED)
        omit_none = frozenset(f.name for f in fields_ if f.metadata.get("omit_none"))

        def convert(obj, memo):
            done = memo.get(id(obj))
            if done is not None:
                return done[1]
            out = {"_": name}
            for n in names:
                v = getattr(obj, n)
                if v is None and n in omit_none:
                    continue
                out[n] = v if type(v) in _SCALARS else _plain(v, memo)
            memo[id(obj)] = (obj, out)          # obj kept alive so its id is not reused meanwhile
            return out
    elif issubclass(t, (list, tuple)):
        def convert(obj, memo):
            return [x if type(x) in _SCALARS else _plain(x, memo) for x in obj]
    elif issubclass(t, dict):
        def convert(obj, memo):
            return {str(k): _plain(v, memo) for k, v in obj.items()}
    elif issubclass(t, float):
        def convert(obj, memo):
            return "NaN" if obj != obj else obj
    else:
        def convert(obj, memo):
            return obj
    _CONVERTERS[t] = convert
    return convert


_SCALARS = frozenset({str, int, bool, type(None)})     # returned as they are
