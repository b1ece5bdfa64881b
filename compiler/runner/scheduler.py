"""The local runner: the IR's DAG on this machine, parallel, cached and resumable.

``Runner(pipeline, params, store_dir=...).run()`` runs up to ``jobs`` step instances at
once. This module is the walk of the DAG: which step may start, what it reads, how a step
ends, when the run is over. Each running instance's attempts are the executor's state
machine (``pipespec.runtime.attempt``, the one ``pipespec exec`` drives on every target's
workers), driven by ``attempts``, so a step means the same here as on Airflow, Kubeflow or
GitHub Actions. One thread does the work: it waits for every step process in one ``poll()``
(``runtime.processes.Children``): no thread sits blocked per step, and timeouts and retry
delays are deadlines of that loop. What blocks in the kernel — creating the log files,
preparing and spawning (``posix_spawn``), moving and hashing artifacts — runs on ``jobs``
helper threads (``workers``), so those waits overlap. Modes from ``--only``/``--from``:
``plan``; cache hits: ``reuse``; Ctrl-C: ``signals``; a store that cannot be written:
``runstore``.

Rules: ``if:`` false skips the step and everything depending on it; ``foreach`` fans out
(at most ``parallelism`` at once) and fans back in as lists in item order; a failure stops
new steps from starting while running ones finish; Ctrl-C terminates the running process
groups and marks the run ``interrupted``; ``finally`` steps run last in every case, with
``run.status`` ``succeeded`` or ``failed`` (an interrupted run counts as failed).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import sqlite3
import threading
import time
from collections import deque

from .. import ir
from ..record import replace
from ..expr import EvalError
from ..runtime import Lookup, StepInputs, StepResult, spec_dir
from ..files import UnsafePath, make_dirs, project_root
from ..runtime.layout import check_run_id
from ..runtime.masking import Masker
from ..runtime.processes import Children
from . import cachekey
from .attempts import Attempting
from .gitinfo import head_commit
from .plan import plan
from .reuse import Reuse
from .runstore import StoreError, mark_failed, new_run_id, store_failed, why
from .signals import Interrupts
from .workers import Workers
from .objects import FileHasher, ObjectStore
from .storegc import keep_reserve, remove_debris
from .owner import Containment, RunLock, reap
from .progress import Display
from .records import Records, dumps, instance_row, step_row
from .state import Instance, StepState


class Runner:
    def __init__(self, pipeline: ir.Pipeline, params: dict, *, store_dir: str, jobs: int | None = None,
                 no_cache: bool = False, only: tuple[str, ...] = (), from_: tuple[str, ...] = (),
                 display: Display | None = None, resume: str | None = None, argv: list[str] | None = None,
                 kill_grace: float = 5.0, explain: bool = False, compiled=None,
                 preload: bool = False) -> None:
        from .ircache import compile_fresh

        self.compiled = compiled or compile_fresh(pipeline)
        self.explain = explain
        if pipeline.source and not os.path.isabs(pipeline.source):
            # steps are prepared on worker threads while another may be in the spec's folder
            # for a spawn (runtime/spawn.py): no path may depend on the current directory
            pipeline = replace(pipeline, source=os.path.abspath(pipeline.source))
        self.cwd = os.getcwd()                          # for paths shown relative to it
        self.pipeline, self.params = pipeline, params
        self.store_dir = os.path.abspath(store_dir)
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.no_cache = no_cache
        self.display = display or Display()
        self.resume = resume
        self.argv = argv or []
        self.grace = kill_grace
        self.containers = None                          # run --containers: a runner.containers.Containers
        self.preload = preload
        self.spec_path = os.path.abspath(pipeline.source)
        self.spec_dir = spec_dir(pipeline)
        self.states = {s.name: StepState(s) for s in pipeline.all_steps}
        self.reads = {s.name: cachekey.StepReads(s, self.compiled.step_digests[s.name])
                      for s in pipeline.all_steps}
        plan(self.states, only, from_)

    # ---------------------------------------------------------------- run

    def run(self) -> int:
        """Run (or resume) the pipeline; the exit status. Raises ``RunBusy`` when another live
        runner owns the run, ``StoreError`` when the store cannot be written."""
        run_id = check_run_id(self.resume) if self.resume else new_run_id()
        self.records = None
        try:
            make_dirs(self.store_dir, self.store_dir)   # made 0700 when missing
            self.lock = RunLock(self.store_dir, run_id).acquire()
        except UnsafePath:
            raise
        except OSError as e:
            raise StoreError(f"the run store {self._rel(self.store_dir)} cannot be written: {why(e)}") from None
        keep_reserve(self.store_dir)
        try:
            killed = reap(self.lock)                 # what a dead runner of this run left running
            self.lock.write(pid=os.getpid(), host=os.uname().nodename)
            return self._run(run_id, killed)
        except UnsafePath:
            self._mark_failed(run_id)
            raise
        except (sqlite3.Error, OSError) as e:
            raise StoreError(store_failed(self._own_records(run_id), self.store_dir, run_id, e, self._rel)) from None
        except BaseException:
            self._mark_failed(run_id)                 # a bug of ours: at least leave it resumable
            raise
        finally:
            self.lock.release()
            if self.records is not None:
                try:
                    self.records.db.close()
                except sqlite3.Error:
                    pass

    def _own_records(self, run_id: str):
        """The records of this run once ``_run`` opened them for it, else None."""
        return self.records if getattr(self, "run_id", None) == run_id else None

    def _mark_failed(self, run_id: str) -> bool:
        return mark_failed(self._own_records(run_id), self.store_dir, run_id)

    def _run(self, run_id: str, killed: list[int]) -> int:
        self.records = Records(self.store_dir)
        self.objects = ObjectStore(self.store_dir)
        self.hasher = FileHasher(self.records, project_root(self.spec_dir))
        self.modules = cachekey.ModuleSources(self.spec_dir, self.hasher)
        self.base_env = dict(os.environ)
        self.masker = Masker.for_pipeline(self.pipeline, self.base_env)   # secrets -> *** in what we write
        self.children = Children()
        self.containment = Containment(self.lock)
        self.workers = Workers(self.jobs, self.children.wake)
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.attempting = Attempting(self, self._complete)
        self.pyservers = None
        self.running = 0
        self.failed = False
        self.interrupts = Interrupts(self.children.wake)
        self.run_status: str | None = None             # set for the finally phase
        self._urgent, self._last_flush = False, time.monotonic()
        self.resume_rows: dict = {}
        self.run_id = run_id
        self.run_dir = os.path.join(self.store_dir, "runs", self.run_id)
        self.log_dir = os.path.join(self.store_dir, "logs", self.run_id)
        self.scratch = os.path.join(self.store_dir, "tmp", self.run_id)
        if self.resume:
            remove_debris(self.run_dir, self.scratch)  # of the runners before us, dead or not
        make_dirs(self.store_dir, self.log_dir)          # never through a link planted in the store
        make_dirs(self.store_dir, self.scratch)
        if self.preload:
            from .pyserver import PythonServers

            self.pyservers = PythonServers(self.pipeline, self.spec_dir, self.log_dir, self.display.line)
        if self.resume:
            self.resume_rows = {(r["step"], r["item_index"]): r for r in self.records.executions(self.resume)
                                if r["status"] == "succeeded"}
            self.records.reopen_run(self.run_id, self.compiled.digest)
        else:
            self.records.new_run(self.run_id, self.spec_path, self.pipeline.name, self.compiled.digest,
                                 self.params, head_commit(self.spec_dir), self.argv)
        self.run_date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
        self.reuse = Reuse(self)
        self.display.counts["pending"] = len(self.pipeline.all_steps)
        self.display.line(f"{'resuming' if self.resume else 'run'} {self.run_id} of {self.pipeline.name} "
                          f"({len(self.pipeline.steps)} steps, -j {self.jobs}; store {self._rel(self.store_dir)})")
        if killed:
            self.display.line(f"killed {len(killed)} process{'es' if len(killed) > 1 else ''} that the dead "
                              f"runner of this run left running (pid {', '.join(map(str, killed))})")
        old = self.interrupts.install()
        try:
            main = [self.states[s.name] for s in self.pipeline.steps]
            self._phase(main)
            run_status = "failed" if self.failed or self.interrupted else "succeeded"
            fin = [self.states[s.name] for s in self.pipeline.finally_steps]
            if fin:
                self.interrupts.cancel = threading.Event()    # finally steps run even after Ctrl-C
                self.run_status = run_status
                self._phase(fin)
            final = ("interrupted" if self.interrupted else
                     "failed" if self.failed else "succeeded")
            self.records.flush()
            self.records.end_run(self.run_id, final)
        finally:
            self.children.kill_all()            # only after a bug of ours, or a store error: no orphans
            self.workers.close()
            self.children.sweep_all()           # what ended steps left in their process groups
            if self.pyservers is not None:
                self.pyservers.close()
            self.containment.close()            # and anything else in the run's cgroup
            self.children.close()
            os.close(self.devnull)
            self.interrupts.restore(old)
            try:
                shutil.rmtree(self.scratch)     # what killed steps left there
            except OSError:
                pass
        self.records.close()
        self.status = final
        self.display.close()
        if self.interrupted:
            return 128 + self.interrupted
        return 1 if self.failed else 0

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.cwd)
        return rel if not rel.startswith("../..") else path

    # ---------------------------------------------------------------- the loop

    def _phase(self, states: list[StepState]) -> None:
        self.ready: deque[StepState] = deque()
        for st in states:
            st.waiting_on = sum(1 for d in st.step.depends_on if not self.states[d].terminal)
            if st.waiting_on == 0:
                self.ready.append(st)
        self.launchable: list[StepState] = []
        while True:
            while self.ready:
                self._activate(self.ready.popleft())
            self._launch_some()
            if self.ready:
                continue                                # cache hits settled steps: go on at once
            if self.running == 0 and not self.launchable:
                break                                   # every step of the phase is settled
            self._maybe_flush()
            self._wait()
        self.records.flush()

    def _wait(self) -> None:
        """Block until a step process ends, a worker or a signal wakes us, a retry is due or
        0.25 s pass (to redraw the status line); then handle what happened."""
        self._handle_signals()
        timeout = 0.25
        due = self.attempting.next_timer()
        if due is not None:
            timeout = min(timeout, max(0.0, due - time.monotonic()))
        ended = self.children.wait(timeout)
        if ended:
            self._handle_signals()                # a Ctrl-C meanwhile: its steps end cancelled
        for child, rc in ended:
            self.attempting.exited(child.owner, rc)
        got = bool(ended)
        while not self.workers.results.empty():
            on_done, inst, result = self.workers.results.get()
            self.workers.inflight -= 1
            got = True
            on_done(inst, result)
        self._handle_signals()
        if self.attempting.fire_timers():
            got = True
        if not got:
            self.display.tick()
            # every running instance is a live process, a helper's job or a retry due: if none
            # is left, waiting would be forever (a bug of ours): fail the run instead
            if self.running and (self.workers.dead() or not (self.children.live or self.workers.inflight
                                                             or self.attempting.timers)):
                raise RuntimeError(f"the scheduler lost track of {self.running} running step "
                                   "instance(s) (a helper thread died?); stopping instead of waiting forever")

    def _maybe_flush(self) -> None:
        """Commit the queued records when a result that was costly to make is among them, or
        0.1 s after the last commit: a kill -9 then loses at most 0.1 s of cheap results."""
        now = time.monotonic()
        if self._urgent or now - self._last_flush >= 0.1:
            self.records.flush()
            self._urgent = False
            self._last_flush = now

    @property
    def interrupted(self) -> int | None:
        """The signal that interrupted the run, if one did."""
        return self.interrupts.first

    def _handle_signals(self) -> None:
        self.interrupts.handle(self.display.line, self.run_status is not None, self.attempting.cancel_all,
                               self.grace)

    @property
    def stopping(self) -> bool:
        """No new steps start after a failure or Ctrl-C (finally steps excepted)."""
        return (self.failed or self.interrupted is not None) and self.run_status is None

    # ---------------------------------------------------------------- step level

    def _terminal(self, st: StepState, status: str, reason: str = "") -> None:
        c = self.display.counts
        if st.status == "waiting":
            c["pending"] -= 1
        st.status, st.reason = status, reason
        if status in ("skipped", "not_run"):
            if status == "skipped":
                c["skipped"] += 1
            self.display.event("skipped" if status == "skipped" else "not_run", st.name,
                               f"skipped ({reason})" if status == "skipped" else f"not run ({reason})")
        if status in ("skipped", "not_run", "failed") and not st.instances:
            now = time.time()
            self.records.record(step_row(self.run_id, st.name, status, now, reason,
                                         error=reason if status == "failed" else None))
        for d in st.dependents:
            d.waiting_on -= 1
            if d.waiting_on == 0 and d.status == "waiting" and d.step.is_finally == st.step.is_finally:
                self.ready.append(d)

    def _activate(self, st: StepState) -> None:
        if st.mode == "exclude":
            return self._terminal(st, "excluded", "not selected")
        deps = [self.states[d] for d in st.step.depends_on]
        broken = [d.name for d in deps if d.status in ("failed", "not_run")]
        if broken:
            return self._terminal(st, "not_run", f"upstream '{broken[0]}' did not succeed")
        skipped = [d.name for d in deps if d.status == "skipped"]
        if skipped:
            return self._terminal(st, "skipped", f"upstream '{skipped[0]}' was skipped")
        if self.stopping:
            return self._terminal(st, "not_run", "the run is stopping")
        values, artifacts, hashes = self._inputs(st.step)
        st.inputs = (values, artifacts, hashes)
        probe = StepInputs(self.params, values, artifacts, run_id=self.run_id, run_date=self.run_date,
                           run_status=self.run_status)
        try:
            if st.step.condition is not None:
                ok = self._eval(st.step.condition, st.step, probe)
                if not isinstance(ok, bool):
                    raise EvalError(f"if: gave {ok!r}, not a bool", 0, 0)
                if not ok:
                    return self._terminal(st, "skipped", "if: false")
            if st.step.foreach is not None:
                items = self._eval(st.step.foreach, st.step, probe)
                if not isinstance(items, list):
                    raise EvalError(f"foreach: gave {type(items).__name__}, not a list", 0, 0)
                st.instances = [Instance(st, i, it) for i, it in enumerate(items)]
            else:
                st.instances = [Instance(st, None)]
        except (EvalError, KeyError, OSError, ValueError) as e:
            self.failed = True
            self.display.counts["failed"] += 1
            self.display.event("failed", st.name, "FAILED", f"evaluating its if:/foreach: failed: {e}")
            return self._terminal(st, "failed", f"evaluating its if:/foreach: failed: {e}")
        st.status = "active"
        self.display.counts["pending"] -= 1
        if not st.instances:
            st.gather()
            self.display.event("done", st.name, "(foreach: no items)")
            now = time.time()
            self.records.record(step_row(self.run_id, st.name, "succeeded", now, "foreach: no items",
                                         values_json=dumps(st.values)))
            return self._terminal(st, "succeeded")
        st.pending.extend(st.instances)
        self.launchable.append(st)

    def _eval(self, value: ir.Value, step: ir.Step, inputs: StepInputs):
        if value.template is None:
            return value.literal
        return value.template.render(Lookup(self.pipeline, step, inputs, {}, {}, self.display.line))

    def _inputs(self, step: ir.Step) -> tuple[dict, dict, dict]:
        """Upstream values and artifact paths the step reads, and their digests for its key."""
        values: dict[str, dict] = {}
        artifacts: dict[str, dict] = {}
        hashes: dict[str, object] = {}
        for inp in step.inputs:
            p = self.states[inp.step]
            if p.status != "succeeded":
                continue                          # a finally step reading a step that did not run
            ref = f"steps.{inp.step}.outputs.{inp.output}"
            if inp.is_artifact:
                artifacts.setdefault(inp.step, {})[inp.output] = p.artifacts[inp.output]
                hashes[ref] = p.hashes[inp.output]
            else:
                values.setdefault(inp.step, {})[inp.output] = p.values[inp.output]
                hashes[ref] = p.values[inp.output]
        return values, artifacts, hashes

    def _finish_step(self, st: StepState) -> None:
        statuses = {i.status for i in st.instances}
        if statuses == {"succeeded"}:
            st.gather()
            self._terminal(st, "succeeded")
        elif statuses & {"failed", "timeout"}:
            self._terminal(st, "failed")
        else:
            self._terminal(st, "not_run", "cancelled")

    # ---------------------------------------------------------------- instance level

    def _launch_some(self) -> None:
        if self.stopping:
            for st in self.launchable:
                for inst in st.pending:
                    inst.status = "not_run"
                    self._record(inst, reason="the run is stopping")
                st.finished += len(st.pending)
                st.pending.clear()
                if st.running == 0:
                    self._finish_step(st)
            self.launchable = []
            return
        i = 0
        while i < len(self.launchable) and self.running < self.jobs and not self.stopping:
            st = self.launchable[i]
            limit = st.step.parallelism or self.jobs
            while st.pending and st.running < limit and self.running < self.jobs and not self.stopping:
                self._launch(st.pending.popleft())
            if not st.pending:
                self.launchable.pop(i)
            else:
                i += 1

    def _launch(self, inst: Instance) -> None:
        st, step = inst.state, inst.step
        try:
            self.reuse.key(inst, self.run_status)
        except cachekey.DepError as e:
            inst.status, inst.error = "failed", f"deps: {e}"
            self.failed = True
            self.display.counts["failed"] += 1
            self.display.event("failed", inst.label, "BAD DEPS", inst.error)
            return self._settle(inst)
        reused = self.reuse.reused(inst)
        if reused is not None:
            inst.reason, inst.status = reused, "succeeded"
            inst.started = inst.ended = time.time()
            self.display.counts["cached"] += 1
            self.display.event("cached", inst.label, "cached", inst.reason)
            return self._settle(inst)
        if st.mode == "reuse":
            inst.status = "failed"
            inst.error = (f"step '{step.name}' is not selected, and the store has no successful execution "
                          "of it with its current cache key (params, code or inputs changed since?): "
                          f"run it first, e.g. pipespec run {self._rel(self.spec_path)} --only {step.name}")
            self.failed = True
            self.display.counts["failed"] += 1
            self.display.event("failed", inst.label, "NOT IN STORE", inst.error)
            return self._settle(inst)
        inst.reason = self.reuse.why_run(inst)
        inst.status = "running"
        inst.started = time.time()
        self.running += 1
        st.running += 1
        self.display.counts["running"] += 1
        self.display.started(id(inst), inst.label)
        values, artifacts, _ = st.inputs
        inst.inputs = StepInputs(self.params, values, artifacts, item=inst.item, index=inst.index,
                                 run_id=self.run_id, run_date=self.run_date, run_status=self.run_status)
        inst.cancel = self.interrupts.cancel
        base = step.name if inst.index is None else f"{step.name}.{inst.index}"
        inst.stdout = os.path.join(self.log_dir, base + ".out")
        inst.stderr = os.path.join(self.log_dir, base + ".err")
        inst.t0 = time.monotonic()
        self.containment.enter()                  # the first step: into the run's cgroup
        self.attempting.begin(inst)

    # ---------------------------------------------------------------- results

    def _complete(self, inst: Instance, res: StepResult, hashes: dict) -> None:
        st = inst.state
        self.running -= 1
        st.running -= 1
        self.display.counts["running"] -= 1
        self.display.stopped(id(inst))
        inst.ended = time.time()
        inst.status, inst.attempts, inst.exit_code, inst.error = res.status, res.attempts, res.exit_code, res.error
        inst.values, inst.metrics, inst.artifacts, inst.hashes = res.values, res.metrics, res.artifacts, hashes
        if res.duration_s >= 0.05 or not res.ok:
            self._urgent = True
        if res.status in ("failed", "timeout"):
            self.failed = True
        self.display.instance_ended(inst.label, res, inst.reason, inst.stderr, self._rel(inst.stderr))
        self._settle(inst)

    def _settle(self, inst: Instance) -> None:
        st = inst.state
        self._record(inst)
        st.finished += 1
        if st.finished == len(st.instances) and st.running == 0 and not st.pending:
            self._finish_step(st)

    def _record(self, inst: Instance, reason: str | None = None) -> None:
        self.records.record(instance_row(self.run_id, inst, reason))
