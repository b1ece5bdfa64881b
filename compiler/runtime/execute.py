"""Run one step instance: the executor every backend shares (``pipespec exec``, the local runner).

``run_step(pipeline, step, inputs, output_paths)`` evaluates the step's expressions, runs its
command (``run:``) or function (``call:``, in a child process through ``bootstrap.py``),
collects and checks its outputs, writes its artifacts atomically and returns a ``StepResult``.
It retries with the declared backoff when asked, enforces the timeout by killing the step's
whole process group, and never raises for a failure of the step itself.

The phases, shared with the local runner: ``prepare`` (expressions -> an ``Invocation``),
``start`` (spawn it, ``processes``), ``collect`` (outputs checked, artifacts renamed into
place). Which phase comes next — retries, backoff, timeouts, cancel — is the attempt machine's
to say (``attempt.Attempts``); ``run_step`` drives it for one step, blocking, and the runner
drives one per running step from its ``poll()`` loop.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
import shutil
import sys
import tempfile
import threading
import time
from ..record import record, field
from typing import IO, Any, Callable

from .. import ir
from ..expr import EvalError, to_text
from . import attempt as A
from .attempt import (EXIT_CANCELLED, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_OUTPUTS,  # noqa: F401 (re-exported)
                      EXIT_TIMEOUT, NoRetry, Outcome, retry_delay)
from .context import Lookup, StepInputs, spec_dir
from .masking import SECRET_OUTPUT, Masker
from .outputs import OutputError, finish
from .processes import Children, no_inherited_fds, signal_group, spawn

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
KILL_GRACE_S = 5.0


class StepError(Exception):
    """The step cannot be prepared (an expression failed, a name collides). ``no_retry``: why
    another attempt would fail the same way, when it would."""

    def __init__(self, message: str, no_retry: NoRetry | None = None) -> None:
        super().__init__(message)
        self.no_retry = no_retry

    def outcome(self) -> Outcome:
        return Outcome.failed(str(self), no_retry=self.no_retry)


@record
class StepResult:
    step: str
    index: int | None
    status: str                       # succeeded | failed | timeout | cancelled
    exit_code: int
    values: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)      # metrics output -> its JSON object
    artifacts: dict[str, str] = field(default_factory=dict)     # artifact output -> final path
    duration_s: float = 0.0
    attempts: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_json(self) -> dict:
        return {"values": self.values, "metrics": self.metrics, "artifacts": self.artifacts,
                "status": self.status, "exit_code": self.exit_code, "attempts": self.attempts,
                "duration_s": round(self.duration_s, 6), "error": self.error}


@record
class Invocation:
    """A prepared attempt: what to spawn, where, and where its outputs go."""

    step: ir.Step
    argv: list[str]
    env: dict[str, str]
    cwd: str
    final_paths: dict[str, str]       # artifact output -> where it lands on success
    temp_paths: dict[str, str]        # artifact output -> where the step writes it
    temp_dirs: list[str]
    value_file: str | None            # run: steps' $PIPESPEC_OUTPUT
    result_file: str | None           # call: steps' returned dict (JSON)
    job_file: str | None


def step_env(step: ir.Step, lookup: Lookup, inputs: StepInputs, base: dict[str, str]) -> dict[str, str]:
    """The process environment of a step: inherited, then the IR's env, then PIPESPEC_*.

    A secret reaches only the steps that declare it: the variable a secret is read from is
    not inherited by a step whose env: does not read that secret."""
    env = dict(base)
    for sec in lookup.pipeline.secrets:
        if sec.name not in step.secrets:
            env.pop(sec.env, None)
    own: dict[str, str] = {}
    for name, v in step.env:
        own[name] = v.literal if v.template is None else to_text(v.template.render(lookup))
    env.update(own)
    lookup.env = own
    env["PIPESPEC_RUN_ID"] = inputs.run_id
    env["PIPESPEC_STEP"] = step.name
    if inputs.index is not None:
        env["PIPESPEC_ITEM"] = json.dumps(inputs.item, separators=(",", ":"))
        env["PIPESPEC_ITEM_INDEX"] = str(inputs.index)
    return env


def prepare(pipeline: ir.Pipeline, step: ir.Step, inputs: StepInputs, output_paths: dict[str, str],
            scratch: str, base_env: dict[str, str] | None = None,
            warn: Callable[[str], None] | None = None) -> Invocation:
    """Evaluate the step's expressions and lay out temporary output paths."""
    token = f"{os.getpid()}-{_random.token_hex(4)}"
    final = {o.name: output_paths[o.name] for o in step.artifact_outputs}
    temp, tdirs = _temp_layout(final, token)
    for o in step.artifact_outputs:
        if o.type == "dir":
            os.mkdir(temp[o.name])
    lookup = Lookup(pipeline, step, inputs, temp, {}, warn)
    try:
        env = step_env(step, lookup, inputs, os.environ if base_env is None else base_env)
        value_file = result_file = job_file = None
        if step.kind == "run":
            value_file = os.path.join(scratch, f"values-{step.name}-{token}")
            env["PIPESPEC_OUTPUT"] = value_file
            if step.shell is not None:
                values = _shell_values(step, lookup)
                env.update(values)
                argv = _direct_argv(step.shell.script, values) or ["/bin/sh", "-c", step.shell.script]
            else:
                argv = [_text(v, lookup) for v in step.argv or ()]
        else:
            kwargs = {name: _value(v, lookup) for name, v in step.args}
            for o in step.artifact_outputs:
                if o.name in kwargs:
                    raise StepError(f"with: '{o.name}' has the name of an artifact output; the function "
                                    "receives that output's path under this keyword")
                kwargs[o.name] = temp[o.name]
            result_file = os.path.join(scratch, f"result-{step.name}-{token}.json")
            job_file = os.path.join(scratch, f"job-{step.name}-{token}.json")
            with open(job_file, "w", encoding="utf-8") as f:
                json.dump({"spec_dir": spec_dir(pipeline), "module": step.module,
                           "function": step.function, "kwargs": kwargs, "result": result_file}, f)
            argv = [sys.executable, BOOTSTRAP, job_file]
    except EvalError as e:
        _cleanup(tdirs)
        raise StepError(f"an expression of step '{step.name}' failed: {e}", NoRetry.EXPRESSION) from None
    except KeyError as e:
        _cleanup(tdirs)
        raise StepError(f"step '{step.name}' reads {e.args[0]!r}, which has no value here "
                        "(its producer was skipped or failed?)") from None
    except (OSError, StepError):
        _cleanup(tdirs)
        raise
    return Invocation(step, argv, env, spec_dir(pipeline), final, temp, tdirs, value_file,
                      result_file, job_file)


def _shell_values(step: ir.Step, lookup: Lookup) -> dict[str, str]:
    """The variables the shell script reads its ``${{ }}`` values from (``ir.Shell``). A binding
    typed int, float or bool may stand where only such text is safe: its value is checked."""
    out: dict[str, str] = {}
    for name, v in step.shell.bindings:
        value = v.template.render(lookup)
        kind = v.type.kind
        if kind in _SAFE_TYPES and not isinstance(value, _SAFE_TYPES[kind]) or (
                kind != "bool" and kind in _SAFE_TYPES and isinstance(value, bool)):
            raise StepError(f"${{{{ {v.template.exprs[0].source.strip()} }}}} in the run: of step '{step.name}' "
                            f"must be {kind}, and its value is not")
        text = to_text(value)
        if "\0" in text:
            raise StepError(f"the value of ${{{{ {v.template.exprs[0].source.strip()} }}}} in the run: of step "
                            f"'{step.name}' holds a NUL byte, which no command can receive")
        out[name] = text
    return out


_SAFE_TYPES = {"int": int, "float": (int, float), "bool": bool}


# As make does: a command line with no shell syntax is executed directly, saving a shell
# process per step; anything a shell would treat specially goes through /bin/sh -c. A value
# reference "${PIPESPEC_EXPR_n}" outside quotes is its value as (part of) one word, unsplit
# and unglobbed, which is what the direct argv holds too.
_SHELL_CHARS = frozenset("#;\"'*?[]&|<>(){}$`\\!~=%^\n")
_SHELL_WORDS = frozenset(
    ". : [ alias bg break case cd command continue echo eval exec exit export false fc fg for "
    "getopts hash if jobs kill local printf pwd read readonly return set shift test times trap "
    "type ulimit umask unalias unset until wait while function select source".split())
_REFERENCE = re.compile(r'"\$\{(PIPESPEC_EXPR_[0-9]+)\}"')
_BLANKS = re.compile(r"[ \t]+")


def _direct_argv(script: str, values: dict[str, str]) -> list[str] | None:
    pieces = _REFERENCE.split(script) if values else [script]
    if any(c in _SHELL_CHARS for p in pieces[0::2] for c in p):
        return None
    lead = pieces[0].lstrip(" \t")
    command = _BLANKS.split(lead, 1)[0]
    if not command or (len(pieces) > 1 and command == lead) or command in _SHELL_WORDS:
        return None                        # no command, a command made of a value, or a builtin
    words: list[str] = []
    word: list[str] | None = None
    for k, piece in enumerate(pieces):
        if k % 2:
            if piece not in values:
                return None
            word = (word or []) + [values[piece]]
            continue
        for j, chunk in enumerate(_BLANKS.split(piece)):
            if j and word is not None:
                words.append("".join(word))
                word = None
            if chunk:
                word = (word or []) + [chunk]
    if word is not None:
        words.append("".join(word))
    return words


def _text(v: ir.Value, lookup: Lookup) -> str:
    return v.literal if v.template is None else to_text(v.template.render(lookup))


def _value(v: ir.Value, lookup: Lookup) -> Any:
    return v.literal if v.template is None else v.template.render(lookup)


def _temp_layout(final: dict[str, str], token: str) -> tuple[dict[str, str], list[str]]:
    """A temporary sibling folder per destination folder; the file keeps its own name."""
    temp: dict[str, str] = {}
    dirs: dict[str, str] = {}
    for name, path in final.items():
        parent = os.path.dirname(os.path.abspath(path))
        if parent not in dirs:
            os.makedirs(parent, exist_ok=True)
            dirs[parent] = os.path.join(parent, f".pipespec-tmp-{token}")
            os.mkdir(dirs[parent])
        temp[name] = os.path.join(dirs[parent], os.path.basename(path))
    return temp, list(dirs.values())


def _cleanup(dirs: list[str]) -> None:
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def prepared(pipeline: ir.Pipeline, step: ir.Step, inputs: StepInputs, output_paths: dict[str, str],
             scratch: str, base_env: dict[str, str] | None = None,
             warn: Callable[[str], None] | None = None) -> Invocation | Outcome:
    """``prepare``, or the failed outcome of the attempt when it cannot be prepared."""
    try:
        return prepare(pipeline, step, inputs, output_paths, scratch, base_env, warn)
    except StepError as e:
        return e.outcome()
    except OSError as e:
        return cannot_prepare(step, e)


def cannot_prepare(step: ir.Step, e: OSError, no_retry: NoRetry | None = None) -> Outcome:
    return Outcome.failed(f"cannot prepare the outputs of step '{step.name}': {e}", no_retry=no_retry)


def start(inv: Invocation, stdin: int, stdout: int, stderr: int) -> int | Outcome:
    """Spawn the prepared command (its own session): its pid, or why it could not start."""
    argv = inv.argv
    try:
        return spawn(argv, inv.env, inv.cwd, stdin, stdout, stderr)
    except FileNotFoundError:
        return Outcome.failed(f"command not found: {argv[0]}", EXIT_NOT_FOUND)
    except PermissionError:
        return Outcome.failed(f"command not executable: {argv[0]}", EXIT_NOT_EXECUTABLE)
    except ValueError as e:              # "embedded null byte": no exec can carry one
        return Outcome.failed(f"cannot start its command: {e} in its command line or environment",
                              no_retry=NoRetry.CANNOT_EXEC)
    except OSError as e:
        return Outcome.failed(f"internal error: {e!r}", no_retry=NoRetry.INTERNAL)


def collect(inv: Invocation, masker: Masker | None) -> tuple[Outcome, dict, dict, dict]:
    """After a successful command: (outcome, values, metrics, artifact paths), the artifacts
    moved into place (``finish``); nothing when an output is wrong or holds a secret."""
    try:
        values, metrics, artifacts = finish(inv)
    except OutputError as e:
        return Outcome.failed(str(e)), {}, {}, {}
    except (OSError, json.JSONDecodeError) as e:
        return Outcome.failed(f"collecting the outputs failed: {e}"), {}, {}, {}
    leak = masker.output_holding_a_secret(values, metrics) if masker else None
    if leak is not None:
        return Outcome.failed(SECRET_OUTPUT.format(leak), no_retry=NoRetry.SECRET_IN_OUTPUT), {}, {}, {}
    return A.SUCCEEDED, values, metrics, artifacts


def cleanup(inv: Invocation) -> None:
    _cleanup(inv.temp_dirs)
    for p in (inv.value_file, inv.result_file, inv.job_file):
        if p:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def run_step(pipeline: ir.Pipeline, step: ir.Step, inputs: StepInputs, output_paths: dict[str, str],
             *, retry: bool = True, scratch: str | None = None, base_env: dict[str, str] | None = None,
             stdout: IO | int | None = None, stderr: IO | int | None = None,
             cancel: threading.Event | None = None,
             on_retry: Callable[[int, float, str], None] | None = None,
             warn: Callable[[str], None] | None = None, grace: float = KILL_GRACE_S) -> StepResult:
    """Run one step instance to completion (with retries when ``retry``); never raises for it.
    ``stdout``/``stderr``: where the step's output goes (a file or descriptor; default this
    process's own, masked). ``cancel``: set from another thread to stop it (checked 10 times
    a second)."""
    own_scratch = scratch is None
    if own_scratch:
        scratch = tempfile.mkdtemp(prefix="pipespec-")
    t0 = time.monotonic()
    res = StepResult(step.name, inputs.index, "failed", EXIT_OUTPUTS)
    run = _OneStep(pipeline, step, inputs, output_paths, scratch, base_env, warn, res,
                   Masker.for_pipeline(pipeline, os.environ if base_env is None else base_env))
    try:
        outcome, res.attempts = run.drive(A.for_step(step, grace, retry), stdout, stderr, cancel, on_retry)
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    res.status, res.exit_code, res.error = outcome.status.value, outcome.exit_code, outcome.error
    res.duration_s = time.monotonic() - t0
    return res


def _fd(f: IO | int) -> int:
    return f if isinstance(f, int) else f.fileno()


class _OneStep:
    """``run_step``'s driver of the attempt machine: one step, waited for on this thread."""

    def __init__(self, pipeline, step, inputs, output_paths, scratch, base_env, warn, res, masker) -> None:
        self.pipeline, self.step, self.inputs, self.output_paths = pipeline, step, inputs, output_paths
        self.scratch, self.base_env, self.warn, self.res, self.masker = scratch, base_env, warn, res, masker
        self.inv: Invocation | None = None
        self.pid = -1
        self.copiers: list[threading.Thread] = []

    def drive(self, m: A.Attempts, stdout, stderr, cancel, on_retry) -> tuple[Outcome, int]:
        now = time.monotonic
        no_inherited_fds()
        kids = Children()
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if cancel is not None and cancel.is_set():
                m.cancel(now(), 0.0)
            acts = m.begin(now())
            while True:
                nxt = None
                for a in acts:
                    if isinstance(a, A.Signal):
                        signal_group(self.pid, a.sig)
                    elif isinstance(a, A.Sweep):
                        kids.sweep(self.pid, a.grace)
                        kids.settle()                   # leftovers gone before we go on
                        for t in self.copiers:          # one that escaped the group may hold a pipe
                            t.join(timeout=5.0)
                    else:
                        nxt = a
                if m.phase not in (A.Phase.STARTING, A.Phase.RUNNING, A.Phase.COLLECTING):
                    self._end_attempt()
                if isinstance(nxt, A.Done):
                    return self._masked(nxt.outcome), nxt.attempts
                if isinstance(nxt, A.Spawn):
                    got = self._start(stdout, stderr, devnull)
                    if isinstance(got, Outcome):
                        acts = m.not_started(got, now())
                    else:
                        self.pid = got
                        kids.add(got, None)
                        acts = m.spawned(now())
                elif isinstance(nxt, A.Collect):
                    outcome, self.res.values, self.res.metrics, self.res.artifacts = collect(self.inv, self.masker)
                    acts = m.collected(outcome, now())
                elif m.phase is A.Phase.SLEEPING:
                    if isinstance(nxt, A.SleepUntil) and on_retry is not None:
                        why = self._masked(nxt.failure)
                        on_retry(nxt.attempt, nxt.delay, why.error or f"exit {why.exit_code}")
                    acts = self._pause(m, m.due - now(), cancel)
                else:                                   # running: wait for its end or a deadline
                    until = m.wake_at()
                    left = None if until is None else max(0.0, until - now())
                    if cancel is not None:
                        left = 0.1 if left is None else min(left, 0.1)
                    ended = kids.wait(left)
                    if cancel is not None and cancel.is_set() and not m.cancelled:
                        acts = m.cancel(now(), 0.0) + (m.exited(ended[0][1], now()) if ended else [])
                    else:
                        acts = m.exited(ended[0][1], now()) if ended else m.deadline(now())
        finally:
            self._end_attempt()
            kids.close()
            os.close(devnull)

    def _pause(self, m: A.Attempts, delay: float, cancel) -> list:
        if cancel is not None:
            if cancel.wait(max(0.0, delay)):
                return m.cancel(time.monotonic(), 0.0)
        else:
            time.sleep(max(0.0, delay))
        return m.deadline(time.monotonic())

    def _masked(self, o: Outcome) -> Outcome:
        error = self.masker.text(o.error)
        return o if error == o.error else Outcome(o.status, o.exit_code, error, o.no_retry)

    def _start(self, stdout, stderr, devnull: int) -> int | Outcome:
        """Prepare (evaluate, lay out the outputs) and spawn; with a masker, this process's own
        stdout/stderr receive the step's through a masking copy."""
        got = prepared(self.pipeline, self.step, self.inputs, self.output_paths, self.scratch,
                       self.base_env, self.warn)
        if isinstance(got, Outcome):
            return got
        self.inv = got
        fds, close = [], []
        for given, own, inherited in ((stdout, sys.stdout, 1), (stderr, sys.stderr, 2)):
            if given is not None:
                fds.append(_fd(given))
            elif not self.masker:
                fds.append(inherited)             # as Popen's None: this process's own descriptor
            else:
                rd, wr = os.pipe()                # close-on-exec (spawn dups wr onto 1 or 2)
                fds.append(wr)
                close.append(wr)
                src = os.fdopen(rd, "rb")
                dst = getattr(own, "buffer", own)
                t = threading.Thread(target=self._copy, args=(src, dst), daemon=True, name="mask-output")
                self.copiers.append(t)
        try:
            return start(self.inv, devnull, *fds)
        finally:
            for fd in close:              # the child has its copy; EOF once it (and its group) ends
                os.close(fd)
            for t in self.copiers:
                t.start()

    def _copy(self, src, dst) -> None:
        with src:
            self.masker.copy(src, dst)

    def _end_attempt(self) -> None:
        for t in self.copiers:
            if t.is_alive():
                t.join(timeout=5.0)
        self.copiers = []
        if self.inv is not None:
            cleanup(self.inv)
            self.inv = None
