"""The language versions a spec can declare (``pipespec: N``) and the migrations between them,
for ``pipespec upgrade`` (docs/versions.md).

A migration from version N to N+1 is a function of the positioned tree (``syntax``) of a
version-N file that returns ``Edit``s: spans of the source and the text each becomes. The
upgrade applies them to the text itself — comments, quoting, blank lines and key order stay as
they were, since nothing is re-dumped — then sets the ``pipespec:`` value, parses the result
again and goes on with the next migration. Migrations are kept for good: a file of any old
version can be upgraded by any later pipespec, even one that no longer validates that version.

There is no version 2 yet, so the registry is empty; tests register a migration of their own
to prove the machinery. Light: validate imports this module for the unsupported-version hint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .span import Span

LANGUAGE_VERSION = 1           # the version this pipespec validates and compiles


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the source text of ``span`` (as the loader gave it) by ``text``."""

    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Migration:
    from_version: int
    summary: str                         # one line: what changes for the user
    rewrite: Callable[..., list[Edit]]   # (root MapNode, text) -> edits; never the pipespec: key


MIGRATIONS: dict[int, Migration] = {}


def register(migration: Migration) -> Migration:
    if migration.from_version in MIGRATIONS:
        raise ValueError(f"a migration from version {migration.from_version} is registered already")
    MIGRATIONS[migration.from_version] = migration
    return migration


def unregister(from_version: int) -> None:
    MIGRATIONS.pop(from_version, None)


def latest() -> int:
    """The newest version ``upgrade`` can reach: LANGUAGE_VERSION, unless a migration goes
    further (a migration registered ahead of its release, or by a test)."""
    return max([LANGUAGE_VERSION, *(v + 1 for v in MIGRATIONS)])


def can_upgrade(version: int) -> bool:
    """A chain of migrations leads from ``version`` to ``latest()``."""
    v = version
    while v < latest() and v in MIGRATIONS:
        v += 1
    return v == latest() and version < v


def version_hint(value: object, file: str) -> str:
    """The help of an unsupported-version diagnostic for ``pipespec: value``."""
    ok = f"this pipespec reads version {LANGUAGE_VERSION}: `pipespec: {LANGUAGE_VERSION}`"
    if isinstance(value, bool) or not isinstance(value, int):
        return ok
    if value > LANGUAGE_VERSION:
        return (f"version {value} is newer than this pipespec reads ({LANGUAGE_VERSION}): the file was written "
                "for a later pipespec; install that one (pip install -U pipespec), or write the file for "
                f"version {LANGUAGE_VERSION}")
    if can_upgrade(value):
        return f"version {value} is no longer read; rewrite the file for version {latest()}: pipespec upgrade {file}"
    return ok


def offsets(text: str) -> list[int]:
    """The offset of each line's first character (line 1 at index 0)."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def apply(text: str, edits: list[Edit]) -> str:
    """``text`` with every edit made; edits must not overlap (a migration's bug: ValueError)."""
    starts = offsets(text)

    def at(line: int, col: int) -> int:
        return starts[line - 1] + col - 1

    spans = sorted(((at(e.span.line, e.span.col), at(e.span.end_line, e.span.end_col), e.text) for e in edits),
                   reverse=True)
    end_before = len(text) + 1
    for start, end, new in spans:
        if end > end_before or start > end:
            raise ValueError(f"edits overlap at offset {start}")
        text = text[:start] + new + text[end:]
        end_before = start
    return text


def rename_key(node, old: str, new: str) -> list[Edit]:
    """An edit that renames key ``old`` of a mapping node to ``new`` (nothing if it is absent):
    the key's own source is replaced, so its quoting style and the value stay as written."""
    from .syntax import MapNode

    key = node.key_node(old) if isinstance(node, MapNode) else None
    if key is None:
        return []
    quote = key.style if key.style in ("'", '"') else ""
    return [Edit(key.span, f"{quote}{new}{quote}")]
