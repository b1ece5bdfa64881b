"""Start a prepared step command with ``os.posix_spawn``: what the local runner uses.

``subprocess.Popen`` costs ~0.8 ms a spawn here and holds the GIL while it forks; glibc's
``posix_spawn`` (a vfork) costs ~0.4 ms and returns once the child has exec'd, so a runner can
start every step from its main thread. The child is set up as ``attempt()`` sets it up with
Popen: a new session (its own process group, for killing grandchildren), stdin from
/dev/null, stdout/stderr to the given descriptors, SIGPIPE and SIGXFSZ back to their default
(Python ignores them; Popen's ``restore_signals`` resets them too), no other descriptor
inherited (Python opens everything close-on-exec). Exec failures raise as with Popen:
``FileNotFoundError`` (not on PATH), ``PermissionError`` (not executable).
"""

from __future__ import annotations

import os
import signal
import threading

_DEFAULT_SIGNALS = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))
_CWD_LOCK = threading.Lock()      # the process has one working directory: see spawn()


def spawn(argv: list[str], env: dict[str, str], cwd: str, stdin: int, stdout: int, stderr: int) -> int:
    """Start ``argv`` in ``cwd`` with ``env``; the child's pid (reap it with ``os.waitpid``)."""
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
               (os.POSIX_SPAWN_DUP2, stderr, 2)]
    exe = argv[0]
    if "/" in exe:
        start = os.posix_spawn
    elif env.get("PATH") == os.environ.get("PATH"):
        start = os.posix_spawnp            # glibc searches the PATH of *this* process: the same
    else:
        exe, start = _which(exe, env), os.posix_spawn
    kw = dict(file_actions=actions, setsid=True, setsigdef=_DEFAULT_SIGNALS)
    # posix_spawn has no working-directory action (before glibc 2.29, and Python exposes none):
    # the parent changes directory around the spawn, under a lock, since spawning threads
    # share one directory. Usually (`pipespec run` in the spec's folder) no change is needed
    # and spawns run in parallel; only a spawn that changes directory ever does so, under the
    # lock, so a directory seen under the lock is the real one. Every path the runner's
    # threads use is absolute, so nothing else notices the moment in another directory.
    with _CWD_LOCK:
        try:
            here = os.getcwd()
        except FileNotFoundError:           # our own directory was deleted
            here = None
        if here != cwd:
            back = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.chdir(cwd)
                return start(exe, argv, env, **kw)
            finally:
                os.fchdir(back)
                os.close(back)
    return start(exe, argv, env, **kw)


def _which(name: str, env: dict[str, str]) -> str:
    """``name`` on the step's own PATH (its env: may set PATH), as execvp would find it."""
    denied = None
    for d in os.get_exec_path(env):
        path = os.path.join(d, name)
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return path
            denied = path
    if denied is not None:
        raise PermissionError(13, "Permission denied", denied)
    raise FileNotFoundError(2, "No such file or directory", name)
