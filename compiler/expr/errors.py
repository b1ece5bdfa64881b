"""The errors the expression stage raises. No lark exception ever leaves the package."""

from __future__ import annotations


class ExprSyntaxError(Exception):
    """The text inside ``${{ }}`` does not parse. ``start``/``end`` are offsets into it."""

    def __init__(self, message: str, start: int, end: int, expected: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end
        self.expected = expected

    def __repr__(self) -> str:
        return f"ExprSyntaxError({self.message!r}, {self.start}, {self.end})"


class EvalError(Exception):
    """Evaluating an expression failed at run time. ``start``/``end`` locate the node."""

    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"EvalError({self.message!r}, {self.start}, {self.end})"
