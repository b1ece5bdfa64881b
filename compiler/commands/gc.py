"""``pipespec gc``: check the run store and remove what nothing reaches.

Checks ``PRAGMA integrity_check`` and that every artifact a recorded execution produced is in
the object store with the content of its digest (a corrupt object is removed, so that the step
runs again instead of being served from the cache). Removes objects no execution references,
and what runs no live runner owns left behind: the processes of a dead runner, ``tmp/<run>``,
``.pipespec-tmp-*`` and half-done links. ``--dry-run`` only says what it would remove.
Exit status: 0 the store is sound, 1 a problem was found (listed), 2 no store.
"""

from __future__ import annotations

import sys

from .runs import add_store_arguments


def add_arguments(p) -> None:
    add_store_arguments(p)
    p.add_argument("-n", "--dry-run", action="store_true", help="say what would be removed, remove nothing")


def main(args) -> int:
    import os

    from ..runner.storegc import collect
    from .runs import open_records

    import sqlite3

    from ..cli import UsageError

    records = open_records(args, "cleaned")         # the same store lookup as runs/resume
    store = os.path.dirname(records.path)
    records.close()
    try:
        return collect(store, sys.stdout, dry_run=args.dry_run)
    except (OSError, sqlite3.Error) as e:           # a read-only or full store: say so
        what = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename else str(e)
        raise UsageError(f"the run store {store} cannot be cleaned: {what}") from None
