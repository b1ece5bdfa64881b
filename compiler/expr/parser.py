"""Expression text (the inside of ``${{ }}``) -> ``ast.Expr``, or an ``ExprSyntaxError``.

The LALR(1) tables and the contextual lexer come from ``grammar.lark`` (the language's source),
built by lark at development time and committed as ``_tables.py`` (``python -m
pipespec.expr.gen_tables``); the loop below drives them, so no command imports lark at run time.
It reproduces lark's parse exactly (``tests/expr/test_lalr_driver.py`` compares the two): the
same tokens, the same tree shape turned into the same ``ast`` nodes by ``ToAst``, the same
errors, which are turned into ``ExprSyntaxError`` here with an offset that points at the
offending character and a message in the language's own words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import _tables as T
from ._transform import ToAst, Token
from .ast import Expr
from .errors import ExprSyntaxError

# Lark's transformer recursed once per tree level and gave up at Python's recursion limit
# (~490 levels from the CLI); the loop below has no recursion, so the bound is explicit and
# the passes after parsing (which recurse over the AST) never see a deeper tree than before.
MAX_DEPTH = 400

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


class UnexpectedCharacters(Exception):
    """No terminal of the current state matches at ``pos_in_stream`` (lark's namesake)."""

    def __init__(self, pos: int, allowed) -> None:
        self.pos_in_stream = pos
        self.allowed = allowed


class UnexpectedToken(Exception):
    """A token the current state has no action for; ``expected`` names the terminals it has."""

    def __init__(self, token: Token, expected) -> None:
        self.token = token
        self.expected = expected


_compiled: dict[int, tuple] = {}


def _lexer(n: int) -> tuple:
    try:
        return _compiled[n]
    except KeyError:
        pattern, allowed, unless = T.LEXERS[n]
        _compiled[n] = got = (re.compile(pattern).match, set(allowed), unless)
        return got


def _next(n: int, text: str, pos: int):
    """The next token from ``pos`` with lexer ``n`` (ignored text skipped), or None at the end."""
    match, allowed, unless = _lexer(n)
    end = len(text)
    ignore = T.IGNORE
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise UnexpectedCharacters(pos, allowed)
        kind = m.lastgroup
        stop = m.end()
        if kind in ignore:
            pos = stop
            continue
        value = m.group(0)
        if kind in unless:
            kind = unless[kind].get(value, kind)
        return Token(kind, value, pos, stop)
    return None


def lex(source: str):
    """All tokens of ``source``, lexed without parsing (lark's ``Lark.lex``)."""
    pos = 0
    while True:
        tok = _next(T.ROOT_LEXER, source, pos)
        if tok is None:
            return
        yield tok
        pos = tok.end_pos


def _tokens(source: str, states: list):
    """Tokens lexed in the parser's current state (lark's contextual lexer); a character the
    state cannot lex that the whole grammar can is an unexpected token, as lark reports it."""
    pos = 0
    while True:
        try:
            tok = _next(T.STATE_LEXER[states[-1]], source, pos)
        except UnexpectedCharacters as e:
            try:
                tok = _next(T.ROOT_LEXER, source, e.pos_in_stream)
            except UnexpectedCharacters:
                raise e from None
            raise UnexpectedToken(tok, e.allowed) from None
        if tok is None:
            return
        yield tok
        pos = tok.end_pos


_EMPTY = object()
_TO_AST = ToAst()


def _run(source: str) -> Expr:
    """The LALR loop. Rule callbacks run as rules reduce, which is the post-order lark's
    transformer visits the finished tree in; like lark, a syntax error anywhere wins over a
    callback's error, so the first callback error is kept until the whole input has parsed."""
    actions, rules, transformer = T.ACTIONS, T.RULES, _TO_AST
    states = [T.START]
    values: list = []
    depths: list = []
    deferred: list = []

    def feed(tok: Token, is_end: bool):
        while True:
            row = actions[states[-1]]
            try:
                act = row[tok.type]
            except KeyError:
                raise UnexpectedToken(tok, {s for s in row if s.isupper()}) from None
            if act >= 0:
                states.append(act)
                values.append(tok)
                depths.append(0)
                return None
            origin, size, callback, expand1, spec, nones = rules[-1 - act]
            if size:
                got, dep = values[-size:], depths[-size:]
                del states[-size:], values[-size:], depths[-size:]
            else:
                got, dep = [], []
            children: list = []
            for i, how in enumerate(spec):
                if nones is not None:
                    children.extend([None] * nones[i])
                if how == "k":
                    children.append(got[i])
                elif how == "s":
                    children.extend(got[i])
            if nones is not None:
                children.extend([None] * nones[-1])
            depth = max(dep, default=0)
            if callback is None:                    # an inlined rule: spliced into its parent
                value = children
            elif expand1 and len(children) == 1:
                value = children[0]
            else:
                depth += 1
                value = _EMPTY
                if deferred:
                    pass
                elif depth > MAX_DEPTH:
                    deferred.append(ExprSyntaxError("expression is nested too deeply", 0, len(source)))
                else:
                    try:
                        value = getattr(transformer, callback)(children)
                    except ExprSyntaxError as e:
                        deferred.append(e)
                    except RecursionError:
                        deferred.append(ExprSyntaxError("expression is nested too deeply", 0, len(source)))
                    except Exception as e:  # noqa: BLE001 - e.g. int() of a 5000-digit number
                        deferred.append(ExprSyntaxError(f"cannot read expression: {e}", 0, len(source)))
            goto = actions[states[-1]][origin]
            states.append(goto)
            values.append(value)
            depths.append(depth)
            if is_end and goto == T.END:
                return value

    last = None
    for tok in _tokens(source, states):
        feed(tok, False)
        last = tok
    end = Token("$END", "", last.start_pos, last.end_pos) if last else Token("$END", "", 0, 0)
    value = feed(end, True)
    if deferred:
        raise deferred[0]
    return value


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
    try:
        return _run(source)
    except (UnexpectedCharacters, UnexpectedToken) as e:
        raise _explain(source, e) from None
    except RecursionError:  # pragma: no cover - the loop does not recurse; MAX_DEPTH bounds the tree
        raise ExprSyntaxError("expression is nested too deeply", 0, len(source)) from None


def _tokens_before(source: str, pos: int) -> list:
    """The tokens that end at or before ``pos``; lexing stops quietly at a bad character."""
    out = []
    try:
        for tok in lex(source):
            if tok.end_pos > pos:
                break
            out.append(tok)
    except UnexpectedCharacters:  # the lexer failing past the error is expected
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
