"""``pipespec run --preload``: ``call:`` steps forked from a per-run Python that has already
imported their libraries (``runtime/forkserver.py``), instead of a fresh interpreter each.

A step's fresh Python spends most of a small step importing pandas and scikit-learn again
(0.5-4 s a step here; docs/performance.md). With ``--preload`` the runner starts one server per
distinct (environment, libraries) — the environment its steps get, less what differs per step
(``PIPESPEC_STEP``, the item) — which imports the third-party modules the step's module and
its local modules import (found with ``ast``, top level and inside functions). Each attempt is
then a ``fork`` of that server: its own pid, session and process group, the step's own
environment, working directory, stdin/stdout/stderr, so timeouts, kills and sweeps are the
same as for a spawned step; the runner learns its end from the status socket the server
writes the wait status to (``processes.Children``).

A server is not used (the step is spawned as without ``--preload``) when: the platform has no
``pidfd_open`` (not Linux), its imports started Python threads (a fork would have none of
them), it did not come up within ``READY_S`` or died, or ``MAX_SERVERS`` are already running.
"""

from __future__ import annotations

import ast
import json
import os
import select
import signal
import socket
import sys
import threading

from ..runtime.execute import Invocation
from ..runtime.processes import signal_group, spawn

FORKSERVER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runtime", "forkserver.py")
PER_STEP = ("PIPESPEC_STEP", "PIPESPEC_ITEM", "PIPESPEC_ITEM_INDEX")
MAX_SERVERS = 4          # each holds its libraries in memory (~150-250 MB for pandas + scikit-learn)
READY_S = 120.0          # a server whose imports take longer is given up (the step then imports them itself)
MAX_MESSAGE = 200_000    # an environment larger than this goes by spawn (one datagram per request)
AVAILABLE = hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


class ForkedPid(int):
    """The pid of a forked step, with the socket its wait status will arrive on."""

    status: socket.socket


def third_party_imports(spec_dir: str, module: str) -> list[str]:
    """The modules ``module`` and the local modules it imports (transitively) import, that are
    not files under ``spec_dir``: what a server preloads, in order of appearance."""
    spec_dir = os.path.abspath(spec_dir)
    out: dict[str, None] = {}
    seen: set[str] = set()

    def local(name: str) -> str | None:
        base = os.path.join(spec_dir, *name.split("."))
        for cand in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(cand):
                return cand
        return None

    def walk(name: str) -> None:
        path = local(name)
        if path is None:
            if name.split(".")[0] not in ("__future__", "__main__") and local(name.split(".")[0]) is None:
                out.setdefault(name)
            return
        if path in seen:
            return
        seen.add(path)
        parts = name.split(".")
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), path)
        except (SyntaxError, ValueError, OSError):
            return
        is_pkg = path.endswith("__init__.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    walk(a.name)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                walk(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level:
                pkg = parts if is_pkg else parts[:-1]
                pkg = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                base = ".".join(pkg + ([node.module] if node.module else []))
                if base:
                    walk(base)

    walk(module)
    return list(out)


def _data_env(pipeline) -> frozenset[str]:
    """Variables that are a step's data rather than its setting: those an ``env:`` computes with
    an expression (a secret, a param, the item) and those secrets are read from. A server's
    environment goes without them (so steps differing only there share one); each child gets them."""
    names = {sec.env for sec in pipeline.secrets}
    for step in pipeline.all_steps:
        names.update(n for n, v in step.env if v.template is not None)
    return frozenset(names)


class _Server:
    def __init__(self, pid: int, ctl: socket.socket) -> None:
        self.pid, self.ctl = pid, ctl
        self.lock = threading.Lock()
        self.dead = False


class PythonServers:
    """The run's servers, by key; ``start`` forks a step from one, or says to spawn it."""

    def __init__(self, pipeline, spec_dir: str, log_dir: str, note=None) -> None:
        self.pipeline, self.spec_dir, self.log_dir = pipeline, spec_dir, log_dir
        self.data_env: frozenset[str] | None = None
        self.note = note or (lambda msg: None)   # one line for the user, when a server is not used
        self.servers: dict[tuple, _Server | None] = {}
        self.imports: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.key_locks: dict[tuple, threading.Lock] = {}

    def start(self, inv: Invocation, stdin: int, stdout: int, stderr: int) -> ForkedPid | None:
        """Fork the prepared ``call:`` attempt from its server: its pid, or None to spawn it."""
        if not AVAILABLE or inv.job_file is None:
            return None
        if self.data_env is None:
            self.data_env = _data_env(self.pipeline)
        env = {k: v for k, v in inv.env.items() if k not in PER_STEP and k not in self.data_env}
        module = inv.step.module
        with self.lock:
            if module not in self.imports:
                self.imports[module] = third_party_imports(self.spec_dir, module)
            preload = self.imports[module]
            key = (tuple(sorted(env.items())), tuple(preload))
            klock = self.key_locks.setdefault(key, threading.Lock())
        with klock:                                   # one thread starts a key's server
            if key not in self.servers:
                live = sum(1 for s in self.servers.values() if s is not None)
                self.servers[key] = self._launch(env, preload, len(self.servers)) if live < MAX_SERVERS else None
            server = self.servers[key]
        if server is None or server.dead:
            return None
        msg = json.dumps({"argv": inv.argv, "env": inv.env, "cwd": inv.cwd}).encode()
        if len(msg) > MAX_MESSAGE or b"\\u0000" in msg:
            return None               # spawn refuses a NUL (not retried) where a child would crash
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with server.lock:
                socket.send_fds(server.ctl, [msg], [stdin, stdout, stderr, theirs.fileno()])
            theirs.close()
            mine.settimeout(READY_S)
            got = mine.recv(4096)
            mine.settimeout(None)
            if not got:
                raise OSError("the Python server closed the attempt")
            pid = ForkedPid(json.loads(got)["pid"])
        except (OSError, ValueError, KeyError):
            theirs.close()
            mine.close()
            server.dead = True
            return None
        pid.status = mine
        return pid

    def _launch(self, env: dict[str, str], preload: list[str], n: int) -> _Server | None:
        ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log = os.open(os.path.join(self.log_dir, f"_preload.{n}.err"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        try:
            pid = spawn([sys.executable, FORKSERVER], env, self.spec_dir, theirs.fileno(), log, log)
        except OSError as e:
            self.note(f"--preload: cannot start the Python server ({e}); steps start their own Python")
            ctl.close()
            return None
        finally:
            theirs.close()
            os.close(log)
        server = _Server(pid, ctl)
        try:
            ctl.send(json.dumps({"spec_dir": self.spec_dir, "preload": preload}).encode())
            ready = select.select([ctl], [], [], READY_S)[0]
            reply = json.loads(ctl.recv(1 << 16)) if ready else None
        except (OSError, ValueError):
            reply = None
        if not reply or not reply.get("ready"):
            self.note("--preload: the Python server did not come up (see its log "
                      f"_preload.{n}.err); steps start their own Python")
            self._stop(server)
            return None
        if reply.get("threads"):
            self.note(f"--preload: importing {', '.join(preload[:3])}{'...' if len(preload) > 3 else ''} "
                      f"started Python threads ({', '.join(reply['threads'][:3])}), which a fork would not "
                      "have; steps start their own Python")
            self._stop(server)
            return None
        return server

    def _stop(self, server: _Server) -> None:
        """SIGKILL: a server holds nothing to save, and its interpreter's shutdown with pandas
        and scikit-learn loaded takes 0.3 s or more. Its children are in sessions of their own."""
        server.dead = True
        server.ctl.close()
        signal_group(server.pid, signal.SIGKILL)
        os.waitpid(server.pid, 0)

    def close(self) -> None:
        """End of the run: every server stops (their children were the runner's to stop)."""
        for s in self.servers.values():
            if s is not None and s.pid:
                try:
                    self._stop(s)
                except ChildProcessError:
                    pass
        self.servers.clear()
