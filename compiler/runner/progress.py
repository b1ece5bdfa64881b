"""What ``pipespec run`` prints: a line per event, and in a terminal a live status line.

Plain (not a TTY, or ``--progress plain``)::

    [  1.2s] ✓ prepare (0.8s)
    [  1.3s] ✓ train[forest] cached
    [  1.3s] - deploy skipped (if: false)
    [  2.0s] ✗ train[logreg] FAILED (exit 1) - see .pipespec/logs/R/train.0.err

In a terminal the same lines scroll above one status line, redrawn in place (ANSI, no
dependency): counts of pending/running/done/cached/skipped/failed, elapsed time, and the
names of the running steps.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

MARKS = {"done": "✓", "cached": "✓", "skipped": "-", "failed": "✗", "not_run": "·", "retry": "↻",
         "start": "▶", "info": " "}


class Display:
    def __init__(self, stream=None, tty: bool = False, explain: bool = False, verbose: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.tty = tty
        self.explain = explain
        self.verbose = verbose
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.counts = {"pending": 0, "running": 0, "done": 0, "cached": 0, "skipped": 0, "failed": 0}
        self.running: dict[int, str] = {}
        self._status_shown = False
        self._last_draw = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def line(self, text: str) -> None:
        with self.lock:
            self._clear()
            self.stream.write(text + "\n")
            self._draw(force=True)

    def event(self, kind: str, label: str, detail: str = "", reason: str = "") -> None:
        text = f"[{self.elapsed():6.1f}s] {MARKS.get(kind, ' ')} {label}"
        if detail:
            text += f" {detail}"
        if reason and (self.explain or kind == "failed"):
            text += f" — {reason}"
        self.line(text)

    def started(self, key: int, label: str) -> None:
        with self.lock:
            self.running[key] = label
        if self.verbose:
            self.event("start", label)
        self.tick()

    def stopped(self, key: int) -> None:
        with self.lock:
            self.running.pop(key, None)

    def instance_ended(self, label: str, res, reason: str, stderr: str | None, shown: str) -> None:
        """A step instance ran to its end (``runtime.StepResult``); a failure shows its log's tail."""
        if res.ok:
            self.counts["done"] += 1
            tries = f", {res.attempts} attempts" if res.attempts > 1 else ""
            self.event("done", label, f"({res.duration_s:.1f}s{tries})", reason)
        elif res.status == "cancelled":
            self.event("not_run", label, "cancelled")
        else:
            self.counts["failed"] += 1
            what = "TIMED OUT" if res.status == "timeout" else f"FAILED (exit {res.exit_code})"
            self.event("failed", label, f"{what} — see {shown}", res.error or "")
            for line in _tail(stderr, 6):
                self.line(f"    | {line}")

    def tick(self) -> None:
        if not self.tty:
            return
        with self.lock:
            self._draw()

    def close(self) -> None:
        with self.lock:
            self._clear()
            self.stream.flush()

    # ---------------------------------------------------------------- TTY status line

    def _clear(self) -> None:
        if self.tty and self._status_shown:
            self.stream.write("\r\x1b[K")
            self._status_shown = False

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        c = self.counts
        names = ", ".join(list(self.running.values())[:4]) + (" …" if len(self.running) > 4 else "")
        text = (f"\x1b[1m{self.elapsed():6.1f}s\x1b[0m  {c['pending']} pending · {c['running']} running · "
                f"{c['done']} done · {c['cached']} cached · {c['skipped']} skipped · "
                f"{c['failed']} failed" + (f"  ▶ {names}" if names else ""))
        width = shutil.get_terminal_size((100, 20)).columns
        if len(text) > width + 8:       # the escapes take 8 columns of no width
            text = text[:width + 7] + "…"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._status_shown = True


def make_display(mode: str, explain: bool, stream=None) -> Display:
    stream = stream or sys.stdout
    tty = mode == "tty" or (mode == "auto" and hasattr(stream, "isatty") and stream.isatty()
                            and os.environ.get("TERM") != "dumb")
    return Display(stream, tty=tty, explain=explain)


def _tail(path: str | None, n: int) -> list[str]:
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if ln.strip()][-n:]
