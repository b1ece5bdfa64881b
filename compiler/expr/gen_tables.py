"""Generate ``_tables.py`` (the expression parser's LALR tables) from ``grammar.lark``.

``grammar.lark`` stays the source of the language; lark builds its LALR(1) tables and its
contextual lexer here, at development time, and this script writes what they contain as plain
Python literals. ``parser.py`` drives them with a small loop, so ``pipespec validate`` never
imports lark (~30 ms of a ~100 ms process). After editing the grammar, run::

    python -m pipespec.expr.gen_tables

``tests/expr/test_lalr_driver.py`` fails while the committed tables are stale, and checks that the
driver parses exactly as lark does on the grammar's test corpus and on generated expressions.
"""

from __future__ import annotations

import hashlib
import pprint
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRAMMAR = HERE / "grammar.lark"
TABLES = HERE / "_tables.py"


def build_lark():
    """The reference parser: the exact options the run-time driver reproduces."""
    from lark import Lark

    return Lark(GRAMMAR.read_text("utf-8"), parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _lexer(basic) -> tuple:
    """(pattern, allowed on failure, {regex terminal: {exact text: string terminal}}) of one
    lark BasicLexer, as its scanner matches (string terminals a regex also matches are found by
    the regex, then renamed: lark's UnlessCallback)."""
    scanner = basic.scanner
    for t in scanner.terminals:
        assert not t.pattern.flags, f"terminal {t.name} has flags {t.pattern.flags}: not supported"
    assert len(scanner._mres) == 1, "one alternation per lexer"
    pattern = scanner._mres[0].pattern
    allowed = scanner.allowed_types - basic.ignore_types or {"<END-OF-FILE>"}
    unless = {}
    for name, cb in sorted(basic.callback.items()):
        assert type(cb).__name__ == "UnlessCallback", f"callback {cb!r} on {name}: not supported"
        unless[str(name)] = {str(t.pattern.value): str(t.name) for t in sorted(cb.scanner.terminals, key=lambda t: t.name)}
    return pattern, tuple(sorted(map(str, allowed))), unless


def generate() -> str:
    import lark
    from lark.lexer import ContextualLexer
    from lark.parsers.lalr_analysis import Shift

    p = build_lark()
    frontend = p.parser
    contextual = frontend.lexer
    assert isinstance(contextual, ContextualLexer)
    table = frontend.parser.parser.parse_table
    rules = list(p.rules)
    rule_index = {id(r): i for i, r in enumerate(rules)}

    lexers: list[tuple] = []

    def lexer_no(basic) -> int:
        lx = _lexer(basic)
        if lx not in lexers:
            lexers.append(lx)
        return lexers.index(lx)

    # lark numbers its states in set order (it varies with the hash seed): renumber them
    # breadth-first from the start state over sorted symbols, so the output is deterministic
    start0 = table.start_states["start"]
    order, seen = [start0], {start0}
    for s in order:
        for sym, (action, arg) in sorted(table.states[s].items()):
            if action is Shift and arg not in seen:
                seen.add(arg)
                order.append(arg)
    assert seen == set(table.states)
    number = {s: i for i, s in enumerate(order)}

    root = lexer_no(contextual.root_lexer)
    state_lexer = {number[s]: lexer_no(contextual.lexers[s]) for s in order}
    assert _lexer(p._build_lexer()) == lexers[root], "Lark.lex() lexes like the contextual lexer's root"

    actions = {}
    for s in order:
        row = {}
        for sym, (action, arg) in table.states[s].items():
            # shift to state n: n; reduce by rule r: -1 - r
            row[str(sym)] = number[arg] if action is Shift else -1 - rule_index[id(arg)]
        actions[number[s]] = dict(sorted(row.items()))

    out_rules = []
    for r in rules:
        spec = []
        for sym in r.expansion:
            if not sym.is_term and sym.name.startswith("_"):
                spec.append("s")                    # an inlined rule: splice its children
            elif sym.is_term and sym.filter_out and not r.options.keep_all_tokens:
                spec.append("d")                    # a filtered token: drop it
            else:
                spec.append("k")
        nones = None
        if r.options.empty_indices:
            bits = "".join(str(int(b)) for b in r.options.empty_indices)
            nones = tuple(len(ones) for ones in bits.split("0"))
        inline = r.origin.name.startswith("_")
        expand1 = bool(r.options.expand1) and not r.alias
        callback = None if inline else (r.alias or r.origin.name)
        if not inline and not expand1:
            assert callback in CALLBACKS, f"rule {r} would build a lark Tree: not supported"
        out_rules.append((str(r.origin.name), len(r.expansion), callback and str(callback), expand1, "".join(spec), nones))

    start, end = number[table.start_states["start"]], number[table.end_states["start"]]
    digest = hashlib.sha256(GRAMMAR.read_bytes()).hexdigest()
    body = {
        "LEXERS": lexers, "ROOT_LEXER": root, "STATE_LEXER": state_lexer,
        "IGNORE": tuple(sorted(p.lexer_conf.ignore)),
        "ACTIONS": actions, "RULES": out_rules, "START": start, "END": end,
    }
    lines = [
        '"""GENERATED by ``python -m pipespec.expr.gen_tables`` from grammar.lark: do not edit.',
        "",
        f"grammar.lark sha256 {digest}; lark {lark.__version__}, parser='lalr', contextual lexer.",
        "ACTIONS[state][symbol]: n >= 0 shifts to state n, n < 0 reduces by RULES[-1 - n].",
        "RULES: (origin, size, callback, expand a single child, per child k=keep/d=drop/s=splice,",
        "        how many Nones go before each child (maybe_placeholders) or None).",
        '"""',
        "",
    ]
    for name, value in body.items():
        lines.append(f"{name} = {pprint.pformat(value, width=110, sort_dicts=False)}")
        lines.append("")
    return "\n".join(lines)


# the ToAst methods a rule may call (parser.py)
CALLBACKS = {"literal", "ref", "member", "index", "call", "list_expr", "paren", "args", "binary", "unary"}


def main() -> int:
    text = generate()
    if "--check" in sys.argv[1:]:
        current = TABLES.read_text("utf-8") if TABLES.exists() else ""
        if current != text:
            print(f"{TABLES} is stale: run python -m pipespec.expr.gen_tables", file=sys.stderr)
            return 1
        return 0
    TABLES.write_text(text, encoding="utf-8")
    print(f"wrote {TABLES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
