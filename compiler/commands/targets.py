"""``pipespec targets``: the installed backends and, for each, what it supports natively,
emulates, or refuses (the same table as docs/targets/README.md)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--markdown", action="store_true", help="print the capability table as Markdown")


def capability_table(markdown: bool = True) -> str:
    from pipespec import backends
    from pipespec.backends.base import FEATURES

    names = backends.available()
    classes = [backends.get(n) for n in names]
    head = ["feature"] + names
    rows = []
    for feat, desc in FEATURES.items():
        row = [desc]
        for cls in classes:
            if feat not in cls.capabilities:     # E231 at compile time for a spec that uses it
                row.append("undeclared")
                continue
            level, how = cls.capabilities[feat]
            row.append(level + (f": {how}" if how and level != "native" else ""))
        rows.append(row)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out) + "\n"
    widths = [max(len(r[i].split(":")[0]) if i else len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    for r in rows:
        lines.append("  ".join((c.split(":")[0] if i else c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines) + "\n"


def main(args) -> int:
    from pipespec import backends

    names = backends.available()
    if not args.markdown:
        for n in names:
            cls = backends.get(n)
            print(f"{n:10} {cls.description}")
        print()
    print(capability_table(markdown=args.markdown), end="")
    return 0
