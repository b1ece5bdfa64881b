"""The raw model: what the YAML says, read defensively from the syntax tree.

Built even when the shape check found errors, so that semantic checks can still report what
they can in the same pass; every accessor tolerates a wrong shape (and returns nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .span import Span
from .syntax import MapNode, Node, ScalarNode, SeqNode


def as_map(node: Node | None) -> MapNode | None:
    return node if isinstance(node, MapNode) else None


def as_str(node: Node | None) -> str | None:
    if isinstance(node, ScalarNode) and isinstance(node.value, str):
        return node.value
    return None


def map_items(node: Node | None) -> list[tuple[ScalarNode, Node]]:
    return list(node.items) if isinstance(node, MapNode) else []


# the output types that are files or folders (the rest are values): one list for the checks,
# the analysis and the IR
ARTIFACT_TYPES = ("dataset", "model", "metrics", "file", "dir")


@dataclass(frozen=True)
class RawOutput:
    name: str
    type: str
    description: str
    key: ScalarNode


@dataclass(frozen=True)
class RawStep:
    name: str
    key: ScalarNode              # the step's name in the file
    node: MapNode
    is_finally: bool
    index: int                   # position in the file, for stable ordering

    def get(self, key: str) -> Node | None:
        return self.node.get(key)

    @property
    def span(self) -> Span:
        return self.key.span

    @property
    def outputs(self) -> list[RawOutput]:
        out = []
        for k, v in map_items(self.node.get("outputs")):
            if not isinstance(k.value, str):
                continue
            if isinstance(v, ScalarNode) and isinstance(v.value, str):
                out.append(RawOutput(k.value, v.value, "", k))
            elif isinstance(v, MapNode) and as_str(v.get("type")):
                out.append(RawOutput(k.value, as_str(v.get("type")), as_str(v.get("description")) or "", k))
        return out

    def output(self, name: str) -> RawOutput | None:
        for o in self.outputs:
            if o.name == name:
                return o
        return None

    @property
    def has_foreach(self) -> bool:
        return "foreach" in self.node

    @property
    def needs(self) -> list[ScalarNode]:
        n = self.node.get("needs")
        return [i for i in n.items if isinstance(i, ScalarNode) and isinstance(i.value, str)] if isinstance(n, SeqNode) else []


@dataclass
class RawPipeline:
    file: str
    root: MapNode
    steps: dict[str, RawStep] = field(default_factory=dict)
    finally_steps: dict[str, RawStep] = field(default_factory=dict)
    params: dict[str, tuple[ScalarNode, MapNode]] = field(default_factory=dict)
    secrets: dict[str, tuple[ScalarNode, MapNode]] = field(default_factory=dict)

    @classmethod
    def read(cls, file: str, root: MapNode) -> "RawPipeline":
        p = cls(file, root)
        i = 0
        for section, dest in (("steps", p.steps), ("finally", p.finally_steps)):
            for k, v in map_items(root.get(section)):
                if isinstance(k.value, str) and isinstance(v, MapNode):
                    dest[k.value] = RawStep(k.value, k, v, section == "finally", i)
                    i += 1
        for k, v in map_items(root.get("params")):
            if isinstance(v, MapNode):
                p.params[k.value] = (k, v)
        for k, v in map_items(root.get("secrets")):
            p.secrets[k.value] = (k, v if isinstance(v, MapNode) else MapNode((), k.span))
        return p

    @property
    def all_steps(self) -> list[RawStep]:
        return list(self.steps.values()) + list(self.finally_steps.values())

    def env_blocks(self) -> list[tuple[str, Node | None]]:
        """Every env: mapping of the spec, with the words that name it in a message."""
        out: list[tuple[str, Node | None]] = [("the pipeline env:", self.root.get("env"))]
        dflt = as_map(self.root.get("defaults"))
        if dflt:
            out.append(("defaults env:", dflt.get("env")))
        out += [(f"env: of step '{st.name}'", st.get("env")) for st in self.all_steps]
        return out

    def param_type(self, name: str) -> str | None:
        _, node = self.params.get(name, (None, None))
        return as_str(node.get("type")) if node else None
