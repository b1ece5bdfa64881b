"""The run store seen from one run: what to tell, and to record, when writing it fails.

A full disk or a read-only store stops the run; the run is then recorded ``failed`` if the
records can still be written (after freeing the reserve ``storegc`` keeps for that), so that
``pipespec resume`` can take it up, and the message says what happened and what to do.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import sqlite3

from .storegc import free_reserve


class StoreError(Exception):
    """The run store cannot be written (disk full, read-only, ...): what happened, in words."""


def why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror + (f": {e.filename}" if e.filename else "")
    return str(e)


def new_run_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def mark_failed(records, store_dir: str, run_id: str) -> bool:
    """Best effort, after the run stopped on an error: record it failed (not 'running')."""
    if records is None:
        return False
    for attempt in range(2):
        try:
            records.pending = []
            records.end_run(run_id, "failed")
            return True
        except (sqlite3.Error, OSError):
            if attempt or not free_reserve(store_dir):
                return False
    return False


def store_failed(records, store_dir: str, run_id: str, e: BaseException, rel) -> str:
    """The message of a ``StoreError`` (the run recorded failed on the way, if it can be)."""
    where = rel(os.path.join(store_dir, "runs.db")) if isinstance(e, sqlite3.Error) else None
    recorded = mark_failed(records, store_dir, run_id)
    msg = f"the run store {rel(store_dir)} cannot be written: {why(e)}" + (f" ({where})" if where else "")
    if records is not None:
        msg += (f"; run {run_id} stopped" + (" and is recorded failed" if recorded else "")
                + f"; make room (or make it writable), then: pipespec resume {run_id}")
    return msg
