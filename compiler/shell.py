"""How each ``${{ }}`` of a shell-string ``run:`` reaches ``/bin/sh``: never as text pasted into
the script, always as a reference to an environment variable that holds the value, quoted for
the lexical context the expression stands in (GitHub's hardening guide does the same by hand).

``contexts(template)`` lexes the literal text around the expressions as a POSIX shell would and
names each expression's context; ``render(template)`` gives the script and the variables. Used
by the check that reports E315 (stage 3b) and by the lowering (stage 4), so every target's
``pipespec exec`` and the local runner run one script.

| context                                          | rendered as                  |
|--------------------------------------------------|------------------------------|
| outside quotes (also in ``$( )``, a comment)     | ``"${PIPESPEC_EXPR_1}"``     |
| inside double quotes, an unquoted here-document  | ``${PIPESPEC_EXPR_1}``       |
| anywhere else                                    | refused (E315)               |

Refused: single quotes (``'...'``, ``$'...'``), a quoted here-document (``<<'EOF'``), backticks,
``${...}``, arithmetic (``$(( ))``, ``(( ))``, ``$[ ]``, ``[[ ]]``, ``let``), ``eval``, the command
string of ``sh -c`` (any shell, or a command named by an expansion, then ``-c``), ``$"..."``,
right after ``\\`` or ``$``, and everything after a construct the shells read differently or
this lexer does not follow (``<<<``, ``case`` inside ``$( )``, quotes inside ``${...}``, ...).

Except for a *number or a bool* (an expression whose static type is int, float or bool, which
the executor checks again at run time): its text (``-12``, ``0.5``, ``1e+16``, ``true``) holds no
character any shell or interpreter reads as more than a word, so it may also stand inside
single quotes (rendered ``'"${PIPESPEC_EXPR_1}"'``: the quotes close around the reference),
backticks, ``${...}``, arithmetic, ``$"..."`` (``${PIPESPEC_EXPR_1}``), ``eval`` and ``sh -c``.
``eval``, ``let`` and shells are recognised as words after quote removal, wherever they stand
in a command (``echo eval ${{ x }}`` is refused too): a value in a command that *itself* runs
its arguments as code (``python -c``, ``ssh``, a here-document fed to ``sh``) is that
command's business.
"""

from __future__ import annotations

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

if TYPE_CHECKING:                          # the validate path imports no expression parser for this
    from .expr.template import Template, TemplateExpr

PLAIN = "plain"          # "${V}": one word, no splitting, no globbing
DOUBLE = "double"        # ${V}: inside "..." or an unquoted here-document body
BARE = "bare"            # ${V}: a number or bool in backticks, ${...}, arithmetic, $"..."
SPLICE = "splice"        # '"${V}"': a number or bool inside single quotes
SAFE_KINDS = ("int", "float", "bool")      # types whose text is only [-+.0-9a-z]
PREFIX = "PIPESPEC_EXPR_"          # PIPESPEC_* is reserved: no env: name can collide

_FIX = "or pass the value through env: and read \"$NAME\" in the command"


class Refusal:
    """Why a ``${{ }}`` cannot stand where it does, and the fix (E315's message and help)."""

    __slots__ = ("message", "help")

    def __init__(self, message: str, help: str) -> None:
        self.message = message
        self.help = help


SINGLE = Refusal("${{ }} inside single quotes: the shell expands nothing there, so a text value "
                 "cannot be passed safely (a number or a bool can)",
                 "write it outside the single quotes ('text '${{ expr }}' more') or inside double "
                 "quotes (\"text ${{ expr }}\"), " + _FIX)
QUOTED_HEREDOC = Refusal("${{ }} in a quoted here-document (<<'EOF'): the shell expands nothing "
                         "there, so the value cannot be passed safely",
                         "unquote the delimiter (<<EOF) to have the value expanded in the body, " + _FIX)
BACKTICK = Refusal("${{ }} inside `...`: quoting inside backquotes differs between shells",
                   "use $( ... ) instead of backquotes")
BRACES = Refusal("${{ }} inside ${...}: quoting inside a parameter expansion differs between shells",
                 "give the value a name first (V=${{ expr }}; then ${X:-$V}), " + _FIX)
ARITH = Refusal("${{ }} inside shell arithmetic ($(( )), (( )), $[ ], [[ ]] or let): the shell "
                "would evaluate a text value as an expression, commands included (a number can stand there)",
                "compute inside the expression instead, e.g. ${{ params.n + 1 }}")
EVAL = Refusal("${{ }} in an eval command: eval runs its arguments as shell code, so the value "
               "would become code", "run the command directly, without eval")
SHELL_C = Refusal("${{ }} in the command string of a shell's -c: that shell runs the string as code, "
                  "so the value would become code",
                  "pass the value as an argument after the command string and read it there: "
                  "sh -c 'echo \"$1\"' sh ${{ expr }}")
ANSI = Refusal(SINGLE.message.replace("single quotes", "$'...'"),
               "write it outside the quotes, " + _FIX)
LOCALE = Refusal("${{ }} inside $\"...\": bash translates such a string before expanding it",
                 "drop the $ before the quote")
AFTER_BACKSLASH = Refusal("${{ }} right after a backslash: the backslash would not escape the value",
                          "remove it (for a literal backslash before the value: '\\'${{ expr }})")
AFTER_DOLLAR = Refusal("${{ }} right after '$': the shell would read them together as something else",
                       "write '\\$' for a literal dollar sign, or put a space between")


# where a number or a bool may stand although another value may not, and how it is written
_SAFE_AS = {SINGLE: SPLICE, BACKTICK: BARE, BRACES: BARE, ARITH: BARE, LOCALE: BARE}


def _lost(why: str) -> Refusal:
    return Refusal(f"pipespec cannot tell how the shell reads this ${{{{ }}}}: {why}",
                   "simplify the command before it, " + _FIX)


class _Lost(Exception):
    """The lexer cannot follow the shell from here on; ``since``: nor from that position on
    (the start of a construct never closed), or None."""

    def __init__(self, why: str, since: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.since = since


_SHELLS = frozenset("sh bash dash zsh ksh mksh ash".split())
_MAX_NESTING = 64                  # $( "$( ... )" ) levels: deeper is refused, never a RecursionError
_BLANK = " \t"
_OPERATORS = ";&|()<>"
_WORD_END = _BLANK + "\n" + _OPERATORS
_TOP_SPECIAL = frozenset(_WORD_END + "'\"\\`$")      # what ends an ordinary word outside quotes
_DOUBLE_SPECIAL = frozenset('"\\`$')


def _is(c, chars: str) -> bool:
    """``c`` (a character, or an expression's index) is one of ``chars``."""
    return isinstance(c, str) and c in chars


class _Lexer:
    def __init__(self, parts: tuple, safe: frozenset) -> None:
        self.safe = safe
        seq: list = []                    # one character per item, or an expression's index
        k = 0
        for p in parts:
            if isinstance(p, str):
                seq.extend(p)
            else:
                seq.append(k)
                k += 1
        self.seq = seq
        self.pos = [i for i, c in enumerate(seq) if not isinstance(c, str)]
        self.found: dict[int, str | Refusal] = {}
        self.guards: list[Refusal] = []   # eval/let/[[ ]] in effect, from outer to inner
        self.depth = 0

    def mark(self, k: int, ctx: str | Refusal) -> None:
        if k in self.found:
            return
        if k in self.safe:
            ctx = _SAFE_AS.get(ctx, ctx)
        elif self.guards and not isinstance(ctx, Refusal):
            ctx = self.guards[0]
        self.found[k] = ctx

    def at(self, i: int):
        return self.seq[i] if i < len(self.seq) else None

    def word(self, i: int, end: int) -> str | None:
        """The word starting at ``i`` as the shell will see it after quote removal, or None
        when an expansion or an expression makes it up (it could be anything)."""
        seq, out, j = self.seq, [], i
        while j < end and not _is(seq[j], _WORD_END):
            c = seq[j]
            if not isinstance(c, str) or c in "$`":
                return None
            if c == "\\":
                nxt = self.at(j + 1) if j + 1 < end else None
                if not isinstance(nxt, str):
                    return None
                if nxt != "\n":
                    out.append(nxt)
                j += 2
            elif c in "'\"":
                k = j + 1
                while k < end and seq[k] != c:
                    if not isinstance(seq[k], str) or (c == '"' and seq[k] in "$`\\"):
                        return None
                    k += 1
                out.extend(seq[j + 1:k])
                j = k + 1
            else:
                out.append(c)
                j += 1
        return "".join(out)

    # -- outside quotes: the script, a $( ), a subshell --------------------------------------
    def top(self, i: int, end: int, closer: bool = False) -> int:
        seq = self.seq
        start = i
        self.nest()
        depth = 0
        word_start = True
        pending: list[tuple[str, bool, bool]] = []      # here-documents whose body comes next
        guard: Refusal | None = None
        guard_end = ""              # ']]', 'word' (a -c string), or '' for the end of the command
        shell_c = 0                 # 1: a shell's name was a word of this command; 2: then its -c

        def end_guard() -> None:
            nonlocal guard
            if guard is not None:
                self.guards.remove(guard)
                guard = None

        def set_guard(g: Refusal, until: str) -> None:
            nonlocal guard, guard_end
            if guard is None:
                guard, guard_end = g, until
                self.guards.append(g)

        def new_word(i: int) -> None:
            """At the start of a word: eval, let, [[ ]], case and a shell's -c string."""
            nonlocal shell_c, guard_end
            if shell_c == 2:
                set_guard(SHELL_C, "word")
                shell_c = 0
                return
            w = self.word(i, end)
            if w is None:                    # $SHELL, "$(which sh)", ${{ }}: could be a shell
                shell_c = max(shell_c, 1)
                return
            if w in ("eval", "let", "[["):
                set_guard(EVAL if w == "eval" else ARITH, "]]" if w == "[[" else "")
            elif w == "]]" and guard_end == "]]" and seq[i] == "]":     # a quoted "]]" ends nothing
                end_guard()
                guard_end = ""
            elif w == "case" and closer:
                raise _Lost("the ')' of a case pattern inside $( ) is read differently by shells")
            elif w.rsplit("/", 1)[-1] in _SHELLS:
                shell_c = 1
            elif shell_c == 1 and w.startswith("-") and "c" in w and w[1:].isalpha():
                shell_c = 2

        def word_end(command_ends: bool) -> None:
            nonlocal guard_end, shell_c
            if guard_end == "word" or (command_ends and guard_end == ""):
                end_guard()
                guard_end = ""
            if command_ends:
                shell_c = 0

        try:
            while i < end:
                c = seq[i]
                if not isinstance(c, str):
                    if word_start:
                        new_word(i)
                    self.mark(c, PLAIN)
                    word_start = False
                    i += 1
                    continue
                if c == "\n":
                    word_end(True)
                    i += 1
                    if pending:
                        i = self.heredocs(i, end, pending)
                        pending = []
                    word_start = True
                    continue
                if c in _BLANK:
                    word_end(False)
                    word_start = True
                    i += 1
                    continue
                if c == "(" and word_start and self.at(i + 1) == "(":
                    i = self.arith(i + 2, end)
                    word_start = False
                    continue
                if c == "<" and self.at(i + 1) == "<":
                    if self.at(i + 2) == "<":
                        raise _Lost("'<<<' is a here-string in bash but starts a here-document in sh")
                    i, doc = self.heredoc_word(i + 2, end)
                    pending.append(doc)
                    word_start = True
                    continue
                if c in _OPERATORS:
                    word_end(c in ";&|()")
                    if closer and c == "(":
                        depth += 1
                    elif closer and c == ")":
                        if depth == 0:
                            if pending:
                                raise _Lost("a here-document opened inside $( ) ends the $( ) before its body")
                            return i + 1
                        depth -= 1
                    word_start = True
                    i += 1
                    continue
                if c == "#" and word_start:
                    while i < end and seq[i] != "\n":
                        if not isinstance(seq[i], str):
                            self.mark(seq[i], PLAIN)      # inert: a comment expands nothing
                        i += 1
                    continue
                if word_start:
                    new_word(i)
                word_start = False
                if c == "\\":
                    nxt = self.at(i + 1)
                    if nxt is not None and not isinstance(nxt, str):
                        self.mark(nxt, AFTER_BACKSLASH)
                    elif nxt == "\n":
                        word_start = i == 0 or _is(seq[i - 1], _WORD_END)
                    i += 2
                elif c == "'":
                    i = self.single(i + 1, end)
                elif c == '"':
                    i = self.double(i + 1, end)
                elif c == "`":
                    i = self.backticks(i + 1, end)
                elif c == "$":
                    i = self.dollar(i, end, PLAIN)
                else:                    # the rest of an ordinary word, in one tight loop
                    i += 1
                    while i < end and type(seq[i]) is str and seq[i] not in _TOP_SPECIAL:
                        i += 1
            if closer:
                raise _Lost("a '$(' is never closed", start)
            return i
        finally:
            end_guard()
            self.depth -= 1

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            self.depth -= 1
            raise _Lost(f"quotes and $( ) nested more than {_MAX_NESTING} deep")

    def heredoc_word(self, i: int, end: int) -> tuple[int, tuple[str, bool, bool]]:
        seq = self.seq
        strip = self.at(i) == "-"
        if strip:
            i += 1
        while i < end and _is(seq[i], _BLANK):
            i += 1
        j = i
        while j < end and not _is(seq[j], _WORD_END):
            if not isinstance(seq[j], str):
                raise _Lost("a here-document delimiter cannot hold ${{ }}")
            if seq[j] in "$`":
                raise _Lost("a here-document delimiter with '$' or '`'")
            j += 1
        raw = "".join(seq[i:j])
        if not raw:
            raise _Lost("'<<' without a delimiter word")
        if raw.count("'") % 2 or raw.count('"') % 2:
            raise _Lost("a here-document delimiter with quoted blanks")
        quoted = any(q in raw for q in "'\"\\")
        delim, k = [], 0
        while k < len(raw):
            if raw[k] == "\\" and k + 1 < len(raw):
                delim.append(raw[k + 1])
                k += 2
                continue
            if raw[k] not in "'\"":
                delim.append(raw[k])
            k += 1
        return j, ("".join(delim), quoted, strip)

    def heredocs(self, i: int, end: int, pending: list[tuple[str, bool, bool]]) -> int:
        """Read each pending here-document body (its lines up to the delimiter line) from ``i``."""
        seq = self.seq
        for delim, quoted, strip in pending:
            start = i
            body_end = end
            while i < end:
                j, line, marked = i, [], False
                while j < end and seq[j] != "\n":
                    c = seq[j]
                    if not isinstance(c, str):
                        marked = True
                        j += 1
                    elif c == "\\" and not quoted and j + 1 < end:
                        nxt = seq[j + 1]
                        if nxt != "\n":            # a continued line is one line for the delimiter
                            line.append(c)
                            if isinstance(nxt, str):
                                line.append(nxt)
                            else:
                                marked = True
                        j += 2
                    else:
                        line.append(c)
                        j += 1
                text = "".join(line)
                if not marked and (text.lstrip("\t") if strip else text) == delim:
                    body_end = i
                    i = min(j + 1, end)
                    break
                i = min(j + 1, end)
            else:
                i = end
            if quoted:
                for k in range(start, body_end):
                    if not isinstance(seq[k], str):
                        self.mark(seq[k], QUOTED_HEREDOC)
            else:
                self.heredoc_body(start, body_end)
        return i

    def heredoc_body(self, i: int, end: int) -> None:
        """An unquoted heredoc's body reads as the inside of double quotes, with no closing quote."""
        self._double(i, end, DOUBLE, closing=None)

    # -- quotes and expansions ---------------------------------------------------------------
    def single(self, i: int, end: int, ctx: Refusal = SINGLE) -> int:
        start = i
        while i < end:
            c = self.seq[i]
            if not isinstance(c, str):
                self.mark(c, ctx)
            elif c == "'":
                return i + 1
            i += 1
        raise _Lost("a single quote is never closed", start)

    def double(self, i: int, end: int, ctx: str | Refusal = DOUBLE) -> int:
        self.nest()
        try:
            return self._double(i, end, ctx)
        finally:
            self.depth -= 1

    def _double(self, i: int, end: int, ctx: str | Refusal, closing: str | None = '"') -> int:
        start = i
        seq = self.seq
        while i < end:
            c = seq[i]
            if not isinstance(c, str):
                self.mark(c, ctx)
                i += 1
            elif c == closing:
                return i + 1
            elif c == "\\":
                nxt = self.at(i + 1) if i + 1 < end else None
                if nxt is not None and not isinstance(nxt, str):
                    self.mark(nxt, AFTER_BACKSLASH)
                i += 2
            elif c == "`":
                i = self.backticks(i + 1, end)
            elif c == "$":
                i = self.dollar(i, end, DOUBLE)
            else:
                i += 1
                while i < end and type(seq[i]) is str and seq[i] not in _DOUBLE_SPECIAL:
                    i += 1
        if closing is None:
            return end
        raise _Lost("a double quote is never closed", start)

    def backticks(self, i: int, end: int) -> int:
        start = i
        while i < end:
            c = self.seq[i]
            if not isinstance(c, str):
                self.mark(c, BACKTICK)
            elif c == "\\":
                nxt = self.at(i + 1) if i + 1 < end else None
                if nxt is not None and not isinstance(nxt, str):
                    self.mark(nxt, BACKTICK)
                i += 1
            elif c == "`":
                return i + 1
            i += 1
        raise _Lost("a '`' is never closed", start)

    def dollar(self, i: int, end: int, ctx: str) -> int:
        nxt = self.at(i + 1) if i + 1 < end else None
        if nxt is None:
            return i + 1
        if not isinstance(nxt, str):
            self.mark(nxt, AFTER_DOLLAR)
            return i + 2
        if nxt == "(":
            if self.at(i + 2) == "(":
                return self.arith(i + 3, end)
            return self.top(i + 2, end, closer=True)
        if nxt == "{":
            return self.braces(i + 2, end)
        if nxt == "[":
            raise _Lost("'$[' is arithmetic in bash")
        if ctx == PLAIN and nxt == "'":
            j = i + 2
            while j < end and self.seq[j] != "'":
                if self.seq[j] == "\\":
                    raise _Lost("shells disagree where a $'...' holding a backslash ends")
                j += 1
            return self.single(i + 2, end, ANSI)
        if ctx == PLAIN and nxt == '"':
            return self.double(i + 2, end, LOCALE)
        return i + 1

    def arith(self, i: int, end: int) -> int:
        """After ``$((`` or ``((``: up to the matching ``))``."""
        seq = self.seq
        start = i
        depth = 0
        while i < end:
            c = seq[i]
            if not isinstance(c, str):
                self.mark(c, ARITH)
            elif c in "'\"`\\":
                raise _Lost("quotes inside shell arithmetic")
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    if self.at(i + 1) != ")":
                        raise _Lost("'((' that is not closed by '))'")
                    return i + 2
                depth -= 1
            i += 1
        raise _Lost("a '((' is never closed", start)

    def braces(self, i: int, end: int) -> int:
        """After ``${``: up to its ``}``."""
        seq = self.seq
        start = i
        while i < end:
            c = seq[i]
            if not isinstance(c, str):
                self.mark(c, BRACES)
            elif c == "}":
                return i + 1
            elif c in "'\"`\\{":
                raise _Lost("quotes or braces inside ${...}")
            elif c == "$" and self.at(i + 1) in ("(", "{", "["):
                raise _Lost("an expansion inside ${...}")
            i += 1
        raise _Lost("a '${' is never closed", start)


def safe_exprs(types) -> frozenset:
    """Indexes of the expressions whose static type (one per expression, None: unknown) makes
    their text a number or a bool."""
    return frozenset(k for k, t in enumerate(types) if t is not None and t.kind in SAFE_KINDS)


def contexts(template: Template, safe: frozenset = frozenset()) -> list[str | Refusal]:
    """The context of each expression of ``template`` (in order): PLAIN, DOUBLE, BARE, SPLICE
    or a Refusal. ``safe``: indexes of expressions whose value is a number or a bool."""
    lx = _Lexer(template.parts, safe)
    try:
        lx.top(0, len(lx.seq))
    except _Lost as e:
        lost = _lost(e.why)
        for k in range(len(template.exprs)):
            if e.since is not None and lx.pos[k] >= e.since and not isinstance(lx.found.get(k), Refusal):
                lx.found[k] = lost
            lx.found.setdefault(k, lost)
    unseen = _lost("the lexer did not reach it")
    return [lx.found.get(k, unseen) for k in range(len(template.exprs))]


_WRITTEN = {PLAIN: '"${%s}"', DOUBLE: "${%s}", BARE: "${%s}", SPLICE: "'\"${%s}\"'"}


def render(template: Template, safe: frozenset = frozenset()) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The script and its variables: (name, index of the expression) in order of first
    appearance; the same expression text twice shares one variable. Only for a template
    ``contexts`` accepts."""
    names: dict[str, str] = {}
    bindings: list[tuple[str, int]] = []
    out: list[str] = []
    ctxs = contexts(template, safe)
    k = 0
    for p in template.parts:
        if isinstance(p, str):
            out.append(p)
            continue
        ctx = ctxs[k]
        if isinstance(ctx, Refusal):
            raise ValueError(ctx.message)
        name = names.get(p.source)
        if name is None:
            name = names[p.source] = f"{PREFIX}{len(names) + 1}"
            bindings.append((name, k))
        out.append(_WRITTEN[ctx] % name)
        k += 1
    return "".join(out), tuple(bindings)
