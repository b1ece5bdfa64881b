"""Source positions. Every syntax node, IR node and diagnostic carries a ``Span``."""

from __future__ import annotations

from .record import record


@record(frozen=True, slots=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; ``end_col`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col,
                "end_line": self.end_line, "end_col": self.end_col}


@record(frozen=True, slots=True)
class ScalarMap:
    """Where each character of a string scalar's value is in the file: the host scalar's offset
    -> span map. The one policy for positions inside expressions: the analysis reports through it
    and the IR carries it (``ir.TypedExpr``) so that every backend's refusal points at the node.

    ``value`` is None for a scalar that is not a string (every offset is then the whole scalar).
    """

    span: Span
    value: str | None
    style: str = ""            # '' plain, "'" single, '"' double, '|' literal, '>' folded
    source: str = ""           # the raw source text of the scalar

    def at(self, start: int, end: int) -> Span:
        """The span of ``value[start:end]`` (a string value) inside the file.

        Exact for plain, single-line quoted and literal block scalars; other styles point at
        the start of the scalar.
        """
        if self.value is None:
            return self.span
        if self.style == "|" or (self.style == "" and "\n" not in self.source and self.source == self.value):
            return self._direct_span(start, end)
        if end <= start:
            # an empty range (e.g. "found the end" of an expression): point at the one
            # character there, or just past the last one
            if start < len(self.value):
                return self.at(start, start + 1)
            if start > 0:
                s = self.at(start - 1, start)
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


UNKNOWN = Span("<unknown>", 0, 0, 0, 0)
