"""One translator of ``${{ }}`` expressions for every target; each target lists its differences.

Takes a typed IR expression (``ir.TypedExpr``: the AST, the static type of every node as the
analysis computed it, the host scalar's offset -> span map) and gives the target's text. As in
sqlglot, where one ``Generator`` walks the tree and a dialect holds only its renames and
refusals, ``Translator`` owns the walk and the shared parts:

- one dispatch: ``gen(node)`` calls the method named for the node's class (``literal``, ``ref``,
  ``index``, ``member``, ``unary``, ``binary``, ``call``, ``listexpr``);
- one error: ``unsupported(node, why)`` raises ``Unsupported``; ``render`` reports it as E600 at
  the node's exact place in the file (``TypedExpr.span_of``, the same policy the analysis uses
  for its diagnostics), and each ``warn(node, why)`` as W600 there;
- one literal hook (``write_literal``), one paren helper (``paren``/``unparen``);
- one function table per target, ``FUNCTIONS``: every function of the language
  (``pipespec.expr.FUNCTIONS``) maps to a rename (``str``), a translation (a callable taking the
  translator and the call) or a refusal (``Refused``). A table that misses a function, or names
  one the language lacks, fails when the class is defined, so no call falls through.

The tables live beside their targets rather than in ``compiler/expr/functions.py``: the core
then names no backend, and a new target is one module with its own table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, NoReturn, Union

from pipespec import expr as E
from pipespec import ir
from pipespec.expr.functions import FUNCTIONS as LANGUAGE_FUNCTIONS


class Unsupported(Exception):
    """The target cannot express ``node``; ``why`` says so in the user's words."""

    def __init__(self, node: E.Expr, why: str) -> None:
        super().__init__(why)
        self.node = node
        self.why = why


@dataclass(frozen=True)
class Refused:
    """A function the target has no counterpart for; ``why`` may name it as ``{name}``."""

    why: str


# target -> its translator, filled as the backends' modules are imported
DIALECTS: dict[str, type["Translator"]] = {}

FunctionEntry = Union[str, Refused, Callable[["Translator", E.Call], str]]


class Translator:
    """Walks one typed expression; a target subclass fills in what differs."""

    target: ClassVar[str] = ""
    FUNCTIONS: ClassVar[dict[str, FunctionEntry]] = {}
    QUOTES: ClassVar[str] = "'"          # the target's string quotes, for ``unparen``
    BACKSLASH: ClassVar[bool] = True     # whether a backslash escapes the next character in them

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.target:
            missing = sorted(set(LANGUAGE_FUNCTIONS) - set(cls.FUNCTIONS))
            unknown = sorted(set(cls.FUNCTIONS) - set(LANGUAGE_FUNCTIONS))
            if missing or unknown:
                raise TypeError(f"{cls.__name__}.FUNCTIONS must list every function of the language: "
                                f"missing {missing}, unknown {unknown}")
            DIALECTS[cls.target] = cls

    def __init__(self) -> None:
        self.warnings: list[tuple[E.Expr, str]] = []
        self._types: dict[int, E.Type] = {}

    # -- entry points ------------------------------------------------------------------------
    def translate(self, ex: ir.TypedExpr) -> str:
        """The target text of ``ex``; raises ``Unsupported`` for what the target cannot say."""
        self.warnings = []
        self._types = ex.types()
        return self.top(self.gen(ex.expr))

    def render(self, value: ir.Value, backend, what: str, help: str | None = None) -> str | None:
        """The text of ``value``'s one expression, or None once ``backend`` was told why not."""
        ex = value.typed[0]
        try:
            text = self.translate(ex)
        except Unsupported as e:
            backend.unsupported(ex.span_of(e.node), f"{what}: {e.why}", help=help)
            return None
        for node, why in self.warnings:
            backend.unsupported(ex.span_of(node), f"{what}: {why}", emulated=True)
        return text

    def top(self, text: str) -> str:
        """The finished text of the whole expression (by default without enclosing parens)."""
        return self.unparen(text)

    # -- shared parts ------------------------------------------------------------------------
    def gen(self, node: E.Expr) -> str:
        return getattr(self, type(node).__name__.lower())(node)

    def type_of(self, node: E.Expr) -> E.Type:
        return self._types.get(id(node), E.ANY)

    def unsupported(self, node: E.Expr, why: str) -> NoReturn:
        raise Unsupported(node, why)

    def warn(self, node: E.Expr, why: str) -> None:
        self.warnings.append((node, why))

    def write_literal(self, value: Any) -> str:
        """The target's literal for a JSON-like value; ValueError when it has none."""
        raise NotImplementedError

    def literal(self, node: E.Literal) -> str:
        try:
            return self.write_literal(node.value)
        except ValueError as e:
            self.unsupported(node, str(e))

    def call(self, node: E.Call) -> str:
        entry = self.FUNCTIONS[node.name]
        if isinstance(entry, Refused):
            self.unsupported(node, entry.why.format(name=node.name))
        if isinstance(entry, str):
            return f"{self.callee(entry)}({', '.join(self.gen(a) for a in node.args)})"
        return entry(self, node)

    def callee(self, name: str) -> str:
        """The name a renamed function is called by (a target may note what it uses)."""
        return name

    @staticmethod
    def paren(text: str) -> str:
        return f"({text})"

    def unparen(self, text: str) -> str:
        """``text`` without one pair of parentheses that encloses all of it (``(a) && (b)``
        keeps both). Quoted strings are skipped over by the target's quoting rules."""
        if not (text.startswith("(") and text.endswith(")")):
            return text
        depth, quote, i = 0, "", 0
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\" and self.BACKSLASH:
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in self.QUOTES:
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0 and i != len(text) - 1:
                    return text
            i += 1
        return text[1:-1]


def function_support(translator: type[Translator]) -> dict[str, str | None]:
    """function -> None when ``translator`` translates it, else why it is refused."""
    return {name: (entry.why.format(name=name) if isinstance(entry, Refused) else None)
            for name, entry in translator.FUNCTIONS.items()}
