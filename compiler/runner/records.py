"""Run records in one SQLite file (``.pipespec/runs.db``): runs, step executions, stat cache.

WAL mode and a busy timeout let two runs (even of the same spec) write at once; each run
batches its writes into one transaction per scheduler wake-up, which keeps the cost per step
in microseconds while a ``kill -9`` loses at most the results not yet committed (those steps
simply run again on ``resume``).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from typing import Any, Iterable

from ..files import UnsafePath, make_dirs

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, spec TEXT NOT NULL, pipeline TEXT NOT NULL, spec_digest TEXT NOT NULL,
  params TEXT NOT NULL, params_digest TEXT NOT NULL, git_commit TEXT, status TEXT NOT NULL,
  started REAL NOT NULL, ended REAL, pid INTEGER, host TEXT, argv TEXT);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS executions(
  run_id TEXT NOT NULL, step TEXT NOT NULL, item_index INTEGER NOT NULL, item TEXT,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, started REAL, ended REAL,
  cache_hit INTEGER NOT NULL DEFAULT 0, reused_from TEXT, cache_key TEXT, key_parts TEXT,
  input_hashes TEXT, output_hashes TEXT, output_paths TEXT, values_json TEXT, metrics_json TEXT,
  stdout_path TEXT, stderr_path TEXT, exit_code INTEGER, error TEXT, reason TEXT,
  PRIMARY KEY(run_id, step, item_index));
CREATE INDEX IF NOT EXISTS executions_key ON executions(cache_key, status);
CREATE INDEX IF NOT EXISTS executions_step ON executions(step, item_index, ended);
CREATE TABLE IF NOT EXISTS stat_cache(
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, ctime_ns INTEGER,
  digest TEXT, checked_ns INTEGER);
"""

EXEC_COLUMNS = ("run_id", "step", "item_index", "item", "status", "attempts", "started", "ended",
                "cache_hit", "reused_from", "cache_key", "key_parts", "input_hashes",
                "output_hashes", "output_paths", "values_json", "metrics_json", "stdout_path",
                "stderr_path", "exit_code", "error", "reason")
_INSERT = (f"INSERT OR REPLACE INTO executions({','.join(EXEC_COLUMNS)}) "
           f"VALUES({','.join('?' * len(EXEC_COLUMNS))})")
NO_INDEX = -1          # item_index of a step without foreach (and of a step-level record)


def _retry(fn, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class RecordError(Exception):
    """A run id that matches nothing, or more than one run."""


def dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def instance_row(run_id: str, inst, reason: str | None = None) -> dict:
    """The ``executions`` row of one step instance (``state.Instance``)."""
    return {
        "run_id": run_id, "step": inst.step.name,
        "item_index": NO_INDEX if inst.index is None else inst.index,
        "item": dumps(inst.item) if inst.index is not None else None,
        "status": inst.status, "attempts": inst.attempts, "started": inst.started, "ended": inst.ended,
        "cache_hit": int(inst.cache_hit), "reused_from": inst.reused_from, "cache_key": inst.key,
        "key_parts": dumps(inst.parts) if inst.parts is not None else None,
        "input_hashes": dumps(inst.input_hashes), "output_hashes": dumps(inst.hashes),
        "output_paths": dumps(inst.artifacts), "values_json": dumps(inst.values),
        "metrics_json": dumps(inst.metrics), "stdout_path": inst.stdout, "stderr_path": inst.stderr,
        "exit_code": inst.exit_code, "error": inst.error, "reason": reason or inst.reason}


def step_row(run_id: str, step: str, status: str, when: float, reason: str, **more) -> dict:
    """The step-level row of a step that has no instance row (skipped, not run, no items)."""
    return {"run_id": run_id, "step": step, "item_index": NO_INDEX, "status": status, "started": when,
            "ended": when, "reason": reason, **more}


class Records:
    def __init__(self, store_dir: str) -> None:
        make_dirs(store_dir, store_dir)               # a new store is 0700: its records are private
        self.path = os.path.join(store_dir, "runs.db")
        # a new database is 0600 (SQLite gives its -wal and -shm files the same mode); never
        # opened through a link planted in the store; an existing one is opened as it is (a
        # read-only store can still be read)
        if os.path.islink(self.path):
            raise UnsafePath(errno.ELOOP, f"{self.path} is a symbolic link; pipespec does not follow links "
                                          "inside its store")
        if not os.path.exists(self.path):
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600))
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=60000")
        # Switching a new file to WAL and creating the schema can meet another process doing
        # the same; SQLite then answers "locked" without waiting for the busy timeout.
        _retry(lambda: self.db.execute("PRAGMA journal_mode=WAL"))
        self.db.execute("PRAGMA synchronous=NORMAL")   # durable against a crashed process
        _retry(lambda: self.db.executescript(SCHEMA))
        self.pending: list[tuple[str, tuple]] = []

    def close(self) -> None:
        self.flush()
        self.db.close()

    # ---------------------------------------------------------------- writes (batched)

    def queue(self, sql: str, params: tuple) -> None:
        self.pending.append((sql, params))

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        _retry(lambda: self.db.execute("BEGIN IMMEDIATE"))
        try:
            for sql, params in batch:
                self.db.execute(sql, params)
            self.db.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors ("database or disk is full"): a second
            # rollback would fail and hide the error that matters
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def new_run(self, run_id: str, spec: str, pipeline: str, digest: str, params: dict,
                git_commit: str | None, argv: list[str]) -> None:
        text = dumps(params)
        import hashlib

        self.queue("INSERT INTO runs(id,spec,pipeline,spec_digest,params,params_digest,git_commit,"
                   "status,started,pid,host,argv) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                   (run_id, spec, pipeline, digest, text, hashlib.sha256(text.encode()).hexdigest()[:12],
                    git_commit, "running", time.time(), os.getpid(), os.uname().nodename, dumps(argv)))
        self.flush()

    def reopen_run(self, run_id: str, digest: str) -> None:
        self.queue("UPDATE runs SET status='running', ended=NULL, pid=?, host=?, spec_digest=? WHERE id=?",
                   (os.getpid(), os.uname().nodename, digest, run_id))
        self.flush()

    def end_run(self, run_id: str, status: str) -> None:
        self.queue("UPDATE runs SET status=?, ended=? WHERE id=?", (status, time.time(), run_id))
        self.flush()

    def record(self, row: dict) -> None:
        self.queue(_INSERT, tuple(row.get(c) for c in EXEC_COLUMNS))

    # ---------------------------------------------------------------- reads

    def find_cached(self, key: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM executions WHERE cache_key=? AND status='succeeded' ORDER BY ended DESC LIMIT 1",
            (key,)).fetchone()

    def previous(self, spec: str, step: str, item: str | None, exclude_run: str) -> sqlite3.Row | None:
        """The latest execution of the same step instance of the same spec (for --explain): of
        the step, or of its fan-out instance with the same item (``dumps`` of it)."""
        where = "e.item_index=? AND e.item IS NULL" if item is None else "e.item_index!=? AND e.item=?"
        args = (NO_INDEX,) if item is None else (NO_INDEX, item)
        return self.db.execute(
            "SELECT e.* FROM executions e JOIN runs r ON r.id = e.run_id WHERE r.spec=? AND e.step=? "
            f"AND {where} AND e.run_id != ? AND e.key_parts IS NOT NULL ORDER BY e.ended DESC LIMIT 1",
            (spec, step, *args, exclude_run)).fetchone()

    def run(self, ref: str) -> sqlite3.Row:
        """A run by id, unique id prefix, or 'latest'."""
        if ref == "latest":
            row = self.db.execute("SELECT * FROM runs ORDER BY started DESC LIMIT 1").fetchone()
            if row is None:
                raise RecordError("no runs recorded yet")
            return row
        rows = self.db.execute("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY started DESC",
                               (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
        exact = [r for r in rows if r["id"] == ref]
        if exact:
            return exact[0]
        if not rows:
            raise RecordError(f"no run matches '{ref}'")
        if len(rows) > 1:
            raise RecordError(f"'{ref}' matches {len(rows)} runs ({', '.join(r['id'] for r in rows[:5])}"
                              f"{', ...' if len(rows) > 5 else ''}); give more of the id")
        return rows[0]

    def runs(self, limit: int | None = None) -> list[sqlite3.Row]:
        sql = "SELECT * FROM runs ORDER BY started DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return self.db.execute(sql).fetchall()

    def executions(self, run_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM executions WHERE run_id=? ORDER BY started, step, item_index",
                               (run_id,)).fetchall()

    def consumers(self, digests: Iterable[str]) -> list[sqlite3.Row]:
        """Executions whose input hashes mention any of ``digests`` (artifact lineage)."""
        out = []
        for d in set(digests):
            out += self.db.execute("SELECT run_id, step, item_index FROM executions WHERE input_hashes LIKE ?",
                                   (f"%{d}%",)).fetchall()
        return out

    # ---------------------------------------------------------------- stat cache

    def stat_entry(self, path: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM stat_cache WHERE path=?", (path,)).fetchone()

    def put_stat(self, path: str, st: os.stat_result, digest: str, checked_ns: int) -> None:
        self.queue("INSERT OR REPLACE INTO stat_cache VALUES(?,?,?,?,?,?,?)",
                   (path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, digest, checked_ns))
