"""The raw model: the spec as written, typed, with positions, built once from the syntax tree.

Built right after the shape check, and even when it found errors, so that semantic checks can
still report what they can in the same pass: a field holds its syntax node (which keeps its
``Span``) only when it has the expected kind of node, else ``None`` or nothing. The analysis,
the graph, the checks and the lowering all read this model; only checks that point at one key
of a mapping still reach for the ``node`` kept beside each object. ``targets`` stays a raw
mapping: each backend reads its own part.

The records are named tuples (``record.named_tuple``: ``typing.NamedTuple``'s class syntax
without typing): typed and immutable like frozen dataclasses, and without a per-instance dict
like slotted ones. ``validate`` imports this module on every run; defining these seven costs
less than seven frozen slotted dataclasses, and less again than ``typing.NamedTuple``, which
compiles each string annotation into a ForwardRef.
"""

from __future__ import annotations

from .record import named_tuple
from .span import Span
from .syntax import MapNode, Node, ScalarNode, SeqNode

Pairs = tuple[tuple[ScalarNode, Node], ...]      # a mapping as written: (key, value), file order


def as_map(node: Node | None) -> MapNode | None:
    return node if isinstance(node, MapNode) else None


def as_str(node: Node | None) -> str | None:
    if isinstance(node, ScalarNode) and isinstance(node.value, str):
        return node.value
    return None


def map_items(node: Node | None) -> list[tuple[ScalarNode, Node]]:
    return list(node.items) if isinstance(node, MapNode) else []


def _pairs(node: Node | None) -> Pairs:
    return node.items if isinstance(node, MapNode) else ()


# the output types that are files or folders (the rest are values): one list for the checks,
# the analysis and the IR
ARTIFACT_TYPES = ("dataset", "model", "metrics", "file", "dir")


@named_tuple
class RawOutput:
    name: str
    type: str
    description: str
    key: ScalarNode


@named_tuple
class RawParam:
    name: str
    key: ScalarNode
    node: MapNode                # the declaration, for checks that point at one of its keys
    type: str | None
    items: str | None            # the item type of a list parameter
    default: Node | None
    enum: Node | None
    minimum: Node | None
    maximum: Node | None
    description: str


@named_tuple
class RawRetries:
    """``retries: 3`` or ``retries: {limit, delay, backoff, max_delay}``."""

    limit: Node | None
    delay: Node | None
    backoff: Node | None
    max_delay: Node | None
    span: Span

    @staticmethod
    def read(node: Node | None) -> "RawRetries | None":
        if isinstance(node, ScalarNode):
            return RawRetries(node, None, None, None, node.span)
        if isinstance(node, MapNode):
            g = node.get
            return RawRetries(g("limit"), g("delay"), g("backoff"), g("max_delay"), node.span)
        return None


@named_tuple
class RawResources:
    cpu: Node | None
    memory: Node | None
    gpu: Node | None
    accelerator: str | None
    span: Span

    @staticmethod
    def read(node: Node | None) -> "RawResources | None":
        if not isinstance(node, MapNode):
            return None
        g = node.get
        return RawResources(g("cpu"), g("memory"), g("gpu"), as_str(g("accelerator")), node.span)


@named_tuple
class RawSettings:
    """What ``defaults:`` and a step may both set; a step's own value replaces the default."""

    image: Node | None
    timeout: Node | None
    cache: Node | None
    retries: RawRetries | None
    resources: RawResources | None
    env: Pairs
    span: Span

    @staticmethod
    def read(node: MapNode) -> "RawSettings":
        g = node.get
        return RawSettings(g("image"), g("timeout"), g("cache"), RawRetries.read(g("retries")),
                           RawResources.read(g("resources")), _pairs(g("env")), node.span)


@named_tuple
class RawStep:
    name: str
    key: ScalarNode              # the step's name in the file
    node: MapNode                # the step as written, for checks that point at one of its keys
    is_finally: bool
    description: str
    run: Node | None             # a scalar (a shell command) or a sequence (argv)
    call: str | None
    with_: Pairs
    outputs: tuple[RawOutput, ...]
    needs: tuple[ScalarNode, ...]
    condition: Node | None       # if:
    foreach: Node | None
    parallelism: Node | None
    deps: tuple[Node, ...]
    settings: RawSettings        # image, timeout, cache, retries, resources, env

    @staticmethod
    def read(name: str, key: ScalarNode, node: MapNode, is_finally: bool) -> "RawStep":
        g = node.get
        needs = g("needs")
        deps = g("deps")
        return RawStep(
            name, key, node, is_finally, as_str(g("description")) or "", g("run"), as_str(g("call")),
            _pairs(g("with")), _outputs(g("outputs")),
            tuple(i for i in needs.items if isinstance(i, ScalarNode) and isinstance(i.value, str))
            if isinstance(needs, SeqNode) else (),
            g("if"), g("foreach"), g("parallelism"), deps.items if isinstance(deps, SeqNode) else (),
            RawSettings.read(node))

    def get(self, key: str) -> Node | None:
        return self.node.get(key)

    @property
    def span(self) -> Span:
        return self.key.span

    @property
    def env(self) -> Pairs:
        return self.settings.env

    def output(self, name: str) -> RawOutput | None:
        for o in self.outputs:
            if o.name == name:
                return o
        return None

    @property
    def has_foreach(self) -> bool:
        return self.foreach is not None


def _outputs(node: Node | None) -> tuple[RawOutput, ...]:
    out = []
    for k, v in map_items(node):
        if not isinstance(k.value, str):
            continue
        if isinstance(v, ScalarNode) and isinstance(v.value, str):
            out.append(RawOutput(k.value, v.value, "", k))
        elif isinstance(v, MapNode) and as_str(v.get("type")):
            out.append(RawOutput(k.value, as_str(v.get("type")), as_str(v.get("description")) or "", k))
    return tuple(out)


@named_tuple
class RawPipeline:
    file: str
    root: MapNode
    name: str
    description: str
    schedule: str | None
    params: dict[str, RawParam]
    secrets: dict[str, tuple[ScalarNode, MapNode]]
    env: Pairs                   # the pipeline env:
    defaults: RawSettings        # empty when the spec has no defaults:
    steps: dict[str, RawStep]
    finally_steps: dict[str, RawStep]
    targets: Node | None         # raw: each backend reads its own part

    @staticmethod
    def read(file: str, root: MapNode) -> "RawPipeline":
        g = root.get
        steps: dict[str, RawStep] = {}
        finally_steps: dict[str, RawStep] = {}
        for section, dest in (("steps", steps), ("finally", finally_steps)):
            for k, v in map_items(g(section)):
                if isinstance(k.value, str) and isinstance(v, MapNode):
                    dest[k.value] = RawStep.read(k.value, k, v, section == "finally")
        params = {}
        for k, v in map_items(g("params")):
            if isinstance(v, MapNode):
                pg = v.get
                params[k.value] = RawParam(k.value, k, v, as_str(pg("type")), as_str(pg("items")), pg("default"),
                                           pg("enum"), pg("minimum"), pg("maximum"),
                                           as_str(pg("description")) or "")
        secrets = {k.value: (k, v if isinstance(v, MapNode) else MapNode((), k.span)) for k, v in map_items(g("secrets"))}
        defaults = as_map(g("defaults")) or MapNode((), root.span)
        return RawPipeline(file, root, as_str(g("name")) or "", as_str(g("description")) or "",
                           as_str(g("schedule")), params, secrets, _pairs(g("env")),
                           RawSettings.read(defaults), steps, finally_steps, g("targets"))

    @property
    def all_steps(self) -> list[RawStep]:
        return list(self.steps.values()) + list(self.finally_steps.values())

    def env_blocks(self) -> list[tuple[str, Pairs]]:
        """Every env: mapping of the spec, with the words that name it in a message."""
        out: list[tuple[str, Pairs]] = [("the pipeline env:", self.env)]
        if "defaults" in self.root:
            out.append(("defaults env:", self.defaults.env))
        out += [(f"env: of step '{st.name}'", st.env) for st in self.all_steps]
        return out

    def param_type(self, name: str) -> str | None:
        p = self.params.get(name)
        return p.type if p else None
