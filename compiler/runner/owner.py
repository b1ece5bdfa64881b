"""Who owns a run, and what its steps leave behind.

``RunLock``: a run is owned by one live runner. The runner holds ``flock`` on
``<store>/locks/<run>.lock`` for its whole life; the kernel releases it when the process dies,
however it dies, so a second ``resume`` of a running run is refused and a run whose lock is
free has no live runner. The file says who holds it and where its step processes are.

``Containment``: the processes of a run's steps. Each step runs in its own session (process
group); when it ends, what is left of its group gets SIGTERM, and SIGKILL after the grace
period. Where a cgroup v2 can be created (Linux, a writable cgroup — root, or a delegated
subtree), the runner moves itself into a fresh one before its first step starts, so every
step process and anything it forks — even after ``setsid`` — is in it; at the end of the run
everything left there is killed. Elsewhere the runner records each step's process group in
``<store>/locks/<run>.pgids``. After a ``kill -9`` of the runner, the next owner (``resume``,
``gc``) kills what the dead one left running (``reap``) before doing anything else, so a step
never runs twice at once: the recorded groups, and the groups of every process whose initial
environment names the run (PIPESPEC_RUN_ID), which covers a runner killed between a spawn and
its record. Docs: docs/runner.md ("Ownership and containment").
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time

from ..runtime.processes import all_procs as _procs, proc_stat as _stat

LOCKS = "locks"
CGROUP_PREFIX = "pipespec-"


class RunBusy(Exception):
    """Another live runner owns the run."""


def lock_path(store_dir: str, run_id: str) -> str:
    return os.path.join(store_dir, LOCKS, run_id + ".lock")


def _read_info(fd: int) -> dict:
    try:
        data = os.pread(fd, 65536, 0)
        info = json.loads(data) if data.strip() else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


class RunLock:
    def __init__(self, store_dir: str, run_id: str) -> None:
        self.store_dir, self.run_id = store_dir, run_id
        self.path = lock_path(store_dir, run_id)
        self.pgids_path = self.path[:-len(".lock")] + ".pgids"
        self.fd = -1
        self.previous: dict = {}          # what the last owner wrote (a dead runner's cgroup, ...)
        self.info: dict = {}

    def acquire(self) -> "RunLock":
        """Take the lock or raise ``RunBusy`` naming its holder. Never waits."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_info(fd)
                os.close(fd)
                who = (f" (pid {holder['pid']} on {holder.get('host', '?')})" if holder.get("pid") else "")
                raise RunBusy(f"run {self.run_id} is owned by a live runner{who}: not starting a second "
                              f"copy of its steps (lock {self.path})") from None
            # its last owner unlinks the file on release: we may have locked a file that is gone
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                self.previous = _read_info(fd)
                return self
            os.close(fd)
        raise RunBusy(f"run {self.run_id}: cannot take its lock {self.path} (it keeps being replaced)")

    def write(self, **info) -> None:
        """Record who owns the run now (only after the previous owner's leftovers are reaped)."""
        self.info.update(info)
        data = json.dumps(self.info, sort_keys=True).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        for p in (self.pgids_path, self.path):     # unlinked while still locked: see acquire
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        os.close(self.fd)
        self.fd = -1


def probe(store_dir: str, run_id: str) -> bool | None:
    """True: a live runner owns the run; False: its lock is free; None: no lock file."""
    path = lock_path(store_dir, run_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:                                    # none, or not ours to read
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# ---------------------------------------------------------------- processes

def _kill(pids, sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _cgroup_mount() -> str | None:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    parts = left.split()
                    return parts[4] if parts[3] == "/" else None
    except OSError:
        pass
    return None


def own_cgroup() -> str | None:
    """The folder of this process's cgroup v2, when it can hold a child we may enter."""
    if os.environ.get("PIPESPEC_NO_CGROUP"):
        return None
    mount = _cgroup_mount()
    if mount is None:
        return None
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            rel = next((ln[3:].strip() for ln in f if ln.startswith("0::")), None)
    except OSError:
        return None
    if rel is None:
        return None
    path = os.path.join(mount, rel.lstrip("/"))
    return path if os.access(os.path.join(path, "cgroup.procs"), os.W_OK) else None


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _cgroup_pids(cg: str) -> list[int]:
    pids = []
    for dirpath, _, files in os.walk(cg):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs"), encoding="ascii") as f:
                    pids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    return pids


def kill_cgroup(cg: str, timeout: float = 10.0) -> list[int]:
    """Kill every process in the cgroup ``cg`` (and below), wait until it is empty, remove it.
    The pids that were killed."""
    if not os.path.isdir(cg):
        return []
    victims = [p for p in _cgroup_pids(cg) if p != os.getpid()]
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in _cgroup_pids(cg) if p != os.getpid()]
        if not pids:
            break
        try:
            _write(os.path.join(cg, "cgroup.kill"), "1")
        except OSError:
            _kill(pids)                                 # before Linux 5.14: one by one
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    for dirpath, _, _ in sorted(os.walk(cg), key=lambda w: -len(w[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
    return victims


def _remove_stale(home: str) -> None:
    """Empty cgroups of runners that died where no one reaped them (a run never resumed)."""
    try:
        names = [n for n in os.listdir(home) if n.startswith(CGROUP_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name.rsplit("-", 1)[-1]
        if pid.isdigit() and os.path.exists(f"/proc/{pid}"):
            continue                                    # its runner may be alive: not ours to judge
        try:
            os.rmdir(os.path.join(home, name))          # fails (EBUSY) unless it is empty
        except OSError:
            pass


def reap(lock: RunLock) -> list[int]:
    """Kill what the run's previous (dead) owner left running: its cgroup, or the process
    groups it recorded. Call with the lock held. The pids killed."""
    killed: list[int] = []
    cg = lock.previous.get("cgroup")
    mount = _cgroup_mount()
    if (isinstance(cg, str) and mount is not None and os.path.basename(cg).startswith(CGROUP_PREFIX)
            and os.path.realpath(cg).startswith(mount.rstrip("/") + "/")
            and not (own_cgroup() or "").startswith(cg)):     # never the one we run in
        killed += kill_cgroup(cg)
    try:
        with open(lock.pgids_path, encoding="ascii") as f:
            lines = f.read().split("\n")
    except OSError:
        lines = []
    procs = _procs() if any(ln.strip() for ln in lines) else []
    for line in lines:
        try:
            pgid, born = (int(x) for x in line.split())
        except ValueError:
            continue
        leader = next((p for p in procs if p[0] == pgid), None)
        if leader is not None and leader[3] != born:
            continue                                    # the number belongs to someone else now
        members = [pid for pid, pgrp, sid, start in procs if pgid in (pgrp, sid) and start >= born]
        _kill(members)
        killed += members
    if lock.previous:                                   # a runner of this run came before us
        procs = procs or _procs()
        started = _started_for(lock.run_id)
        groups = {pgrp for pid, pgrp, sid, start in procs if pid in started}
        members = [pid for pid, pgrp, sid, start in procs if pgrp in groups and pid != os.getpid()]
        _kill(members)
        killed += members
    try:
        os.unlink(lock.pgids_path)
    except FileNotFoundError:
        pass
    return sorted(set(killed))


def _started_for(run_id: str) -> set[int]:
    """Processes started as steps of ``run_id``: their initial environment names it (the
    runner sets PIPESPEC_RUN_ID in every step's). This finds what a runner killed between
    spawning a step and recording its process group left running, where no cgroup holds it."""
    needle = b"\0PIPESPEC_RUN_ID=" + run_id.encode() + b"\0"
    me = os.getpid()
    found: set[int] = set()
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if needle in env:
            found.add(int(name))
    return found


class Containment:
    """The step processes of one run (see the module docstring)."""

    def __init__(self, lock: RunLock) -> None:
        self.lock = lock
        self.cgroup: str | None = None
        self.home: str | None = None          # the cgroup the runner came from
        self.entered = False
        self._pgids = -1

    def enter(self) -> None:
        """Before the first step starts (on the scheduler's thread): into a cgroup of our own."""
        if self.entered:
            return
        self.entered = True
        home = own_cgroup()
        if home is None:
            return
        _remove_stale(home)
        cg = os.path.join(home, f"{CGROUP_PREFIX}{self.lock.run_id}-{os.getpid()}")
        try:
            os.mkdir(cg)
            self.lock.write(cgroup=cg)            # recorded before any step can be in it
            _write(os.path.join(cg, "cgroup.procs"), str(os.getpid()))
        except OSError:
            try:
                os.rmdir(cg)
            except OSError:
                pass
            return
        self.cgroup, self.home = cg, home

    def spawned(self, pid: int) -> None:
        """A step process started (its own session: pgid == pid). Recorded when no cgroup holds it."""
        if self.cgroup is not None:
            return
        st = _stat(pid)
        if st is None:
            return
        if self._pgids < 0:
            self._pgids = os.open(self.lock.pgids_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                  0o600)
        os.write(self._pgids, f"{pid} {st[2]}\n".encode())

    def close(self) -> list[int]:
        """The run is over: kill whatever its steps left (a cgroup's content). The pids killed."""
        killed: list[int] = []
        if self.cgroup is not None:
            try:
                _write(os.path.join(self.home, "cgroup.procs"), str(os.getpid()))
                killed = kill_cgroup(self.cgroup)
            except OSError:                     # cannot leave it: kill the others one by one
                killed = [p for p in _cgroup_pids(self.cgroup) if p != os.getpid()]
                _kill(killed)
            self.cgroup = None
        if self._pgids >= 0:
            os.close(self._pgids)
            self._pgids = -1
        return killed
