"""Run one step instance: the executor every backend shares (``pipespec exec``, the local runner).

``run_step(pipeline, step, inputs, output_paths)`` evaluates the step's expressions, runs its
command (``run:``) or function (``call:``, in a child process through ``bootstrap.py``),
collects and checks its outputs, writes its artifacts atomically and returns a ``StepResult``.
It retries with the declared backoff when asked, enforces the timeout by killing the step's
whole process group, and never raises for a failure of the step itself.

Three phases, so that callers can share them: ``prepare`` (expressions -> an ``Invocation``),
``attempt`` (spawn, wait, time out or cancel), ``finish`` (outputs checked, artifacts renamed
into place). The local runner calls ``run_step`` from its worker threads.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from .. import ir
from ..expr import EvalError, to_text
from ..files import special_kind
from .context import Lookup, StepInputs, spec_dir
from .masking import SECRET_OUTPUT, Masker
from .outputs import OutputError, collect_values, read_metrics_file, read_output_file

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
KILL_GRACE_S = 5.0

# exit codes the executor uses for its own verdicts (a failing command keeps its own)
EXIT_OUTPUTS = 1          # the step ran but its outputs are wrong, or an expression failed
EXIT_NOT_FOUND = 127      # the command or the module:function does not exist
EXIT_TIMEOUT = 124        # as timeout(1)
EXIT_CANCELLED = 130      # as a shell after Ctrl-C


class StepError(Exception):
    """The step cannot be prepared (an expression failed, a name collides)."""


@dataclass
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


@dataclass
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


def retry_delay(retries: ir.Retries, attempt: int) -> float:
    """Delay before retry number ``attempt`` (0 for the first retry)."""
    return min(retries.delay_s * retries.backoff ** attempt, retries.max_delay_s)


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
        raise StepError(f"an expression of step '{step.name}' failed: {e}") from None
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


def kill_group(proc: subprocess.Popen, grace: float = KILL_GRACE_S) -> None:
    """SIGTERM the step's process group, then SIGKILL whatever is left after ``grace``."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while proc.returncode is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)


def _sweep_group(pgid: int, grace: float) -> None:
    """After the SIGTERM of an ended step's group: SIGKILL what is still in it after ``grace``
    (a process that ignores SIGTERM), polling so that a group that empties is let go at once."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() >= deadline:
            _signal_group(pgid, signal.SIGKILL)
            return
        time.sleep(0.02)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def attempt(inv: Invocation, timeout_s: float | None, stdout: IO | int | None = None,
            stderr: IO | int | None = None, cancel: threading.Event | None = None,
            on_start: Callable[[subprocess.Popen], None] | None = None,
            on_end: Callable[[subprocess.Popen], None] | None = None,
            grace: float = KILL_GRACE_S, masker: Masker | None = None) -> tuple[str, int, str | None]:
    """Spawn the prepared command in a new session and wait: (status, exit code, error).
    With a ``masker``, output that would go to this process's own stdout/stderr passes
    through it (secrets become ***)."""
    if cancel is not None and cancel.is_set():
        return "cancelled", EXIT_CANCELLED, "cancelled before it started"
    piped = []
    if masker:
        if stdout is None:
            stdout = subprocess.PIPE
            piped.append(("stdout", sys.stdout))
        if stderr is None:
            stderr = subprocess.PIPE
            piped.append(("stderr", sys.stderr))
    try:
        proc = subprocess.Popen(inv.argv, cwd=inv.cwd, env=inv.env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr, start_new_session=True)
    except FileNotFoundError:
        return "failed", EXIT_NOT_FOUND, f"command not found: {inv.argv[0]}"
    except PermissionError:
        return "failed", 126, f"command not executable: {inv.argv[0]}"
    except ValueError as e:              # "embedded null byte": no exec can carry one
        return "failed", EXIT_OUTPUTS, f"cannot start its command: {e} in its command line or environment"
    copiers = []
    for name, dst in piped:
        out = getattr(dst, "buffer", dst)
        t = threading.Thread(target=masker.copy, args=(getattr(proc, name), out), daemon=True,
                             name=f"mask-{name}")
        t.start()
        copiers.append(t)
    if on_start is not None:
        on_start(proc)
    timer = None
    fired: list[bool] = []
    if timeout_s:
        def expire() -> None:
            fired.append(True)
            kill_group(proc, grace)
        timer = threading.Timer(timeout_s, expire)
        timer.daemon = True
        timer.start()
    try:
        rc = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if on_end is not None:
            on_end(proc)
    if fired or (cancel is not None and cancel.is_set()):
        if timer is not None:
            timer.join()                 # its SIGKILL of the group must not be lost at exit
        kill_group(proc, 0.0)            # the leader is gone: what is left of the group dies now
    else:
        # leftovers of the step (background processes) go with it, as on a CI runner
        _signal_group(proc.pid, signal.SIGTERM)
        _sweep_group(proc.pid, grace)
    for t in copiers:                    # a leftover that escaped the group may hold the pipe
        t.join(timeout=5.0)
    return verdict(inv, rc, bool(fired), cancel is not None and cancel.is_set(), timeout_s)


def verdict(inv: Invocation, rc: int, timed_out: bool, cancelled: bool,
            timeout_s: float | None) -> tuple[str, int, str | None]:
    """(status, exit code, error) of an attempt whose process ended with ``rc`` (Popen's
    convention: negative for a signal). Shared by ``attempt`` and the local runner."""
    if timed_out:
        return "timeout", EXIT_TIMEOUT, f"timed out after {_secs(timeout_s)}; its process group was killed"
    if cancelled:
        return "cancelled", EXIT_CANCELLED, "cancelled"
    if rc != 0:
        if rc < 0:
            return "failed", 128 - rc, f"killed by signal {-rc}"
        return "failed", rc, None if rc != 3 or inv.job_file is None else "call: target not found"
    return "succeeded", 0, None


def _secs(s: float) -> str:
    return f"{s:g}s"


def finish(inv: Invocation) -> tuple[dict, dict, dict]:
    """After a successful command: (values, metrics, artifact paths), artifacts moved into place."""
    step = inv.step
    if inv.value_file is not None:
        given = read_output_file(inv.value_file)
        values, inline = collect_values(step, given, from_text=True)
    else:
        given = {}
        if inv.result_file is not None and os.path.exists(inv.result_file):
            with open(inv.result_file, encoding="utf-8") as f:
                given = json.load(f)
        values, inline = collect_values(step, given, from_text=False)
    for o in step.artifact_outputs:
        refuse_links(o, inv.temp_paths[o.name])
    metrics: dict[str, dict] = {}
    for o in step.artifact_outputs:
        path = inv.temp_paths[o.name]
        if o.type == "metrics":
            if o.name in inline:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
                with open(fd, "w", encoding="utf-8") as f:
                    json.dump(inline[o.name], f, indent=2, sort_keys=True)
                    f.write("\n")
            metrics[o.name] = read_metrics_file(o.name, path)
        elif o.type == "dir":
            if not os.path.isdir(path):
                raise OutputError(f"output '{o.name}' (dir) is not a folder any more at {path}")
        elif o.type in ("file",) and not os.path.isfile(path):
            raise OutputError(f"the step did not write output '{o.name}' (file): nothing at {path}")
        elif not os.path.exists(path):
            raise OutputError(f"the step did not write output '{o.name}' ({o.type}): nothing at {path}")
    for o in step.artifact_outputs:
        move_into_place(inv.temp_paths[o.name], inv.final_paths[o.name])
    return values, metrics, dict(inv.final_paths)


def refuse_links(o: ir.Output, path: str) -> None:
    """An artifact is regular files and folders written at its path, nothing else: a symbolic
    link (to anywhere), a FIFO, a socket or a device — the output itself or anything inside a
    ``dir`` output — fails the step, naming it. Nothing is followed, read or changed, so a link
    to a file outside the store leaves that file as it was (mode, content, link count)."""
    def refuse(rel: str, st: os.stat_result, where: str) -> None:
        if stat.S_ISLNK(st.st_mode):
            try:
                to = f" (to {os.readlink(where)})"
            except OSError:
                to = ""
            raise OutputError(f"output '{o.name}' ({o.type}): '{rel}' is a symbolic link{to}; an output must "
                              "be regular files and folders written at its path: copy the data there "
                              "(cp, not ln -s)")
        raise OutputError(f"output '{o.name}' ({o.type}): '{rel}' is {special_kind(st.st_mode)}; an output must be "
                          "regular files and folders")

    parent = os.path.dirname(path)
    if not stat.S_ISDIR(os.lstat(parent).st_mode):         # the step's temporary folder, swapped
        raise OutputError(f"output '{o.name}': its folder {parent} was replaced by something that is not a folder")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return                                              # reported below as not written
    if stat.S_ISREG(st.st_mode):
        return
    if not stat.S_ISDIR(st.st_mode):
        refuse(o.name, st, path)
    stack = [(path, o.name)]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                est = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(est.st_mode):
                    stack.append((e.path, f"{rel}/{e.name}"))
                elif not stat.S_ISREG(est.st_mode):
                    refuse(f"{rel}/{e.name}", est, e.path)


def move_into_place(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` atomically; a folder already at ``dst`` is swapped out first."""
    if os.path.isdir(dst) and not os.path.islink(dst):
        old = f"{dst}.old-{_random.token_hex(4)}"
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


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
             on_start: Callable[[subprocess.Popen], None] | None = None,
             on_end: Callable[[subprocess.Popen], None] | None = None,
             on_retry: Callable[[int, float, str], None] | None = None,
             warn: Callable[[str], None] | None = None, grace: float = KILL_GRACE_S) -> StepResult:
    """Run one step instance to completion (with retries when ``retry``); never raises for it."""
    own_scratch = scratch is None
    if own_scratch:
        scratch = tempfile.mkdtemp(prefix="pipespec-")
    t0 = time.monotonic()
    limit = step.retries.limit if retry else 0
    res = StepResult(step.name, inputs.index, "failed", EXIT_OUTPUTS)
    masker = Masker.for_pipeline(pipeline, os.environ if base_env is None else base_env)
    try:
        for n in range(limit + 1):
            res.attempts = n + 1
            status, code, error = _one_attempt(pipeline, step, inputs, output_paths, scratch, base_env,
                                               stdout, stderr, cancel, on_start, on_end, warn, grace, res,
                                               masker)
            error = masker.text(error)
            res.status, res.exit_code, res.error = status, code, error
            if status in ("succeeded", "cancelled") or n == limit:
                break
            if error and error.startswith("an expression"):
                break                                  # evaluating again gives the same answer
            delay = retry_delay(step.retries, n)
            if on_retry is not None:
                on_retry(n + 1, delay, error or f"exit {code}")
            if cancel is not None:
                if cancel.wait(delay):
                    res.status, res.exit_code, res.error = "cancelled", EXIT_CANCELLED, "cancelled"
                    break
            else:
                time.sleep(delay)
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    res.duration_s = time.monotonic() - t0
    return res


def _one_attempt(pipeline, step, inputs, output_paths, scratch, base_env, stdout, stderr, cancel,
                 on_start, on_end, warn, grace, res: StepResult,
                 masker: Masker | None = None) -> tuple[str, int, str | None]:
    try:
        inv = prepare(pipeline, step, inputs, output_paths, scratch, base_env, warn)
    except StepError as e:
        return "failed", EXIT_OUTPUTS, str(e)
    except OSError as e:
        return "failed", EXIT_OUTPUTS, f"cannot prepare the outputs of step '{step.name}': {e}"
    try:
        status, code, error = attempt(inv, step.timeout_s, stdout, stderr, cancel, on_start, on_end, grace,
                                      masker)
        if status != "succeeded":
            return status, code, error
        try:
            res.values, res.metrics, res.artifacts = finish(inv)
        except OutputError as e:
            return "failed", EXIT_OUTPUTS, str(e)
        except (OSError, json.JSONDecodeError) as e:
            return "failed", EXIT_OUTPUTS, f"collecting the outputs failed: {e}"
        leak = masker.output_holding_a_secret(res.values, res.metrics) if masker else None
        if leak is not None:
            res.values, res.metrics, res.artifacts = {}, {}, {}
            return "failed", EXIT_OUTPUTS, SECRET_OUTPUT.format(leak)
        return "succeeded", 0, None
    finally:
        cleanup(inv)
