"""Ctrl-C (SIGINT) and SIGTERM during a run: the handler only takes note; the loop acts.

The first signal cancels the running steps (SIGTERM to their groups, SIGKILL after the grace
period) and stops new ones from starting; ``finally`` steps still run. A second one kills
what runs at once, ``finally`` steps included.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable


class Interrupts:
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.first: int | None = None           # the first signal's number
        self.cancel = threading.Event()          # of the phase that runs now
        self._pending: list[tuple[int, bool]] = []   # (signum, again), for ``handle``

    def install(self) -> dict:
        """On the main thread: our handler for SIGINT and SIGTERM; the old ones, to restore."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def restore(old: dict) -> None:
        for s, h in old.items():
            signal.signal(s, h)

    def on_signal(self, signum, frame) -> None:
        # Runs on the main thread between two bytecodes, maybe inside the display's lock or the
        # children's bookkeeping: only set flags and wake the loop, which does the rest.
        again = self.first is not None
        if not again:
            self.first = signum
        self.cancel.set()
        self._pending.append((signum, again))
        self.wake()

    def handle(self, say: Callable[[str], None], in_finally: bool, cancel_all: Callable[[float], None],
               grace: float) -> None:
        """On the loop's thread: tell, and cancel the running steps."""
        while self._pending:
            signum, again = self._pending.pop(0)
            if not again:
                say(f"interrupted ({signal.Signals(signum).name}): stopping the running steps; "
                    "finally steps still run (Ctrl-C again to stop them too)")
            elif not in_finally:
                say("interrupted again: killing the running steps now")
            cancel_all(0.0 if again else grace)
