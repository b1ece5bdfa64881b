"""The step-attempt state machine alone: event sequences in, actions and outcome out, no process.

Each row: the step's retries/timeout, then (time, event) pairs, each with the actions it must
give. Both drivers (``pipespec exec``'s ``run_step`` and the runner's ``attempts.py``) only carry
these out, so these rows are what retries, backoff, timeouts and Ctrl-C mean everywhere."""

from __future__ import annotations

import signal

import pytest

from pipespec import ir
from pipespec.runtime.attempt import (CALL_EXIT_CODES, SUCCEEDED, Attempts, BadEvent, Collect, Done,
                                      NoRetry, Outcome, Phase, SleepUntil, Spawn, Status, Signal, Sweep,
                                      WaitUntil, retry_delay)

TERM, KILL = signal.SIGTERM, signal.SIGKILL
GRACE = 5.0


def retries(limit=0, delay=1.0, backoff=2.0, max_delay=3600.0):
    return ir.Retries(limit=limit, delay_s=delay, backoff=backoff, max_delay_s=max_delay)


def feed(m: Attempts, t: float, event: str, arg=None):
    if event == "begin":
        return m.begin(t)
    if event == "spawned":
        return m.spawned(t)
    if event == "exited":
        return m.exited(arg, t)
    if event == "not_started":
        return m.not_started(arg, t)
    if event == "collected":
        return m.collected(arg, t)
    if event == "deadline":
        return m.deadline(t)
    if event == "cancel":
        return m.cancel(t, GRACE if arg is None else arg)
    raise AssertionError(event)


EXPR = Outcome.failed("an expression of step 's' failed: boom", no_retry=NoRetry.EXPRESSION)
MISSING = Outcome.failed("command not found: nope", 127)
BAD_OUTPUT = Outcome.failed("the step did not write output 'f' (file): nothing at /x")
SECRET = Outcome.failed("output 'o' holds the value of a secret", no_retry=NoRetry.SECRET_IN_OUTPUT)

CASES = {
    "succeeds first time": (retries(2), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (1, "exited", 0, [Sweep(GRACE), Collect()]),
        (1, "collected", SUCCEEDED, [Done(SUCCEEDED, 1)]),
    ]),
    "fails, retried with backoff, then succeeds": (retries(2, delay=2, backoff=3), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (1, "exited", 4, [Sweep(GRACE), SleepUntil(3.0, 2.0, 1, Outcome.failed(None, 4))]),
        (2, "deadline", None, []),                               # early: keep sleeping
        (3, "deadline", None, [Spawn(2)]),
        (3, "spawned", None, [WaitUntil(None)]),
        (4, "exited", 4, [Sweep(GRACE), SleepUntil(10.0, 6.0, 2, Outcome.failed(None, 4))]),
        (10, "deadline", None, [Spawn(3)]),
        (10, "spawned", None, [WaitUntil(None)]),
        (11, "exited", 0, [Sweep(GRACE), Collect()]),
        (11, "collected", SUCCEEDED, [Done(SUCCEEDED, 3)]),
    ]),
    "retries exhausted: the last failure stands": (retries(1, delay=1), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (1, "exited", 2, [Sweep(GRACE), SleepUntil(2.0, 1.0, 1, Outcome.failed(None, 2))]),
        (2, "deadline", None, [Spawn(2)]),
        (2, "spawned", None, [WaitUntil(None)]),
        (3, "exited", -9, [Sweep(GRACE), Done(Outcome.failed("killed by signal 9", 137), 2)]),
    ]),
    "a failed expression is not retried": (retries(3), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "not_started", EXPR, [Done(EXPR, 1)]),
    ]),
    "a command not found is retried": (retries(1, delay=1), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "not_started", MISSING, [SleepUntil(1.0, 1.0, 1, MISSING)]),
        (1, "deadline", None, [Spawn(2)]),
        (1, "not_started", MISSING, [Done(MISSING, 2)]),
    ]),
    "wrong outputs are retried, a secret in one is not": (retries(3, delay=1), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (0, "exited", 0, [Sweep(GRACE), Collect()]),
        (0, "collected", BAD_OUTPUT, [SleepUntil(1.0, 1.0, 1, BAD_OUTPUT)]),
        (1, "deadline", None, [Spawn(2)]),
        (1, "spawned", None, [WaitUntil(None)]),
        (1, "exited", 0, [Sweep(GRACE), Collect()]),
        (1, "collected", SECRET, [Done(SECRET, 2)]),
    ]),
    "timeout: SIGTERM, SIGKILL after the grace, then the group": (retries(0), 10.0, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(10.0)]),
        (5, "deadline", None, []),                               # spurious wake-up
        (10, "deadline", None, [Signal(TERM), WaitUntil(15.0)]),
        (15, "deadline", None, [Signal(KILL), WaitUntil(None)]),
        (15, "exited", -9, [Sweep(0.0), Done(Outcome(Status.TIMEOUT, 124, "timed out after 10s; its process "
                                                             "group was killed"), 1)]),
    ]),
    "timeout whose leader ends on SIGTERM, then retried": (retries(1, delay=1), 2.5, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(2.5)]),
        (3, "deadline", None, [Signal(TERM), WaitUntil(8.0)]),
        (3, "exited", -15, [Sweep(0.0), SleepUntil(4.0, 1.0, 1, Outcome(
            Status.TIMEOUT, 124, "timed out after 2.5s; its process group was killed"))]),
        (4, "deadline", None, [Spawn(2)]),
        (4, "spawned", None, [WaitUntil(6.5)]),                  # a fresh timeout per attempt
        (5, "exited", 0, [Sweep(GRACE), Collect()]),
        (5, "collected", SUCCEEDED, [Done(SUCCEEDED, 2)]),
    ]),
    "Ctrl-C while running: SIGTERM, then Ctrl-C again: SIGKILL; never retried": (retries(3), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (1, "cancel", None, [Signal(TERM), WaitUntil(6.0)]),
        (2, "cancel", 0.0, [Signal(KILL), WaitUntil(2.0)]),
        (2, "exited", -9, [Sweep(0.0), Done(Outcome(Status.CANCELLED, 130, "cancelled"), 1)]),
    ]),
    "Ctrl-C while sleeping before a retry": (retries(3, delay=60), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "not_started", MISSING, [SleepUntil(60.0, 60.0, 1, MISSING)]),
        (1, "cancel", None, [Done(Outcome(Status.CANCELLED, 130, "cancelled"), 1)]),
    ]),
    "Ctrl-C while it is being spawned: stopped once it is": (retries(0), 30.0, [
        (0, "begin", None, [Spawn(1)]),
        (0, "cancel", None, []),
        (1, "spawned", None, [Signal(TERM), WaitUntil(6.0)]),
        (2, "exited", 0, [Sweep(0.0), Done(Outcome(Status.CANCELLED, 130, "cancelled"), 1)]),
    ]),
    "Ctrl-C before it began": (retries(2), None, [
        (0, "cancel", None, []),
        (0, "begin", None, [Done(Outcome(Status.CANCELLED, 130, "cancelled before it started"), 1)]),
    ]),
    "a failure after Ctrl-C is not retried": (retries(2), None, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (0, "exited", 0, [Sweep(GRACE), Collect()]),
        (1, "cancel", None, []),                                 # collecting: its result stands
        (1, "collected", BAD_OUTPUT, [Done(Outcome(Status.CANCELLED, 130, "cancelled"), 1)]),
    ]),
    "a timeout and a Ctrl-C: the earlier SIGKILL time holds": (retries(0), 1.0, [
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(1.0)]),
        (0.5, "cancel", 0.5, [Signal(TERM), WaitUntil(1.0)]),
        (1, "deadline", None, [WaitUntil(1.0)]),                 # timed out too: SIGKILL still at 1.0
        (1, "deadline", None, [Signal(KILL), WaitUntil(None)]),
        (1, "exited", -9, [Sweep(0.0), Done(Outcome(Status.TIMEOUT, 124, "timed out after 1s; its process "
                                                            "group was killed"), 1)]),
    ]),
    "no retries when the caller says so": (retries(5), None, [          # see test_no_retry_flag
        (0, "begin", None, [Spawn(1)]),
        (0, "spawned", None, [WaitUntil(None)]),
        (1, "exited", 1, [Sweep(GRACE), Done(Outcome.failed(None, 1), 1)]),
    ]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_event_sequence(name):
    r, timeout, rows = CASES[name]
    m = Attempts(r, timeout, GRACE, retry=name != "no retries when the caller says so")
    for t, event, arg, want in rows:
        got = feed(m, t, event, arg)
        assert got == want, f"{name}: at t={t} {event}({arg!r})"
        # at most one thing to wait for, and it comes last
        waits = [a for a in got if not isinstance(a, (Signal, Sweep))]
        assert len(waits) <= 1 and (not waits or got[-1] is waits[0]), got
    assert m.done and m.phase is Phase.DONE and m.wake_at() is None


def test_wake_at_follows_the_deadlines():
    m = Attempts(retries(1, delay=4), 10.0, 2.0)
    m.begin(0)
    assert m.wake_at() is None
    m.spawned(0)
    assert m.wake_at() == 10.0
    m.deadline(10)
    assert m.wake_at() == 12.0                              # the SIGKILL after the grace
    m.exited(-15, 11)
    assert m.phase is Phase.SLEEPING and m.wake_at() == 15.0


def test_a_call_steps_exit_3_means_its_target_was_not_found():
    m = Attempts(retries(0), None, GRACE, meanings=CALL_EXIT_CODES)
    m.begin(0)
    m.spawned(0)
    assert m.exited(3, 1)[-1] == Done(Outcome.failed("call: target not found", 3), 1)
    plain = Attempts(retries(0), None, GRACE)
    plain.begin(0)
    plain.spawned(0)
    assert plain.exited(3, 1)[-1] == Done(Outcome.failed(None, 3), 1)


def test_events_out_of_order_are_a_drivers_bug():
    m = Attempts(retries(0), None, GRACE)
    with pytest.raises(BadEvent):
        m.exited(0, 0)
    m.begin(0)
    with pytest.raises(BadEvent):
        m.collected(SUCCEEDED, 0)
    with pytest.raises(BadEvent):
        m.begin(0)


def test_status_is_its_text_in_records_and_json():
    import json

    assert json.dumps({"s": Status.TIMEOUT}) == '{"s": "timeout"}'
    assert Status.SUCCEEDED == "succeeded" and str(Status.CANCELLED) == "cancelled"


def test_backoff_is_capped():
    r = retries(5, delay=2, backoff=3, max_delay=20)
    assert [retry_delay(r, n) for n in range(4)] == [2.0, 6.0, 18.0, 20.0]
