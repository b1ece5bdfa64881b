"""Debris of killed runs, and ``pipespec gc``: the store's integrity, and what nothing reaches.

What a runner killed mid-step leaves: ``.pipespec-tmp-*`` folders beside a step's outputs
(where the step was writing), ``<output>.restore-*`` / ``.lnk-*`` / ``.old-*`` (a link or
swap half done), its scratch folder ``tmp/<run>``, and ``objects/**/*.tmp-*`` (an object
half stored). ``remove_debris`` clears a run's own (``resume`` does it once it owns the run);
``collect`` (``pipespec gc``) does it for every run no live runner owns, checks
``PRAGMA integrity_check`` and every recorded object's content against its digest, and
removes objects no execution references. ``keep_reserve``: the space a runner frees to
record its run failed when the disk is full.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import TextIO

from .objects import DIR_PREFIX, ObjectStore, file_digest
from .owner import LOCKS, RunBusy, RunLock, probe, reap

_RUN_DEBRIS = re.compile(r"(\.pipespec-tmp-.*|.+\.(restore|lnk|old)-[0-9a-f]{8})\Z")
_OBJECT_DEBRIS = re.compile(r".+\.tmp-[0-9a-f]{8}\Z")


RESERVE = "reserve"
RESERVE_BYTES = 256 * 1024


def keep_reserve(store_dir: str) -> None:
    """A little space set aside in the store (once): when the disk fills up, freeing it lets
    the runner still record the run failed instead of leaving it 'running'."""
    path = os.path.join(store_dir, RESERVE)
    if os.path.exists(path):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:
        os.unlink(path)
    finally:
        os.close(fd)


def free_reserve(store_dir: str) -> bool:
    try:
        os.unlink(os.path.join(store_dir, RESERVE))
        return True
    except OSError:
        return False


def _remove(path: str) -> int:
    """Delete a file or folder; the bytes it held (0 when it was gone already)."""
    size = 0
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, _, files in os.walk(path):
                for f in files:
                    try:
                        size += os.lstat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
            shutil.rmtree(path)
        else:
            size = os.lstat(path).st_size
            os.unlink(path)
    except FileNotFoundError:
        return 0
    return size


def run_debris(run_dir: str) -> list[str]:
    """Leftovers of killed attempts in ``runs/<run>/<step>/<slot>/`` (never inside an artifact)."""
    out = []
    try:
        steps = os.listdir(run_dir)
    except OSError:
        return out
    for step in steps:
        sd = os.path.join(run_dir, step)
        for slot in (os.listdir(sd) if os.path.isdir(sd) else ()):
            d = os.path.join(sd, slot)
            for name in (os.listdir(d) if os.path.isdir(d) else ()):
                if _RUN_DEBRIS.match(name):
                    out.append(os.path.join(d, name))
    return out


def remove_debris(run_dir: str, scratch: str) -> int:
    """Clear what killed runners of this run left (call while owning the run). Bytes freed."""
    return sum(_remove(p) for p in run_debris(run_dir)) + _remove(scratch)


class Report:
    def __init__(self, out: TextIO, dry_run: bool) -> None:
        self.out, self.dry_run = out, dry_run
        self.problems = 0
        self.removed = {"objects": 0, "debris": 0, "bytes": 0}

    def problem(self, msg: str) -> None:
        self.problems += 1
        self.out.write(f"problem: {msg}\n")

    def remove(self, kind: str, path: str, why: str) -> None:
        self.out.write(f"{'would remove' if self.dry_run else 'removed'} {why}: {path}\n")
        self.removed[kind] += 1
        if self.dry_run:
            try:
                self.removed["bytes"] += os.lstat(path).st_size
            except OSError:
                pass
        else:
            self.removed["bytes"] += _remove(path)


def _check_object(store: ObjectStore, digest: str) -> tuple[list[str], str | None, str | None]:
    """(object files the artifact uses, what is wrong with it or None, the corrupt object file)."""
    path = store.path(digest)
    if not os.path.isfile(path):
        return [], "missing", None
    if file_digest(path) != digest.removeprefix(DIR_PREFIX):
        return [path], "corrupt: its content does not match its digest", path
    if not digest.startswith(DIR_PREFIX):
        return [path], None, None
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read())
    except ValueError:
        return [path], "corrupt: its manifest is not JSON", path
    files = [path]
    for rel, (h, _) in manifest.items():
        if not h or h.startswith("link:"):
            continue
        sub, why, bad = _check_object(store, h)
        files += sub
        if why:
            return files, f"{why.split(':')[0]}: its file {rel}", bad
    return files, None, None


def collect(store_dir: str, out: TextIO, dry_run: bool = False) -> int:
    """``pipespec gc``: 0 when the store is sound (whatever was removed), 1 when a problem was found."""
    from .records import Records

    import time

    started = time.time()
    rep = Report(out, dry_run)
    records = Records(store_dir)
    store = ObjectStore(store_dir)
    try:
        rows = records.db.execute("PRAGMA integrity_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            for r in rows[:20]:
                rep.problem(f"runs.db: {r[0]}")
        live = _live_runs(store_dir, records, rep)
        # objects stored after this (by a live run, or one starting now) may not be recorded yet
        cutoff = min([r["started"] for r in records.runs() if r["id"] in live] + [started])
        reachable: set[str] = set()
        checked: dict[str, str | None] = {}
        for row in records.db.execute("SELECT run_id, step, item_index, output_hashes FROM executions "
                                      "WHERE status='succeeded' AND output_hashes IS NOT NULL"):
            try:
                hashes = json.loads(row["output_hashes"] or "{}")
            except ValueError:
                rep.problem(f"run {row['run_id']} step {row['step']}: its output hashes are not JSON")
                continue
            for name, digest in hashes.items():
                if not isinstance(digest, str):
                    continue
                if digest not in checked:
                    files, why, bad = _check_object(store, digest)
                    reachable.update(files)
                    checked[digest] = why
                    if bad is not None:           # a cache hit must not serve it: the step runs again
                        rep.remove("objects", bad, "corrupt object")
                why = checked[digest]
                if why:
                    idx = "" if row["item_index"] < 0 else f"[{row['item_index']}]"
                    rep.problem(f"run {row['run_id']} {row['step']}{idx}.{name}: object {digest[:19]}... is {why}")
        _sweep_objects(store, reachable, cutoff, rep)
    finally:
        records.close()
    verb = "would remove" if dry_run else "removed"
    out.write(f"{'problems found' if rep.problems else 'store ok'}: {len(checked)} recorded artifacts checked; "
              f"{verb} {rep.removed['objects']} unreachable objects and {rep.removed['debris']} leftovers "
              f"({rep.removed['bytes']} bytes)\n")
    return 1 if rep.problems else 0


def _live_runs(store_dir: str, records, rep: Report) -> set[str]:
    """Runs a live runner owns. Every other run's leftovers (processes of a dead runner,
    scratch and half-written files) are cleared, holding its lock meanwhile."""
    live: set[str] = set()
    locks = os.path.join(store_dir, LOCKS)
    ids = {r["id"] for r in records.runs()}
    ids |= {n[:-5] for n in (os.listdir(locks) if os.path.isdir(locks) else ()) if n.endswith(".lock")}
    tmp = os.path.join(store_dir, "tmp")
    ids |= set(os.listdir(tmp)) if os.path.isdir(tmp) else set()
    for run_id in sorted(ids):
        if probe(store_dir, run_id):
            live.add(run_id)
            continue
        lock = None
        if not rep.dry_run:
            try:
                lock = RunLock(store_dir, run_id).acquire()
            except RunBusy:
                live.add(run_id)                  # it just started
                continue
            killed = reap(lock)
            if killed:
                rep.out.write(f"killed {len(killed)} processes left running by the dead runner of run "
                              f"{run_id} (pid {', '.join(map(str, killed))})\n")
        try:
            for p in run_debris(os.path.join(store_dir, "runs", run_id)):
                rep.remove("debris", p, f"leftover of a killed attempt of run {run_id}")
            scratch = os.path.join(tmp, run_id)
            if os.path.lexists(scratch):
                rep.remove("debris", scratch, f"scratch folder of run {run_id}, which is not running")
        finally:
            if lock is not None:
                lock.release()
    return live


def _sweep_objects(store: ObjectStore, reachable: set[str], cutoff: float, rep: Report) -> None:
    if not os.path.isdir(store.root):
        return
    for dirpath, _, files in os.walk(store.root):
        for fn in files:
            path = os.path.join(dirpath, fn)
            if path in reachable:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_ctime >= cutoff - 0.05:      # (file times lag the clock by a tick)
                continue                          # a live run may be storing it, its record not yet written
            if _OBJECT_DEBRIS.match(fn):
                rep.remove("debris", path, "half-stored object")
            else:
                rep.remove("objects", path, "object no recorded execution references")
