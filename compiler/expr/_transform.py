"""The grammar's rule callbacks: children (tokens and nodes) -> ``ast`` dataclasses.

``parser.py`` calls them as its LALR loop reduces each rule (one method per rule name or
``-> alias`` of grammar.lark); the lark-equivalence test calls them on lark's tree."""

from __future__ import annotations

from .ast import Binary, Call, Index, ListExpr, Literal, Member, Ref, Unary
from .errors import ExprSyntaxError

_KEYWORDS = {"true", "false", "null"}


class Token(str):
    """A lexed terminal: its text, its terminal name and its character range (lark's Token)."""

    def __new__(cls, type_: str, value: str, start_pos: int, end_pos: int):
        self = super().__new__(cls, value)
        self.type = type_
        self.start_pos = start_pos
        self.end_pos = end_pos
        return self


def _name_parts(tok: Token) -> list[str]:
    parts = str(tok).split(".")
    if parts[0] in _KEYWORDS:
        # "true.x" lexes as a name; say what is wrong instead of looking up a context "true"
        raise ExprSyntaxError(f"'{parts[0]}' is a literal and has no fields", tok.start_pos,
                              tok.start_pos + len(parts[0]))
    return parts


class ToAst:
    """Positions come from the named tokens (brackets included), so a node covers its text."""

    def literal(self, children):
        (tok,) = children
        kind, text = tok.type, str(tok)
        if kind == "INT":
            value = int(text)
        elif kind == "FLOAT":
            value = float(text)
        elif kind == "STRING":
            value = text[1:-1].replace("''", "'")
        else:
            value = {"TRUE": True, "FALSE": False, "NULL": None}[kind]
        return Literal(value, start=tok.start_pos, end=tok.end_pos)

    def ref(self, children):
        (tok,) = children
        root, *path = _name_parts(tok)
        return Ref(root, tuple(path), start=tok.start_pos, end=tok.end_pos)

    def member(self, children):
        obj, _dot, tok = children
        node = obj
        pos = tok.start_pos
        for name in str(tok).split("."):
            pos += len(name)
            node = Member(node, name, start=obj.start, end=pos)
            pos += 1
        return node

    def index(self, children):
        obj, _lsqb, idx, rsqb = children
        return Index(obj, idx, start=obj.start, end=rsqb.end_pos)

    def call(self, children):
        name, _lpar, args, rpar = children
        if "." in name:
            raise ExprSyntaxError(f"'{name}' is not a function: only the built-in functions "
                                  "can be called", name.start_pos, name.end_pos)
        return Call(str(name), args or (), start=name.start_pos, end=rpar.end_pos)

    def list_expr(self, children):
        lsqb, items, rsqb = children
        return ListExpr(items or (), start=lsqb.start_pos, end=rsqb.end_pos)

    def paren(self, children):
        # the parentheses only group; the node keeps the range of what they enclose
        return children[1]

    def args(self, children):
        return tuple(c for c in children if not isinstance(c, str))   # tokens are str

    def binary(self, children):
        left, op, right = children
        return Binary(str(op), left, right, start=left.start, end=right.end)

    def unary(self, children):
        op, operand = children
        return Unary(str(op), operand, start=op.start_pos, end=operand.end)
