"""A literal that looks like a credential in env: or a command: secrets belong in secrets:."""

from __future__ import annotations

import re

from ..syntax import ScalarNode, SeqNode

PATTERNS = (
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key id"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"sk-[A-Za-z0-9_-]{20,}"), "an API secret key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
    (re.compile(r"AIza[0-9A-Za-z_-]{35}"), "a Google API key"),
)
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)


def _scan(ctx, node: ScalarNode, where: str) -> None:
    v = node.value
    if not isinstance(v, str):
        return
    for rx, what in PATTERNS:
        m = rx.search(v)
        if m:
            ctx.diags.add("W503", f"{where} holds what looks like {what}", node.offset_span(m.start(), m.end()),
                          help="declare it under secrets: and read it in env: as ${{ secrets.NAME }}")
            return


def _leaves(node):
    if isinstance(node, ScalarNode):
        yield node
    elif isinstance(node, SeqNode):
        for i in node.items:
            yield from _leaves(i)
    elif node is not None and hasattr(node, "items"):
        for _, v in node.items:
            yield from _leaves(v)


def check(ctx) -> None:
    raw = ctx.raw
    for st in raw.all_steps:
        for k, v in st.with_:
            for n in _leaves(v):
                _scan(ctx, n, f"argument '{k.value}' of step '{st.name}'")
        run = st.run
        for n in ([run] if isinstance(run, ScalarNode) else run.items if isinstance(run, SeqNode) else []):
            if isinstance(n, ScalarNode):
                _scan(ctx, n, f"the command of step '{st.name}'")
    for where, env in raw.env_blocks():
        for k, v in env:
            if not isinstance(v, ScalarNode):
                continue
            if (isinstance(k.value, str) and SECRET_NAME.search(k.value) and isinstance(v.value, str)
                    and v.value and "${{" not in v.value):
                ctx.diags.add("W503", f"{where} sets {k.value} to a literal value", v.span,
                              help="declare it under secrets: and write ${{ secrets.NAME }} here")
                continue
            _scan(ctx, v, where)
