"""Source positions. Every syntax node, IR node and diagnostic carries a ``Span``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; ``end_col`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def at_offset(self, start: int, end: int | None = None) -> "Span":
        """The span of characters ``start:end`` of a single-line scalar that begins at this span.

        Used to point inside an expression: the host scalar's position plus the offset.
        """
        end = start + 1 if end is None else max(end, start + 1)
        return Span(self.file, self.line, self.col + start, self.line, self.col + end)

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col,
                "end_line": self.end_line, "end_col": self.end_col}


UNKNOWN = Span("<unknown>", 0, 0, 0, 0)
