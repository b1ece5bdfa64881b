"""Starting, watching and killing step processes: the one place both drivers of
``attempt.Attempts`` (``pipespec exec`` and the local runner) do it.

``spawn`` starts a prepared command with ``os.posix_spawn``. ``subprocess.Popen`` costs ~0.8 ms
a spawn here and holds the GIL while it forks; glibc's ``posix_spawn`` (a vfork) costs ~0.4 ms
and returns once the child has exec'd, so a runner can start every step from its main thread.
The child gets a new session (its own process group, for killing grandchildren), stdin from
/dev/null, stdout/stderr to the given descriptors, SIGPIPE and SIGXFSZ back to their default
(Python ignores them), no other descriptor (Python opens everything close-on-exec; ``pipespec
exec`` marks what it inherited so too: ``no_inherited_fds``). Exec failures raise as with
Popen: ``FileNotFoundError`` (not on PATH), ``PermissionError`` (not executable).

``Children`` waits for any number of them in one ``poll()``: each child gets a pidfd (readable
when it exits), and a pipe lets signal handlers and worker threads wake the loop. A step forked by
a Python server (``pipespec run --preload``, ``runner.pyserver``) is not our child: it is
watched through the socket its server sends the wait status on. Without
pidfds (not Linux) a thread per child waits instead. Killing is by process group
(``signal_group``): SIGTERM, then SIGKILL after the grace period — the times are the attempt
machine's. A child that ends on its own leaves its group to ``sweep``: SIGTERM to what is left
(background processes go with it, as on a CI runner), SIGKILL after the grace period if it
ignores that; a process that left the group (``setsid``) is caught by the run's cgroup
(``runner.owner``).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from ..record import record
from typing import Any

_DEFAULT_SIGNALS = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))
_CWD_LOCK = threading.Lock()      # the process has one working directory: see spawn()


def spawn(argv: list[str], env: dict[str, str], cwd: str, stdin: int, stdout: int, stderr: int) -> int:
    """Start ``argv`` in ``cwd`` with ``env``; the child's pid (reap it with ``os.waitpid``)."""
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
               (os.POSIX_SPAWN_DUP2, stderr, 2)]
    exe = argv[0]
    if "/" in exe:
        start = os.posix_spawn
    elif env.get("PATH") == os.environ.get("PATH"):
        start = os.posix_spawnp            # glibc searches the PATH of *this* process: the same
    else:
        exe, start = _which(exe, env), os.posix_spawn
    kw = dict(file_actions=actions, setsid=True, setsigdef=_DEFAULT_SIGNALS)
    # posix_spawn has no working-directory action (before glibc 2.29, and Python exposes none):
    # the parent changes directory around the spawn, under a lock, since spawning threads
    # share one directory. Usually (`pipespec run` in the spec's folder) no change is needed
    # and spawns run in parallel; only a spawn that changes directory ever does so, under the
    # lock, so a directory seen under the lock is the real one. Every path the runner's
    # threads use is absolute, so nothing else notices the moment in another directory.
    with _CWD_LOCK:
        try:
            here = os.getcwd()
        except FileNotFoundError:           # our own directory was deleted
            here = None
        if here != cwd:
            back = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.chdir(cwd)
                return start(exe, argv, env, **kw)
            finally:
                os.fchdir(back)
                os.close(back)
    return start(exe, argv, env, **kw)


def _which(name: str, env: dict[str, str]) -> str:
    """``name`` on the step's own PATH (its env: may set PATH), as execvp would find it."""
    denied = None
    for d in os.get_exec_path(env):
        path = os.path.join(d, name)
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return path
            denied = path
    if denied is not None:
        raise PermissionError(13, "Permission denied", denied)
    raise FileNotFoundError(2, "No such file or directory", name)


def signal_group(pgid: int, sig: int) -> None:
    """``sig`` to process group ``pgid``; a group that is gone (or not ours) is no error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def no_inherited_fds() -> None:
    """Make every descriptor above 2 close-on-exec, so that a step started by ``spawn`` gets
    none that this process was handed by its own parent (as Popen's ``close_fds``)."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 256)
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


# ---------------------------------------------------------------- what is in a group

_PROC = os.path.isdir("/proc/self")       # Linux: who is in a group can be looked up


def ticks_now() -> int:
    """Clock ticks since boot, the unit of a process's start time in /proc/<pid>/stat."""
    if not _PROC:
        return 0
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(pgrp, session, start time in clock ticks since boot) of ``pid``, None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2:].split()
    return int(fields[2]), int(fields[3]), int(fields[19])


def all_procs() -> list[tuple[int, int, int, int]]:
    """(pid, pgrp, session, start ticks) of every process we can see."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out.append((int(name), *st))
    return out


def group_members(pgid: int, started_by: int | None = None, procs=None) -> list[int]:
    """Pids in process group (or session) ``pgid``, started at or before ``started_by`` ticks
    (so that a new group that reused the number after ours died is not touched)."""
    return [pid for pid, pgrp, sid, start in (all_procs() if procs is None else procs)
            if pgid in (pgrp, sid) and (started_by is None or start <= started_by)]


# ---------------------------------------------------------------- watching

_PIDFD = hasattr(os, "pidfd_open")


@record(eq=False)
class Child:
    pid: int
    owner: Any                         # what the caller wants back when it ends
    fd: int = -1
    status: Any = None                 # forked by a Python server: its wait status comes on this socket


class Children:
    def __init__(self) -> None:
        self.live: dict[int, Child] = {}            # pidfd (or pid) -> child
        self.poller = select.poll()
        self._rd, self._wr = os.pipe()              # close-on-exec, as Python makes every fd
        os.set_blocking(self._rd, False)
        os.set_blocking(self._wr, False)
        self.poller.register(self._rd, select.POLLIN)
        self._ended: list[tuple[Child, int]] = []   # from waiter threads, without pidfds
        self._lock = threading.Lock()
        # groups of ended steps with processes left: pgid -> (SIGKILL time, clock ticks at the
        # end of the step: a process started later is not the step's, the number was reused)
        self.sweeps: dict[int, tuple[float, int]] = {}

    def close(self) -> None:
        for c in list(self.live.values()):
            if c.status is not None:
                c.status.close()
            elif c.fd >= 0:
                os.close(c.fd)
        os.close(self._rd)
        os.close(self._wr)

    def wake(self) -> None:
        """Make ``wait`` return now (safe from a signal handler or another thread)."""
        try:
            os.write(self._wr, b"x")
        except BlockingIOError:
            pass                                    # already full of wake-ups

    def add(self, pid: int, owner: Any) -> Child:
        c = Child(int(pid), owner)
        status = getattr(pid, "status", None)     # runner.pyserver.ForkedPid: not our child
        if status is not None:
            c.status, c.fd = status, status.fileno()
            self.poller.register(c.fd, select.POLLIN)
            self.live[c.fd] = c
        elif _PIDFD:
            c.fd = os.pidfd_open(pid)
            self.poller.register(c.fd, select.POLLIN)
            self.live[c.fd] = c
        else:
            self.live[pid] = c
            threading.Thread(target=self._wait_thread, args=(c,), daemon=True).start()
        return c

    def kill_all(self) -> None:
        """After a bug of ours or a store error: no step process outlives the run."""
        for c in list(self.live.values()):
            signal_group(c.pid, signal.SIGKILL)

    def sweep(self, pgid: int, grace: float) -> None:
        """A step's leader ended: SIGTERM what is left of its group; SIGKILL it at once
        (``grace`` 0) or, if still there, after ``grace`` as a deadline of ``wait``."""
        signal_group(pgid, signal.SIGTERM)
        if grace <= 0:
            signal_group(pgid, signal.SIGKILL)
        elif group_alive(pgid):
            self.sweeps[pgid] = (time.monotonic() + grace, ticks_now())

    def sweep_all(self) -> None:
        """The run is over: what ended steps left in their groups dies now."""
        for pgid in list(self.sweeps):
            self._sweep(pgid)

    def settle(self) -> None:
        """Wait for the swept groups to empty, SIGKILLing each at its time (``pipespec exec``,
        which must not return while its step's leftovers run): a group that empties is let go
        at once."""
        while self.sweeps:
            now = time.monotonic()
            for pgid, (t, _) in list(self.sweeps.items()):
                if not group_alive(pgid):
                    del self.sweeps[pgid]
                elif now >= t:
                    self._sweep(pgid)
            if self.sweeps:
                time.sleep(0.02)

    def _sweep(self, pgid: int) -> None:
        _, born_by = self.sweeps.pop(pgid)
        if any(c.pid == pgid for c in self.live.values()):
            return                                  # the number is a running step's now
        if not _PROC:                               # no /proc (macOS): the group as it is
            return signal_group(pgid, signal.SIGKILL)
        for pid in group_members(pgid, born_by):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def wait(self, timeout: float | None) -> list[tuple[Child, int]]:
        """Wait up to ``timeout`` s for children to end (or a wake-up); SIGKILL swept groups
        whose time came. Gives ``(child, returncode)`` pairs, returncode as Popen's (negative:
        a signal)."""
        if self.sweeps:
            left = max(0.0, min(t for t, _ in self.sweeps.values()) - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        ready = self.poller.poll(ms)
        ended: list[tuple[Child, int]] = []
        for fd, _ in ready:
            if fd == self._rd:
                try:
                    while os.read(self._rd, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            c = self.live.pop(fd)
            self.poller.unregister(fd)
            if c.status is not None:
                ended.append((c, _forked_exit(c)))
                continue
            os.close(fd)
            _, status = os.waitpid(c.pid, 0)
            ended.append((c, os.waitstatus_to_exitcode(status)))
        if not _PIDFD:
            with self._lock:
                got, self._ended = self._ended, []
            for c, status in got:
                self.live.pop(c.pid, None)
                ended.append((c, os.waitstatus_to_exitcode(status)))
        if self.sweeps:
            now = time.monotonic()
            for pgid, (t, _) in list(self.sweeps.items()):
                if now >= t:
                    self._sweep(pgid)
        return ended

    def _wait_thread(self, c: Child) -> None:
        try:
            _, status = os.waitpid(c.pid, 0)
        except BaseException:                 # never leave the loop waiting for this child
            status = 255 << 8
        with self._lock:
            self._ended.append((c, status))
        self.wake()


def _forked_exit(c: Child) -> int:
    """The exit status of a child forked by a Python server (``runner.pyserver``), which reaped
    it and sends its wait status; when the server died instead, the group is killed: -SIGKILL."""
    import json

    sock = c.status
    try:
        sock.settimeout(5.0)
        data = sock.recv(4096)
        return os.waitstatus_to_exitcode(json.loads(data)["status"])
    except (OSError, ValueError, KeyError, TypeError):
        signal_group(c.pid, signal.SIGKILL)
        return -signal.SIGKILL
    finally:
        sock.close()
