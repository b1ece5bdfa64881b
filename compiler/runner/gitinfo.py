"""The git commit a run was made from, for its record: HEAD of the repository holding the spec.

Read from ``.git`` directly (two small files) rather than by running ``git rev-parse HEAD``,
which costs a process start (~2-5 ms) on every run. Anything this reader does not fully
understand — a ``.git`` file (linked worktree, submodule), ``GIT_DIR`` and friends, the
reftable format, a symbolic ref pointing to another — is left to git itself.
"""

from __future__ import annotations

import os
import re
import subprocess

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
            "GIT_COMMON_DIR")


def head_commit(folder: str) -> str | None:
    """HEAD's commit id, or None outside a repository (or before its first commit)."""
    if any(v in os.environ for v in _GIT_ENV):
        return _rev_parse(folder)
    d = os.path.abspath(folder)
    while True:
        dotgit = os.path.join(d, ".git")
        if os.path.isdir(dotgit):
            break
        if os.path.exists(dotgit):
            return _rev_parse(folder)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    if os.path.exists(os.path.join(dotgit, "reftable")):
        return _rev_parse(folder)
    try:
        with open(os.path.join(dotgit, "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
        if _SHA.fullmatch(head):
            return head                               # detached HEAD
        if not head.startswith("ref: "):
            return _rev_parse(folder)
        ref = head[5:].strip()
        try:
            with open(os.path.join(dotgit, ref), encoding="utf-8") as f:
                sha = f.read().strip()
            return sha if _SHA.fullmatch(sha) else _rev_parse(folder)
        except FileNotFoundError:
            pass
        with open(os.path.join(dotgit, "packed-refs"), encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _SHA.fullmatch(parts[0]):
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        pass
    return _rev_parse(folder)                         # an unborn branch, or something unusual


def _rev_parse(folder: str) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
