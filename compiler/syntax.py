"""The positioned syntax tree that the loader builds from YAML text.

Three node kinds mirror YAML: ``MapNode`` (string keys, in file order), ``SeqNode`` and
``ScalarNode``. Every node keeps its ``Span``; a ``MapNode`` also keeps the span of each key, so
a diagnostic about a key (unknown, duplicated) points at the key itself. ``to_python()`` gives
the plain JSON-like value that the JSON Schema check sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .span import Span


@dataclass(frozen=True, slots=True)
class ScalarNode:
    value: Any                 # str | int | float | bool | None after YAML 1.2 core resolution
    span: Span
    style: str = ""            # '' plain, "'" single, '"' double, '|' literal, '>' folded
    source: str = ""           # the raw source text of the scalar, for offset mapping

    def to_python(self) -> Any:
        return self.value

    def offset_span(self, start: int, end: int) -> Span:
        """The span of ``value[start:end]`` (a string value) inside the file.

        Exact for plain, single-line quoted and literal block scalars; other styles point at
        the start of the scalar.
        """
        if not isinstance(self.value, str):
            return self.span
        if self.style == "|" or (self.style == "" and "\n" not in self.source and self.source == self.value):
            return self._direct_span(start, end)
        if end <= start:
            # an empty range (e.g. "found the end" of an expression): point at the one
            # character there, or just past the last one
            if start < len(self.value):
                return self.offset_span(start, start + 1)
            if start > 0:
                s = self.offset_span(start - 1, start)
                return Span(s.file, s.line, s.end_col, s.line, s.end_col + 1) if s is not self.span else s
        text = self.value[start:end]
        src = self.source
        # count how many times ``text`` occurs before ``start`` to pick the same occurrence
        nth = self.value.count(text, 0, start) if text else 0
        pos = -1
        for _ in range(nth + 1):
            pos = src.find(text, pos + 1)
            if pos < 0:
                break
        if not text or pos < 0:
            return self.span
        line, col = self.span.line, self.span.col
        before = src[:pos]
        nl = before.count("\n")
        if nl:
            line += nl
            col = len(before) - before.rfind("\n")
        else:
            col += len(before)
        seg = src[pos:pos + len(text)]
        if "\n" in seg:
            return Span(self.span.file, line, col, line, col + len(seg.split("\n", 1)[0]) or col + 1)
        return Span(self.span.file, line, col, line, col + max(1, len(seg)))


    def _direct_span(self, start: int, end: int) -> Span:
        """Plain one-line and literal block scalars keep every character of their value in the
        file (a block only loses its indentation), so an offset maps to a position directly."""
        v, file = self.value, self.span.file
        start = max(0, min(start, len(v)))
        end = max(start + 1, end)
        k = v.count("\n", 0, start)
        c = start - (v.rfind("\n", 0, start) + 1)
        if self.style == "|":
            lines = self.source.split("\n")[1:]   # the first source line holds the | header
            body = [ln for ln in lines if ln.strip()]
            indent = len(body[0]) - len(body[0].lstrip(" ")) if body else 0
            line, col = self.span.line + 1 + k, indent + c + 1
        else:
            line, col = self.span.line, self.span.col + c
        nl = v.find("\n", start)
        stop = end if nl < 0 or end <= nl else max(nl, start + 1)
        return Span(file, line, col, line, col + (stop - start))


@dataclass(frozen=True, slots=True)
class SeqNode:
    items: tuple["Node", ...]
    span: Span

    def to_python(self) -> list:
        return [i.to_python() for i in self.items]


@dataclass(frozen=True, slots=True)
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


Node = Union[ScalarNode, SeqNode, MapNode]


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
