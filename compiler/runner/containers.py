"""``pipespec run --containers``: each step attempt in ``docker run``, in the step's ``image:``
(else the spec's own image, ``pipespec image``), as close to a plain process as a container gets.

- the spec's folder and the run store (artifacts, scratch files, inputs of earlier runs) are
  bind-mounted at the same paths, the working directory is the same, the user is the runner's;
- the environment is the step's own: every variable the plain process would get is passed by
  NAME (``--env NAME``: docker reads the value from its own environment, which is the step's),
  so no value — a secret least of all — is on a command line; the host-bound ones (PATH,
  HOME, PYTHONPATH, ...) stay out unless the step's ``env:`` sets them;
- ``--init`` (a PID 1 that forwards signals), ``--rm``, a ``--name`` per attempt and the label
  ``org.pipespec.run=<run id>``; every signal the attempt machine sends the docker client
  (timeout, Ctrl-C) is also sent with ``docker kill --signal``, and when the attempt ends
  ``docker rm --force`` removes whatever is left: no container outlives its attempt;
- ``--network host``: localhost is the host's, as for a plain process.

Not with the per-run fork server: a container step is always its own ``docker run``.
docs/containers.md.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import signal
import subprocess
import threading

from ..runtime.attempt import NoRetry, Outcome
from ..runtime.execute import BOOTSTRAP, start

RUN_LABEL = "org.pipespec.run"
# variables of the runner's own machine that would break or mislead a process in the image
HOST_BOUND = frozenset({"PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", "TMPDIR", "VIRTUAL_ENV",
                        "PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE", "PYTHONSTARTUP", "PYTHONUSERBASE",
                        "LD_LIBRARY_PATH", "LD_PRELOAD", "PIPESPEC_DOCKER", "PIPESPEC_TOOLING_DIR",
                        "PIP_FIND_LINKS", "TERM", "SSH_AUTH_SOCK", "DISPLAY", "XDG_RUNTIME_DIR"})
_NAME_OK = re.compile(r"[^a-zA-Z0-9_.-]+")


def _mount(path: str) -> str:
    """A ``--mount`` value binding ``path`` to itself (CSV, as docker parses it: a comma or a
    quote in the path is quoted, not syntax)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["type=bind", f"source={path}", f"target={path}"])
    return buf.getvalue()


class Containers:
    """The container launcher of one run: which image each step uses, and the live containers."""

    def __init__(self, docker: list[str], images: dict[str, str], mounts: list[str]) -> None:
        self.docker = docker
        self.images = images                    # step name -> image
        self.mounts = mounts                    # folders bound at the same path
        self.names: dict[object, str] = {}      # instance -> its live container's name
        self.killers: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def argv(self, inv, name: str) -> list[str] | Outcome:
        step = inv.step
        argv = list(inv.argv)
        if step.kind == "call" and len(argv) >= 2 and argv[1] == BOOTSTRAP:
            argv = ["python3", "-m", "pipespec.runtime.bootstrap", *argv[2:]]
        own = {n for n, _ in step.env}
        names = sorted(k for k in inv.env if (k not in HOST_BOUND and not k.startswith("DOCKER_")) or k in own)
        for p in self.mounts + [inv.cwd]:
            if "\n" in p or "\r" in p:
                return Outcome.failed(f"the folder {p!r} cannot be bind-mounted into a container (a newline in "
                                      "its path)", no_retry=NoRetry.CANNOT_EXEC)
        out = [*self.docker, "run", "--rm", "--init", "--name", name, "--label", f"{RUN_LABEL}={inv.env.get('PIPESPEC_RUN_ID', '')}",
               "--network", "host", "--user", f"{os.getuid()}:{os.getgid()}", "--workdir", inv.cwd]
        for p in dict.fromkeys(self.mounts):
            out += ["--mount", _mount(p)]
        for k in names:
            out.append(f"--env={k}")
        out += ["--entrypoint", argv[0], self.images[step.name], *argv[1:]]
        return out

    def start(self, inst, inv, stdin: int, stdout: int, stderr: int) -> int | Outcome:
        """``docker run`` of the attempt (its own session, as any step): the docker client's pid."""
        name = "pipespec-" + _NAME_OK.sub("-", f"{inv.step.name}-{secrets.token_hex(6)}")
        got = self.argv(inv, name)
        if isinstance(got, Outcome):
            return got
        container_inv = _Launch(got, inv.env, inv.cwd)
        pid = start(container_inv, stdin, stdout, stderr)
        if not isinstance(pid, Outcome):
            with self.lock:
                self.names[inst] = name
        return pid

    def signal(self, inst, sig: int) -> None:
        """The machine's signal, to the container too (the client may die before it forwards)."""
        name = self.names.get(inst)
        if name is None:
            return
        signame = signal.Signals(sig).name.removeprefix("SIG")
        self.killers.append(subprocess.Popen([*self.docker, "kill", "--signal", signame, name],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, start_new_session=True))

    def ended(self, inst) -> None:
        """The attempt is over: its container, if still there, is removed (killed first)."""
        with self.lock:
            name = self.names.pop(inst, None)
        for k in self.killers:
            try:
                k.wait(timeout=30)
            except subprocess.TimeoutExpired:
                k.kill()
                k.wait()
        self.killers.clear()
        if name is not None:
            try:
                subprocess.run([*self.docker, "rm", "--force", name], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                pass


class _Launch:
    """What ``runtime.execute.start`` needs of an invocation: the docker client's argv, env, cwd."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd


def containers_for(compiled, runner, args) -> Containers:
    """The launcher of ``pipespec run --containers``, after the checks that need Docker: the
    client and daemon answer (E612), every image is in the local daemon (E615: nothing is
    pulled), a ``call:`` step's image was made by ``pipespec image`` (W611). Diagnostics are
    printed; ``cli.Failed`` on an error."""
    import sys

    from ..cli import Failed
    from ..commands.common import print_diagnostics
    from ..containers import LABEL, ImageError, check_reference, docker_ready, image_present
    from ..diagnostics import Diagnostic

    pipe = compiled.pipeline
    diags: list[Diagnostic] = []
    images: dict[str, str] = {}
    try:
        default = args.image
        if default:
            check_reference(default, "--image")
        elif any(not s.image for s in pipe.all_steps):
            from ..commands.image import spec_context

            default = spec_context(pipe.source, None, True)[1].tag
        for s in pipe.all_steps:
            images[s.name] = check_reference(s.image, f"the image of step '{s.name}'") if s.image else default
        docker = docker_ready()
    except ImageError as e:
        diags.append(e.diagnostic(pipe.span))
        docker = None
    if docker is not None:
        seen: dict[str, dict | None] = {}
        for s in pipe.all_steps:
            ref = images[s.name]
            if ref not in seen:
                seen[ref] = image_present(docker, ref)
            labels = seen[ref]
            span = s.span_of("image") if s.image else s.span
            if labels is None:
                diags.append(Diagnostic("E615", f"step '{s.name}' runs in {ref}, which the local Docker does not "
                                                "have (run --containers pulls nothing)", span,
                                        "build it: pipespec image SPEC (its tag: --print-tag), or docker build/pull "
                                        "it first"))
            elif s.kind == "call" and LABEL not in labels:
                diags.append(Diagnostic("W611", f"call: step '{s.name}' runs in {ref}, which pipespec image did not "
                                                "make: it needs python3 and pipespec in it", span,
                                        "build the step image with pipespec image SPEC"))
    if diags:
        _print(pipe, diags, print_diagnostics, sys.stderr)
        if any(d.is_error for d in diags):
            raise Failed(1)
    mounts = [runner.spec_dir]
    if not runner.store_dir.startswith(runner.spec_dir.rstrip(os.sep) + os.sep):
        mounts.append(runner.store_dir)
    return Containers(docker, images, mounts)


def _print(pipe, diags, print_diagnostics, stream) -> None:
    from ..frontend import Result

    with open(pipe.source, encoding="utf-8", errors="replace") as f:
        text = f.read()
    print_diagnostics([Result(pipe.source, text, diags, pipe)], stream=stream)
