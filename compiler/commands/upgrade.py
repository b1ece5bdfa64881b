"""``pipespec upgrade SPEC... [--check]``: rewrite specs for the newest language version through
the registered migrations (``versions.MIGRATIONS``, one per version step), editing the text by
source spans so that comments and layout stay. ``--check`` writes nothing and exits 1 when a
file would change (CI, before a pipespec upgrade lands); a file that cannot be upgraded is an
E816 diagnostic (exit 1) and the others are still done. docs/versions.md."""

from __future__ import annotations

import difflib
import sys

from .common import print_diagnostics


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="SPEC")
    p.add_argument("--check", action="store_true", help="write nothing; show the change and exit 1 if a file would change")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def _version_node(tree):
    from ..syntax import MapNode, ScalarNode

    node = tree.get("pipespec") if isinstance(tree, MapNode) else None
    if isinstance(node, ScalarNode) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node
    return None


def upgraded(path: str, text: str):
    """(the text at the newest version, the versions it went through, diagnostics)."""
    from .. import versions
    from ..diagnostics import Diagnostic
    from ..loader import load
    from ..span import Span
    from ..syntax import MapNode

    tree, diags = load(text, path)
    if tree is None:
        return text, [], diags
    node = _version_node(tree)
    if node is None:
        key = tree.get("pipespec") if isinstance(tree, MapNode) else None
        where = key.span if key is not None else Span(path, 1, 1, 1, 2)
        return text, [], [Diagnostic("E816", "cannot upgrade: the file has no integer `pipespec:` version", where,
                                     help=f"a spec opens with `pipespec: {versions.LANGUAGE_VERSION}`")]
    v, seen = node.value, [node.value]
    if v > versions.latest():
        return text, seen, [Diagnostic("E816", f"cannot upgrade: version {v} is newer than this pipespec knows "
                                       f"({versions.latest()})", node.span,
                                       help="upgrade pipespec itself (pip install -U pipespec)")]
    if v < versions.latest() and not versions.can_upgrade(v):
        return text, seen, [Diagnostic("E816", f"cannot upgrade: no migration from version {v}", node.span,
                                       help=f"versions with a migration: {sorted(versions.MIGRATIONS) or 'none'}")]
    for _ in range(versions.latest() - v):      # one pass per version step
        m = versions.MIGRATIONS[v]
        try:
            new = versions.apply(text, [*m.rewrite(tree, text), versions.Edit(node.span, str(v + 1))])
        except ValueError as e:
            return text, seen, [Diagnostic("E816", f"cannot upgrade: the migration from version {v} ({m.summary}) "
                                           f"made overlapping edits: {e}", node.span,
                                           help="this is a bug in the migration; report it")]
        tree, bad = load(new, path)
        node = _version_node(tree) if tree is not None else None
        if node is None or node.value != v + 1:
            why = bad[0].message if bad else "the pipespec: key does not read the new version"
            return text, seen, [Diagnostic("E816", f"cannot upgrade: the migration from version {v} ({m.summary}) "
                                           f"gave a file that does not load: {why}", Span(path, 1, 1, 1, 2),
                                           help="this is a bug in the migration; report it")]
        text, v = new, v + 1
        seen.append(v)
    return text, seen, []


def _mode(path: str) -> int:
    import os

    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666


def main(args) -> int:
    from ..files import write_atomic
    from ..frontend import Result
    from .validate import unreadable

    rc = 0
    for path in dict.fromkeys(args.files):
        try:
            with open(path, "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            r = unreadable(path, getattr(e, "strerror", None) or str(e))
            print_diagnostics([r], stream=sys.stderr, color=args.color)
            rc = 1
            continue
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        new, seen, diags = upgraded(path, text[len(bom):])
        if diags:
            r = Result(path, text[len(bom):])
            r.diagnostics = diags
            print_diagnostics([r], stream=sys.stderr, color=args.color)
            rc = 1
            continue
        steps = " -> ".join(map(str, seen))
        if len(seen) < 2:
            print(f"{path}: at version {seen[0]} already", file=sys.stderr)
            continue
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(text[len(bom):].splitlines(True), new.splitlines(True),
                                                       f"{path} (version {seen[0]})", f"{path} (version {seen[-1]})"))
            print(f"{path}: would upgrade, version {steps}; run: pipespec upgrade {path}", file=sys.stderr)
            rc = 1
            continue
        write_atomic(path, bom + new, _mode(path))
        print(f"upgraded {path}: version {steps}", file=sys.stderr)
    return rc
