"""Helper threads of the scheduler: they do the parts of a step that block in the kernel.

Creating a step's two log files, spawning its process and moving/hashing its artifacts all
release the GIL (or wait on the kernel) for a while — creating a file on a busy ext4 disk
can take 0.3 ms, a spawn waits until the child has exec'd. Done on the scheduler's thread
they would happen one after another; on ``jobs`` threads they overlap, as make's children
do. Results come back to the scheduler through ``results`` (a queue it drains when
``wake`` has woken its ``poll``). Plain threads and a queue: ``concurrent.futures`` costs
more to import than this whole module.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from ..runtime.attempt import NoRetry, Outcome


def guarded(fn: Callable[[Any], Any], inst: Any) -> Any:
    """``fn(inst)``, or, when it raises anyway, the failed outcome of that step's attempt
    (``internal error: ...``, not retried). A helper that dies must not take its result with
    it: the scheduler would wait for it forever."""
    try:
        return fn(inst)
    except BaseException as e:                    # a thread has no one else to tell
        return Outcome.failed(f"internal error: {type(e).__name__}: {e}", 1, NoRetry.INTERNAL)


class Workers:
    def __init__(self, n: int, wake: Callable[[], None]) -> None:
        self.results: queue.SimpleQueue = queue.SimpleQueue()   # (on_done, inst, result)
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = wake
        self.inflight = 0        # submitted, result not yet taken (both on the scheduler's thread)
        self._threads = [threading.Thread(target=self._loop, name=f"step-{i}", daemon=True)
                         for i in range(n)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[Any], Any], inst: Any, on_done: Callable[[Any, Any], None]) -> None:
        """Run ``fn(inst)`` on a worker; the scheduler later calls ``on_done(inst, result)``."""
        self.inflight += 1
        self._todo.put((fn, inst, on_done))

    def _loop(self) -> None:
        while True:
            job = self._todo.get()
            if job is None:
                return
            fn, inst, on_done = job
            self.results.put((on_done, inst, guarded(fn, inst)))
            self._wake()

    def dead(self) -> bool:
        """A helper thread is gone (it cannot be, short of a bug): its job's result with it."""
        return not all(t.is_alive() for t in self._threads)

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)
        for t in self._threads:
            t.join()
