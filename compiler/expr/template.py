"""Strings with ``${{ }}`` in them: ``split_template(text) -> Template``.

Any string in a spec may hold expressions. A template is its text cut into literal parts and
parsed expressions; each expression remembers where its source begins in the string, so an
error inside it points at the right column of the YAML file (host position + offset).
"""

from __future__ import annotations

from ..record import record
TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, Callable

from .ast import Expr, Ref
from .errors import ExprSyntaxError
from .parser import parse

OPEN = "${{"
CLOSE = "}}"


class TemplateError(Exception):
    """A string's ``${{ }}`` is malformed. Offsets are into the whole string; ``code`` is the
    diagnostic code: E314 for a ``${{`` never closed, E300 for a syntax error inside."""

    def __init__(self, message: str, start: int, end: int, code: str,
                 expected: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end
        self.code = code
        self.expected = expected

    def __repr__(self) -> str:
        return f"TemplateError({self.message!r}, {self.start}, {self.end}, {self.code!r})"


@record(frozen=True, slots=True)
class TemplateExpr:
    source: str         # the text between '${{' and '}}'
    expr: Expr          # positions in ``expr`` are offsets into ``source``
    offset: int         # where ``source`` begins in the whole string

    @property
    def start(self) -> int:
        """Where the ``${{`` begins in the whole string."""
        return self.offset - len(OPEN)

    @property
    def end(self) -> int:
        """Just past the closing ``}}`` in the whole string."""
        return self.offset + len(self.source) + len(CLOSE)


@record(frozen=True, slots=True)
class Template:
    parts: tuple["str | TemplateExpr", ...]

    @property
    def exprs(self) -> tuple[TemplateExpr, ...]:
        return tuple(p for p in self.parts if isinstance(p, TemplateExpr))

    @property
    def is_literal(self) -> bool:
        return not any(isinstance(p, TemplateExpr) for p in self.parts)

    @property
    def whole(self) -> bool:
        """One expression and nothing but whitespace around it: it keeps its own type."""
        exprs = self.exprs
        return len(exprs) == 1 and all(
            isinstance(p, TemplateExpr) or not p.strip() for p in self.parts)

    def render(self, lookup: Callable[[Ref], Any]) -> Any:
        """The value of the string: a whole expression's value, or else text."""
        from .errors import EvalError
        from .evaluate import evaluate
        from .functions import MAX_TEXT_CHARS, too_long
        from .values import to_text

        if self.whole:
            return evaluate(self.exprs[0].expr, lookup)
        out, n = [], 0
        for p in self.parts:
            text = p if isinstance(p, str) else to_text(evaluate(p.expr, lookup))
            n += len(text)
            if n > MAX_TEXT_CHARS and not isinstance(p, str):
                raise EvalError(too_long(n).replace("result", "text with its expressions"), p.start, p.end)
            out.append(text)
        return "".join(out)


def split_template(text: str) -> Template:
    """Cut ``text`` into literal text and parsed ``${{ }}`` expressions."""
    if OPEN not in text:            # the common case, on every string of every spec
        return Template((text,) if text else ())
    parts: list[str | TemplateExpr] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            break
        inner = start + len(OPEN)
        close = _find_close(text, inner)
        if close < 0:
            raise TemplateError("'${{' is never closed: expected '}}'", start, inner, "E314")
        source = text[inner:close]
        try:
            expr = parse(source)
        except ExprSyntaxError as e:
            raise TemplateError(e.message, inner + e.start, inner + e.end, "E300",
                                e.expected) from None
        if start > pos:
            parts.append(text[pos:start])
        parts.append(TemplateExpr(source, expr, inner))
        pos = close + len(CLOSE)
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts))


def _find_close(text: str, i: int) -> int:
    """The index of the ``}}`` that ends the expression starting at ``i``, or -1.

    A ``}}`` inside a single-quoted string does not end it ('' inside a string is a quote
    and simply toggles twice). If a string is left open, the first ``}}`` at all is taken
    instead, so the parser can report the unterminated string where it starts.
    """
    quoted = False
    j, n = i, len(text)
    while j < n:
        ch = text[j]
        if ch == "'":
            quoted = not quoted
        elif not quoted and text.startswith(CLOSE, j):
            return j
        j += 1
    return text.find(CLOSE, i) if quoted else -1
