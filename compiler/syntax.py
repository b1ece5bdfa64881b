"""The positioned syntax tree that the loader builds from YAML text.

Three node kinds mirror YAML: ``MapNode`` (string keys, in file order), ``SeqNode`` and
``ScalarNode``. Every node keeps its ``Span``; a ``MapNode`` also keeps the span of each key, so
a diagnostic about a key (unknown, duplicated) points at the key itself. ``to_python()`` gives
the plain JSON-like value that the JSON Schema check sees.
"""

from __future__ import annotations

from .record import record, field

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

from .span import ScalarMap, Span


@record(frozen=True, slots=True)
class ScalarNode:
    value: Any                 # str | int | float | bool | None after YAML 1.2 core resolution
    span: Span
    style: str = ""            # '' plain, "'" single, '"' double, '|' literal, '>' folded
    source: str = ""           # the raw source text of the scalar, for offset mapping

    def to_python(self) -> Any:
        return self.value

    def offset_span(self, start: int, end: int) -> Span:
        """The span of ``value[start:end]`` (a string value) inside the file (``span.ScalarMap``)."""
        return self.positions().at(start, end)

    def positions(self) -> ScalarMap:
        """This scalar's offset -> span map: the one policy for positions inside a string, which
        the analysis uses for its diagnostics and the IR carries to the backends."""
        return ScalarMap(self.span, self.value if isinstance(self.value, str) else None, self.style, self.source)


@record(frozen=True, slots=True)
class SeqNode:
    items: tuple["Node", ...]
    span: Span

    def to_python(self) -> list:
        return [i.to_python() for i in self.items]


@record(frozen=True, slots=True)
class MapNode:
    items: tuple[tuple[ScalarNode, "Node"], ...]   # (key node, value node), file order
    span: Span
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for k, v in self.items:
            self._index.setdefault(k.value, (k, v))

    def get(self, key: str) -> "Node | None":
        kv = self._index.get(key)
        return kv[1] if kv else None

    def key_node(self, key: str) -> ScalarNode | None:
        kv = self._index.get(key)
        return kv[0] if kv else None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items]

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def to_python(self) -> dict:
        return {k.value: v.to_python() for k, v in self.items}


Node = "ScalarNode | SeqNode | MapNode"     # for annotations (they are strings here)


def node_at(root: Node, path: tuple) -> Node | None:
    """Follow a JSON path (keys and indexes) from ``root``; None where it leads nowhere."""
    node: Node | None = root
    for p in path:
        if isinstance(node, MapNode) and isinstance(p, str):
            node = node.get(p)
        elif isinstance(node, SeqNode) and isinstance(p, int) and 0 <= p < len(node.items):
            node = node.items[p]
        else:
            return None
    return node
