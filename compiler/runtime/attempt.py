"""The attempts of one step instance, as a state machine: events in, actions out, no processes.

``pipespec exec`` (``execute.run_step``, one step, blocking) and the local runner (one
``poll()`` loop for all steps) drive the same ``Attempts``: they feed it what happened —
the attempt started (``spawned``) or could not (``not_started``), its process ended
(``exited``), its outputs were collected (``collected``), a time it asked for came
(``deadline``), Ctrl-C (``cancel``) — and carry out what it answers, over the spawn/kill
module (``processes``). So retries, backoff, timeouts (SIGTERM, then SIGKILL after the
grace period) and cancelling mean one thing for every target; docs/steps.md and
docs/runner.md describe them.

Every event gives a list of actions: zero or more immediate ones (``Signal``, ``Sweep``),
then one that says what to wait for next (``Spawn``, ``WaitUntil``, ``Collect``,
``SleepUntil``, ``Done``). Times are the caller's monotonic clock, passed in.
"""

from __future__ import annotations

import enum
import signal
from ..record import record

from .. import ir

# exit codes for the executor's own verdicts (a failing command keeps its own)
EXIT_OUTPUTS = 1          # the step ran but its outputs are wrong, or an expression failed
EXIT_NOT_FOUND = 127      # the command or the module:function does not exist
EXIT_NOT_EXECUTABLE = 126
EXIT_TIMEOUT = 124        # as timeout(1)
EXIT_CANCELLED = 130      # as a shell after Ctrl-C


class Status(str, enum.Enum):
    """How an attempt (and so a step instance) ended. A ``str``: records and JSON hold the value."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class NoRetry(enum.Enum):
    """Why a failed attempt is not tried again, though retries are left."""

    EXPRESSION = "an expression failed: evaluating it again gives the same answer"
    CANNOT_EXEC = "its command line or environment holds what no exec can carry (a NUL byte)"
    SECRET_IN_OUTPUT = "an output holds a secret's value: it would again"
    INTERNAL = "an error of pipespec or of the run store, not of the step"


@record(frozen=True)
class Outcome:
    """The end of one attempt."""

    status: Status
    exit_code: int
    error: str | None = None
    no_retry: NoRetry | None = None

    @classmethod
    def failed(cls, error: str | None, code: int = EXIT_OUTPUTS, no_retry: NoRetry | None = None) -> "Outcome":
        return cls(Status.FAILED, code, error, no_retry)


SUCCEEDED = Outcome(Status.SUCCEEDED, 0)


# ---------------------------------------------------------------- actions

@record(frozen=True)
class Spawn:
    """Prepare and start attempt number ``attempt`` (1 for the first); answer ``spawned`` or
    ``not_started``."""
    attempt: int


@record(frozen=True)
class WaitUntil:
    """Wait for the process to end (``exited``), or until ``time`` (``deadline``); None: no limit."""
    time: float | None


@record(frozen=True)
class Signal:
    """Send ``sig`` to the attempt's process group (immediate)."""
    sig: int


@record(frozen=True)
class Sweep:
    """The leader ended: SIGTERM what is left of its group, SIGKILL it after ``grace`` if it
    stays (``grace`` 0: SIGKILL now). Immediate: the caller does not wait for the group."""
    grace: float


@record(frozen=True)
class Collect:
    """The command succeeded: check its outputs; answer ``collected``."""


@record(frozen=True)
class SleepUntil:
    """Attempt ``attempt`` failed with ``failure``; the next one starts at ``time`` (answer
    ``deadline`` then, or ``cancel``). ``delay``: the declared backoff, for messages."""
    time: float
    delay: float
    attempt: int
    failure: Outcome


@record(frozen=True)
class Done:
    outcome: Outcome
    attempts: int


Action = Spawn | WaitUntil | Signal | Sweep | Collect | SleepUntil | Done


class Phase(enum.Enum):
    IDLE = "idle"                # not begun
    STARTING = "starting"        # Spawn asked, no answer yet
    RUNNING = "running"          # its process runs
    COLLECTING = "collecting"    # Collect asked
    SLEEPING = "sleeping"        # the backoff before the next attempt
    DONE = "done"


def retry_delay(retries: ir.Retries, attempt: int) -> float:
    """Delay before retry number ``attempt`` (0 for the first retry)."""
    return min(retries.delay_s * retries.backoff ** attempt, retries.max_delay_s)


CALL_EXIT_CODES = {3: "call: target not found"}      # bootstrap.py's own exit status


def for_step(step: ir.Step, grace: float, retry: bool = True) -> "Attempts":
    """The attempts of one instance of ``step``, as the IR declares them."""
    return Attempts(step.retries, step.timeout_s, grace, retry=retry,
                    meanings=CALL_EXIT_CODES if step.kind == "call" else None)


class BadEvent(RuntimeError):
    """An event the current phase cannot receive: a bug of the driver."""


class Attempts:
    """The attempts of one step instance: ``limit`` retries after the first, each limited to
    ``timeout_s`` (None: none), then SIGTERM and SIGKILL ``grace`` s later."""

    __slots__ = ("retries", "limit", "timeout_s", "grace", "meanings", "phase", "attempt", "cancelled", "timed_out",
                 "terminated", "deadline_at", "kill_at", "due", "_cancel_grace")

    def __init__(self, retries: ir.Retries, timeout_s: float | None, grace: float, *, retry: bool = True,
                 meanings: dict[int, str] | None = None) -> None:
        self.retries = retries
        self.limit = retries.limit if retry else 0
        self.timeout_s, self.grace = timeout_s, grace
        self.meanings = meanings or {}     # exit code -> the error it means (bootstrap.py's 3)
        self.phase = Phase.IDLE
        self.attempt = 0               # the number of the current (or last) attempt
        self.cancelled = False
        self.timed_out = False         # the current attempt's
        self.terminated = False        # its group was signalled (timeout or cancel)
        self.deadline_at: float | None = None
        self.kill_at: float | None = None
        self.due: float | None = None  # of the next attempt, while SLEEPING
        self._cancel_grace = grace

    # ------------------------------------------------------------ events

    def begin(self, now: float) -> list[Action]:
        self._expect(Phase.IDLE)
        return self._next_attempt()

    def spawned(self, now: float) -> list[Action]:
        self._expect(Phase.STARTING)
        self.phase = Phase.RUNNING
        self.timed_out = self.terminated = False
        self.deadline_at = now + self.timeout_s if self.timeout_s else None
        self.kill_at = None
        if self.cancelled:              # Ctrl-C came while it was being started
            return self._terminate(now, self._cancel_grace)
        return [WaitUntil(self.deadline_at)]

    def not_started(self, outcome: Outcome, now: float) -> list[Action]:
        """Preparing or starting the attempt failed (an expression, a missing command, ...)."""
        self._expect(Phase.STARTING)
        return self._ended(outcome, now)

    def exited(self, returncode: int, now: float) -> list[Action]:
        """Its process ended; ``returncode`` as Popen's (negative: killed by that signal)."""
        self._expect(Phase.RUNNING)
        self.deadline_at = self.kill_at = None
        # the leader is gone: after a timeout or cancel what is left of the group dies now;
        # else leftovers (background processes) go with it, as on a CI runner
        first: list[Action] = [Sweep(0.0 if self.terminated else self.grace)]
        if self.timed_out:
            return first + self._ended(Outcome(Status.TIMEOUT, EXIT_TIMEOUT, f"timed out after "
                                               f"{self.timeout_s:g}s; its process group was killed"), now)
        if self.cancelled:
            return first + self._ended(Outcome(Status.CANCELLED, EXIT_CANCELLED, "cancelled"), now)
        if returncode < 0:
            return first + self._ended(Outcome.failed(f"killed by signal {-returncode}", 128 - returncode), now)
        if returncode != 0:
            return first + self._ended(Outcome.failed(self.meanings.get(returncode), returncode), now)
        self.phase = Phase.COLLECTING
        return first + [Collect()]

    def collected(self, outcome: Outcome, now: float) -> list[Action]:
        self._expect(Phase.COLLECTING)
        return self._ended(outcome, now)

    def deadline(self, now: float) -> list[Action]:
        """A time this machine asked for may have come. Early or spurious calls are fine: they
        give no action (keep waiting for what was asked before)."""
        if self.phase is Phase.SLEEPING:
            if now < self.due:
                return []
            self.due = None
            return self._next_attempt()
        if self.phase is not Phase.RUNNING:
            return []
        if self.deadline_at is not None and now >= self.deadline_at and not self.timed_out:
            self.timed_out = True
            self.deadline_at = None
            return self._terminate(now, self.grace)
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            return [Signal(signal.SIGKILL), WaitUntil(None)]
        return []

    def cancel(self, now: float, grace: float) -> list[Action]:
        """Ctrl-C (or its second press, ``grace`` 0): stop; no attempt starts after it."""
        self.cancelled = True
        self._cancel_grace = grace
        if self.phase is Phase.SLEEPING:
            return self._done(Outcome(Status.CANCELLED, EXIT_CANCELLED, "cancelled"))
        if self.phase is Phase.RUNNING:
            return self._terminate(now, grace)
        return []                       # starting: stopped once spawned; collecting: its result stands

    # ------------------------------------------------------------ state

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def wake_at(self) -> float | None:
        """The next time ``deadline`` must be called, or None."""
        if self.phase is Phase.SLEEPING:
            return self.due
        if self.phase is Phase.RUNNING:
            times = [t for t in (self.deadline_at, self.kill_at) if t is not None]
            return min(times) if times else None
        return None

    # ------------------------------------------------------------ inside

    def _expect(self, phase: Phase) -> None:
        if self.phase is not phase:
            raise BadEvent(f"attempt machine: event for {phase.value} while {self.phase.value}")

    def _next_attempt(self) -> list[Action]:
        self.attempt += 1
        if self.cancelled:
            return self._done(Outcome(Status.CANCELLED, EXIT_CANCELLED, "cancelled before it started"))
        self.phase = Phase.STARTING
        return [Spawn(self.attempt)]

    def _terminate(self, now: float, grace: float) -> list[Action]:
        self.terminated = True
        kill_at = now + grace
        if self.kill_at is not None and self.kill_at <= kill_at:
            return [WaitUntil(self.wake_at())]          # already going, no later than this
        self.kill_at = kill_at
        return [Signal(signal.SIGTERM if grace > 0 else signal.SIGKILL), WaitUntil(self.wake_at())]

    def _ended(self, outcome: Outcome, now: float) -> list[Action]:
        retry = (outcome.status not in (Status.SUCCEEDED, Status.CANCELLED) and outcome.no_retry is None
                 and self.attempt <= self.limit)
        if not retry:
            return self._done(outcome)
        if self.cancelled:
            return self._done(Outcome(Status.CANCELLED, EXIT_CANCELLED, "cancelled"))
        delay = retry_delay(self.retries, self.attempt - 1)
        self.phase, self.due = Phase.SLEEPING, now + delay
        return [SleepUntil(self.due, delay, self.attempt, outcome)]

    def _done(self, outcome: Outcome) -> list[Action]:
        self.phase = Phase.DONE
        self.deadline_at = self.kill_at = self.due = None
        return [Done(outcome, self.attempt)]
