"""The running step processes of a run, watched from the scheduler's (main) thread.

One ``poll()`` waits for all of them at once: each child gets a pidfd (readable when it
exits), and a pipe lets signal handlers and worker threads wake the loop. Timeouts and the
SIGTERM -> grace -> SIGKILL escalation are deadlines checked on every wake-up, so no thread
or timer is needed per step. Without pidfds (not Linux) a thread per child waits instead.

Killing follows ``pipespec.runtime.kill_group``: SIGTERM to the child's process group; when
the leader has exited or the grace period is over, SIGKILL to the group, so grandchildren die
too. A child that ends on its own gets a SIGTERM to its group (leftover background processes
go with it, as on a CI runner), and SIGKILL after the grace period if it ignores that; a
process that left the group (``setsid``) is caught by the run's cgroup (``owner``).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from .owner import _ticks_now, group_members

_PIDFD = hasattr(os, "pidfd_open")


@dataclass(eq=False)
class Child:
    pid: int
    owner: Any                         # what the caller wants back when it ends
    deadline: float | None             # monotonic time of its timeout
    kill_at: float | None = None       # monotonic time of the SIGKILL after a SIGTERM
    timed_out: bool = False
    terminated: bool = False           # cancelled (Ctrl-C) or timed out: the group is killed
    fd: int = -1


class Children:
    def __init__(self) -> None:
        self.live: dict[int, Child] = {}            # pidfd (or pid) -> child
        self.poller = select.poll()
        self._rd, self._wr = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.poller.register(self._rd, select.POLLIN)
        self._ended: list[tuple[Child, int]] = []   # from waiter threads, without pidfds
        self._lock = threading.Lock()
        # groups of ended steps with processes left: pgid -> (SIGKILL time, clock ticks at the
        # end of the step: a process started later is not the step's, the number was reused)
        self.sweeps: dict[int, tuple[float, int]] = {}

    def close(self) -> None:
        for c in list(self.live.values()):
            if c.fd >= 0:
                os.close(c.fd)
        os.close(self._rd)
        os.close(self._wr)

    def wake(self) -> None:
        """Make ``wait`` return now (safe from a signal handler or another thread)."""
        try:
            os.write(self._wr, b"x")
        except BlockingIOError:
            pass                                    # already full of wake-ups

    def add(self, pid: int, owner: Any, timeout_s: float | None) -> Child:
        c = Child(pid, owner, time.monotonic() + timeout_s if timeout_s else None)
        if _PIDFD:
            c.fd = os.pidfd_open(pid)
            self.poller.register(c.fd, select.POLLIN)
            self.live[c.fd] = c
        else:
            self.live[pid] = c
            threading.Thread(target=self._wait_thread, args=(c,), daemon=True).start()
        return c

    def terminate_all(self, grace: float) -> None:
        """Ctrl-C: SIGTERM every group, SIGKILL after ``grace`` (0: at once)."""
        now = time.monotonic()
        for c in list(self.live.values()):
            self.terminate(c, grace, now)

    def terminate(self, c: Child, grace: float, now: float | None = None) -> None:
        c.terminated = True
        kill_at = (now or time.monotonic()) + grace
        if c.kill_at is None or kill_at < c.kill_at:
            c.kill_at = kill_at
            _signal_group(c.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)

    def next_deadline(self) -> float | None:
        times = [t for c in self.live.values() for t in (c.deadline, c.kill_at) if t is not None]
        times += [t for t, _ in self.sweeps.values()]
        return min(times) if times else None

    def sweep_all(self) -> None:
        """The run is over: what ended steps left in their groups dies now."""
        for pgid in list(self.sweeps):
            self._sweep(pgid)

    def _sweep(self, pgid: int) -> None:
        _, born_by = self.sweeps.pop(pgid)
        if any(c.pid == pgid for c in self.live.values()):
            return                                  # the number is a running step's now
        for pid in group_members(pgid, born_by):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def wait(self, timeout: float | None, grace: float) -> list[tuple[Child, int]]:
        """Wait up to ``timeout`` s for children to end (or a wake-up); enforce deadlines.
        Gives ``(child, returncode)`` pairs, returncode as Popen's (negative: a signal)."""
        if self.live or self.sweeps:
            due = self.next_deadline()
            if due is not None:
                left = max(0.0, due - time.monotonic())
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
            os.close(fd)
            _, status = os.waitpid(c.pid, 0)
            ended.append((c, self._reaped(c, status, grace)))
        if not _PIDFD:
            with self._lock:
                got, self._ended = self._ended, []
            for c, status in got:
                self.live.pop(c.pid, None)
                ended.append((c, self._reaped(c, status, grace)))
        now = time.monotonic()
        for pgid, (t, _) in list(self.sweeps.items()):
            if now >= t:
                self._sweep(pgid)
        for c in list(self.live.values()):
            if c.deadline is not None and now >= c.deadline and not c.timed_out:
                c.timed_out = True
                c.deadline = None
                self.terminate(c, grace, now)
            elif c.kill_at is not None and now >= c.kill_at:
                c.kill_at = None
                _signal_group(c.pid, signal.SIGKILL)
        return ended

    def _reaped(self, c: Child, status: int, grace: float) -> int:
        if c.terminated:                 # the leader is gone: what is left of the group dies now
            _signal_group(c.pid, signal.SIGTERM)
            _signal_group(c.pid, signal.SIGKILL)
        else:
            # leftovers (background processes) get SIGTERM, and SIGKILL after the grace period
            # if still there (a trap '' TERM), as a deadline of the loop: nothing waits for them
            _signal_group(c.pid, signal.SIGTERM)
            try:
                os.killpg(c.pid, 0)
                self.sweeps[c.pid] = (time.monotonic() + grace, _ticks_now())
            except (ProcessLookupError, PermissionError):
                pass
        return os.waitstatus_to_exitcode(status)

    def _wait_thread(self, c: Child) -> None:
        try:
            _, status = os.waitpid(c.pid, 0)
        except BaseException:                 # never leave the loop waiting for this child
            status = 255 << 8
        with self._lock:
            self._ended.append((c, status))
        self.wake()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
