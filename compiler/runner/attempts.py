"""The runner's driver of the attempt machines: one ``runtime.attempt.Attempts`` per running
step instance, carried out over the spawn/kill module and the helper threads.

The scheduler hands an instance over with ``begin`` and gets it back, ended, through its
``on_done(inst, result, hashes)`` (a ``runtime.StepResult``, the artifacts' digests). In between, each machine's actions are done here: a ``Spawn``
prepares and spawns on a helper thread (``_start``; on this thread when nothing else runs),
a ``WaitUntil`` or ``SleepUntil`` is a timer of the loop (``timers``: the scheduler's ``poll``
wakes for the earliest), a ``Signal`` or ``Sweep`` goes to the step's process group, a
``Collect`` checks the outputs and ingests the artifacts (on a helper thread when there are
any). Process exits arrive through ``exited``, Ctrl-C through ``cancel_all``.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from ..files import make_dirs
from ..runtime import attempt as A
from ..runtime.attempt import NoRetry, Outcome
from ..runtime.execute import StepResult, cannot_prepare, cleanup, collect, prepared, start
from ..runtime.layout import slot
from ..runtime.processes import signal_group
from .state import Instance
from .workers import guarded

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW


class Attempting:
    def __init__(self, runner, on_done: Callable[[Instance, StepResult, dict], None]) -> None:
        self.r = runner                       # its pipeline, store paths, masker, display, ...
        self.children, self.workers, self.grace = runner.children, runner.workers, runner.grace
        self.on_done = on_done
        self.active: set[Instance] = set()    # begun, not done
        self.timers: dict[Instance, float] = {}   # instance -> when its machine wants ``deadline``

    # ------------------------------------------------------------ from the scheduler

    def begin(self, inst: Instance) -> None:
        m = inst.machine = A.for_step(inst.step, self.grace)
        self.active.add(inst)
        now = time.monotonic()
        if inst.cancel.is_set():              # a finally step launched after Ctrl-C
            m.cancel(now, self.grace)
        self._do(inst, m.begin(now))

    def exited(self, inst: Instance, rc: int) -> None:
        self._do(inst, inst.machine.exited(rc, time.monotonic()))

    def next_timer(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def fire_timers(self) -> bool:
        """Give every machine whose time came its ``deadline``; whether any did."""
        now = time.monotonic()
        due = [inst for inst, t in self.timers.items() if t <= now]
        for inst in due:
            del self.timers[inst]
            self._do(inst, inst.machine.deadline(now))
        return bool(due)

    def cancel_all(self, grace: float) -> None:
        now = time.monotonic()
        for inst in list(self.active):
            self._do(inst, inst.machine.cancel(now, grace))

    # ------------------------------------------------------------ actions

    def _do(self, inst: Instance, actions: list) -> None:
        for a in actions:
            kind = type(a)
            if kind is A.Signal:
                signal_group(inst.pid, a.sig)
                if self.r.containers is not None:     # run --containers (runner/containers.py)
                    self.r.containers.signal(inst, a.sig)
            elif kind is A.Sweep:
                self.children.sweep(inst.pid, a.grace)
            elif kind is A.WaitUntil:
                self._timer(inst, a.time)
            elif kind is A.Spawn:
                if self.r.running <= 1:       # nothing else to do meanwhile (a chain): no hand-off
                    self._started(inst, guarded(self._start, inst))
                else:
                    self.workers.submit(self._start, inst, self._started)
            elif kind is A.Collect:
                if not inst.step.artifact_outputs:   # value outputs only: a small file, read here
                    self._collected(inst, self._collect(inst))
                else:
                    self.workers.submit(self._collect, inst, self._collected)
            elif kind is A.SleepUntil:
                self._end_attempt(inst)
                error = self.r.masker.text(a.failure.error)
                self.r.display.event("retry", inst.label, f"attempt {a.attempt} failed "
                                     f"({error or f'exit {a.failure.exit_code}'}); retrying in {a.delay:g}s")
                self._timer(inst, a.time)
            elif kind is A.Done:
                self._timer(inst, None)
                self._end_attempt(inst)
                self.active.discard(inst)
                self._done(inst, a.outcome, a.attempts)

    def _done(self, inst: Instance, outcome: Outcome, attempts: int) -> None:
        """The machine is done: the logs closed and masked, the result to the scheduler."""
        masker = self.r.masker
        for fd in inst.fds:
            os.close(fd)
        inst.fds = ()
        if masker:
            for path in (inst.stdout, inst.stderr):
                try:
                    masker.mask_file(path)
                except OSError:
                    pass
        ok = outcome.status is A.Status.SUCCEEDED
        res = StepResult(inst.step.name, inst.index, outcome.status.value, outcome.exit_code, inst.values,
                         inst.metrics, inst.artifacts if ok else {}, time.monotonic() - inst.t0, attempts,
                         masker.text(outcome.error))
        self.on_done(inst, res, inst.hashes if ok else {})

    def _timer(self, inst: Instance, when: float | None) -> None:
        if when is None:
            self.timers.pop(inst, None)
        else:
            self.timers[inst] = when

    def _end_attempt(self, inst: Instance) -> None:
        if inst.inv is not None:
            cleanup(inst.inv)
            inst.inv = None
        if self.r.containers is not None:
            self.r.containers.ended(inst)

    # ------------------------------------------------------------ the phases

    def _start(self, inst: Instance) -> int | Outcome:
        """On a worker: open the logs (first attempt), evaluate, spawn: the pid, or why not."""
        r, step = self.r, inst.step
        try:
            if not inst.fds:
                inst.fds = (os.open(inst.stdout, _LOG_FLAGS, 0o666), os.open(inst.stderr, _LOG_FLAGS, 0o666))
        except OSError as e:
            return Outcome.failed(f"internal error: {e!r}", no_retry=NoRetry.INTERNAL)
        folder = os.path.join(r.run_dir, step.name, slot(inst.index))
        outs = {o.name: os.path.join(folder, o.name) for o in step.artifact_outputs}
        try:
            if outs:
                make_dirs(r.store_dir, folder)
        except OSError as e:
            return cannot_prepare(step, e, NoRetry.INTERNAL)

        def warn(msg: str) -> None:
            os.write(inst.fds[1], (msg + "\n").encode())
            r.display.line(f"  {inst.label}: {msg}")

        try:
            got = prepared(r.pipeline, step, inst.inputs, outs, r.scratch, r.base_env, warn)
        except Exception as e:                    # a bug of ours, not the step's: say so
            return Outcome.failed(f"internal error: {e!r}", 1, NoRetry.INTERNAL)
        if isinstance(got, Outcome):
            return got
        inst.inv = got
        if r.containers is not None:
            return r.containers.start(inst, got, r.devnull, *inst.fds)
        if r.pyservers is not None and step.kind == "call":     # --preload: fork, else spawn
            forked = r.pyservers.start(got, r.devnull, *inst.fds)
            if forked is not None:
                return forked
        return start(got, r.devnull, *inst.fds)

    def _started(self, inst: Instance, got: int | Outcome) -> None:
        m = inst.machine
        if isinstance(got, Outcome):
            return self._do(inst, m.not_started(got, time.monotonic()))
        inst.pid = got
        self.r.containment.spawned(got)
        self.children.add(got, inst)
        self._do(inst, m.spawned(time.monotonic()))

    def _collect(self, inst: Instance) -> Outcome:
        """After a successful command: check the outputs, move artifacts into place and into the
        object store. Runs on a worker thread when the step has artifacts."""
        try:
            outcome, inst.values, inst.metrics, inst.artifacts = collect(inst.inv, self.r.masker)
            if outcome.status is not A.Status.SUCCEEDED:
                return outcome
            try:
                inst.hashes = {name: self.r.objects.ingest(path) for name, path in inst.artifacts.items()}
            except OSError as e:
                inst.hashes = {}
                return Outcome.failed(f"storing its outputs failed: {e}", 1, NoRetry.INTERNAL)
            return outcome
        except Exception as e:                     # a bug of ours, not the step's: say so
            return Outcome.failed(f"internal error: {e!r}", 1, NoRetry.INTERNAL)

    def _collected(self, inst: Instance, outcome: Outcome) -> None:
        self._do(inst, inst.machine.collected(outcome, time.monotonic()))
