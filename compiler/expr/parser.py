"""Expression text (the inside of ``${{ }}``) -> ``ast.Expr``, or an ``ExprSyntaxError``.

One LALR parser is built from the packaged ``grammar.lark`` on first use and shared: importing
this module does not import lark, so commands that never meet an expression stay fast. Lark's
errors are turned into ``ExprSyntaxError`` here, with an offset that points at the offending
character and a message in the language's own words.
"""

from __future__ import annotations

from functools import lru_cache

from .ast import Expr
from .errors import ExprSyntaxError

_parser = None
_transformer = None

# What each terminal is called in a message.
_SHOWN = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "TRUE": "true", "FALSE": "false", "NULL": "null", "$END": "the end of the expression",
    "OR": "'||'", "AND": "'&&'", "EQ": "'=='", "NE": "'!='", "LE": "'<='", "GE": "'>='",
    "LT": "'<'", "GT": "'>'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
    "BANG": "'!'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "DOT": "'.'",
}
_OPERATORS = {"OR", "AND", "EQ", "NE", "LE", "GE", "LT", "GT", "PLUS", "MINUS", "STAR", "SLASH",
              "BANG"}
_OPERAND_STARTS = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "NULL", "LPAR", "LSQB"}
_OPENERS = {"LPAR": ")", "LSQB": "]"}
_CLOSERS = {"RPAR": "LPAR", "RSQB": "LSQB"}


def _get_parser():
    global _parser, _transformer
    if _parser is None:
        from lark import Lark

        from ._transform import ToAst

        from importlib import resources   # ~5 ms: only when an expression is parsed

        grammar = resources.files(__package__).joinpath("grammar.lark").read_text("utf-8")
        # cache=True keeps the built LALR tables in the temp folder (keyed by a hash of the
        # grammar, the options and the lark version): building them costs ~100 ms, loading 2 ms,
        # and `pipespec validate` runs on every commit.
        _parser = Lark(grammar, parser="lalr", propagate_positions=True,
                       maybe_placeholders=True, cache=True)
        _transformer = ToAst()
    return _parser, _transformer


def parse(source: str) -> Expr:
    """Parse the text inside ``${{ }}``. Raises ``ExprSyntaxError`` and nothing else.

    Results are memoised by text: specs repeat the same expressions (``params.seed`` in many
    steps, the same references across the files of one pre-commit run), and the AST is immutable
    with positions relative to its own text, so one parse serves every occurrence."""
    return _parse_cached(source)


@lru_cache(maxsize=8192)
def _parse_cached(source: str) -> Expr:
    if not source.strip():
        raise ExprSyntaxError("empty expression: write something between '${{' and '}}'",
                              0, len(source), ("an expression",))
    from lark.exceptions import LarkError, UnexpectedInput, VisitError

    parser, transformer = _get_parser()
    try:
        tree = parser.parse(source)
        return transformer.transform(tree)
    except UnexpectedInput as e:
        raise _explain(source, e) from None
    except VisitError as e:
        if isinstance(e.orig_exc, ExprSyntaxError):
            raise e.orig_exc from None
        if isinstance(e.orig_exc, RecursionError):
            raise ExprSyntaxError("expression is nested too deeply", 0, len(source)) from None
        raise ExprSyntaxError(f"cannot read expression: {e.orig_exc}", 0, len(source)) from None
    except RecursionError:
        raise ExprSyntaxError("expression is nested too deeply", 0, len(source)) from None
    except LarkError as e:  # pragma: no cover - any other lark failure is still ours to word
        raise ExprSyntaxError(f"cannot read expression: {e}", 0, len(source)) from None


def _tokens_before(source: str, pos: int) -> list:
    """The tokens that end at or before ``pos``; lexing stops quietly at a bad character."""
    parser, _ = _get_parser()
    out = []
    try:
        for tok in parser.lex(source):
            if tok.end_pos > pos:
                break
            out.append(tok)
    except Exception:  # noqa: BLE001 - the lexer failing past the error is expected
        pass
    return out


def _expected(names) -> tuple[str, ...]:
    return tuple(sorted({_SHOWN.get(n, n) for n in names}))


def _open_bracket(tokens: list):
    """The innermost bracket still open after ``tokens``, or None."""
    stack = []
    for tok in tokens:
        if tok.type in _OPENERS:
            stack.append(tok)
        elif tok.type in _CLOSERS and stack and stack[-1].type == _CLOSERS[tok.type]:
            stack.pop()
    return stack[-1] if stack else None


# the words other languages use for the logical operators (Python, Jinja, SQL)
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!"}


def _explain(source: str, e) -> ExprSyntaxError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream
        ch = source[pos]
        expected = _expected(e.allowed or ())
        if ch == "'":
            # in 'it''s the lexer reads 'it' and then trips over 's: the string began earlier
            for tok in reversed(_tokens_before(source, pos)):
                if tok.type != "STRING" or tok.end_pos != pos:
                    break
                pos = tok.start_pos
            return ExprSyntaxError("unterminated string: a closing ' is missing", pos,
                                   len(source), ("'",))
        if ch == '"':
            return ExprSyntaxError("strings use single quotes: write 'text', not \"text\"",
                                   pos, pos + 1, expected)
        if source.startswith("=", pos):
            return ExprSyntaxError("unexpected '=': compare with '=='", pos, pos + 1, expected)
        if ch in "&|":
            return ExprSyntaxError(f"unexpected '{ch}': write '{ch * 2}'", pos, pos + 1, expected)
        return ExprSyntaxError(f"unexpected character {ch!r}", pos, pos + 1, expected)

    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = _expected(e.expected or ())
    at_end = tok.type == "$END"
    pos = len(source.rstrip()) if at_end else tok.start_pos
    before = _tokens_before(source, pos)
    prev = before[-1] if before else None
    end = pos if at_end else tok.end_pos
    if prev is not None and prev.type == "DOT":
        if len(before) > 1 and before[-2].type == "INT" and before[-2].end_pos == prev.start_pos:
            return ExprSyntaxError("a number needs digits after '.'", pos, end, ("a number",))
        return ExprSyntaxError("expected a field name after '.'", pos, end, ("a name",))
    if prev is not None and "NAME" in (e.expected or ()) and tok.type not in _OPERAND_STARTS:
        what = "the end" if at_end else f"'{tok}'"
        return ExprSyntaxError(f"expected an operand after '{prev}', found {what}", pos, end,
                               expected)
    opened = _open_bracket(before)
    if at_end:
        if opened is not None:
            return ExprSyntaxError(f"'{opened}' is never closed: expected "
                                   f"'{_OPENERS[opened.type]}'", opened.start_pos,
                                   opened.end_pos, expected)
        return ExprSyntaxError("unexpected end of expression", pos, pos, expected)
    if tok.type in _CLOSERS:
        if opened is None:
            return ExprSyntaxError(f"unexpected '{tok}': nothing to close", tok.start_pos,
                                   tok.end_pos, expected)
        return ExprSyntaxError(f"unexpected '{tok}': expected '{_OPENERS[opened.type]}' to "
                               f"close '{opened}'", tok.start_pos, tok.end_pos, expected)
    if tok.type == "LPAR":
        return ExprSyntaxError("unexpected '(': only the built-in functions can be called",
                               tok.start_pos, tok.end_pos, expected)
    if prev is not None and tok.type == "NAME" and str(tok) in _WORD_OPERATORS:
        return ExprSyntaxError(f"unexpected '{tok}': write '{_WORD_OPERATORS[str(tok)]}'", tok.start_pos,
                               tok.end_pos, expected)
    if prev is not None and tok.type in _OPERAND_STARTS | {"BANG"}:
        return ExprSyntaxError(f"unexpected '{tok}': expected an operator before it",
                               tok.start_pos, tok.end_pos, expected)
    return ExprSyntaxError(f"unexpected '{tok}'", tok.start_pos, tok.end_pos, expected)
