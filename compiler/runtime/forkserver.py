"""A Python that has imported the ``call:`` steps' libraries and forks a child per step attempt
(``pipespec run --preload``; the runner's side is ``pipespec.runner.pyserver``).

Started by the runner as ``python forkserver.py`` with a ``SOCK_SEQPACKET`` socket as its fd 0,
in the spec's folder, with the environment its steps will have (their own ``PIPESPEC_STEP``
and item aside). Standard library only and run by path, as ``bootstrap.py``: the children
import nothing of pipespec. The messages (JSON):

- runner -> server, first: ``{"spec_dir": D, "preload": [module, ...]}``; the server imports
  each (one that fails is left for the step to meet) and answers ``{"ready": true, "threads":
  [names]}``: the Python threads those imports started (a child of a fork has none of them, so
  the runner does not fork from a server that has any).
- runner -> server, per attempt: ``{"argv": [python, bootstrap.py, JOB], "env": {...}, "cwd": C}``
  with four descriptors: the step's stdin, stdout, stderr and a status socket. The server forks;
  the child starts a new session (its own process group), takes the three as 0, 1 and 2, goes to
  ``cwd``, takes ``env`` as its environment and runs ``bootstrap.main`` — what a fresh
  ``python bootstrap.py JOB`` would do, without the interpreter start and the imports. On the
  status socket the server sends ``{"pid": P}``, and, once it reaped the child, ``{"status": W}``
  (the raw wait status).
- End of file on fd 0: the server exits (its children are the runner's to stop).

What a child shares with its siblings: what the preloaded libraries did at import (their
module state, native thread pools, the hash seed when ``PYTHONHASHSEED`` is not set). The
step's own module is imported fresh in each child, numpy's global random generator is
re-seeded (Python's ``random`` re-seeds itself after a fork). See docs/runner.md.
"""

import importlib
import importlib.util
import json
import os
import select
import socket
import sys
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_bootstrap():
    """bootstrap.py as a private module (not in sys.modules: a user module may be named so)."""
    spec = importlib.util.spec_from_file_location("_pipespec_bootstrap", os.path.join(_HERE, "bootstrap.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _send(sock, obj):
    sock.send(json.dumps(obj).encode())


def _preload(names):
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:            # the step meets the same failure and reports it
            pass


def main():
    boot = _load_bootstrap()
    ctl = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    first = ctl.recv(1 << 20)
    if not first:
        return 0
    config = json.loads(first)
    sys.path[0] = config["spec_dir"]     # as bootstrap.py: user modules, not ours
    _preload(config["preload"])
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    _send(ctl, {"ready": True, "threads": others})
    if others:
        return 0                         # the runner spawns these steps itself
    poller = select.poll()
    poller.register(ctl, select.POLLIN)
    kids = {}                            # pidfd -> (pid, status socket)
    while True:
        for fd, _ in poller.poll():
            if fd != ctl.fileno():
                pid, status = kids.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, w = os.waitpid(pid, 0)
                try:
                    _send(status, {"status": w})
                except OSError:
                    pass                 # the runner gave up on it
                status.close()
                continue
            try:
                msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
            except OSError:
                msg, fds = b"", []
            if not msg:
                return 0                 # the runner is done (or gone)
            if len(fds) != 4:
                for x in fds:
                    os.close(x)
                continue
            req = json.loads(msg)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                mine = [ctl.fileno(), *kids, *(s.fileno() for _, s in kids.values())]
                return _child(boot, req, fds, mine)
            for x in fds[:3]:
                os.close(x)
            status = socket.socket(fileno=fds[3])
            try:
                _send(status, {"pid": pid})
                pidfd = os.pidfd_open(pid)
            except OSError:
                status.close()
                continue
            poller.register(pidfd, select.POLLIN)
            kids[pidfd] = (pid, status)


def _child(boot, req, fds, mine):
    """In the forked child: become the step's process, then run it as bootstrap.py would."""
    for fd in mine:
        os.close(fd)
    os.setsid()
    for i in range(3):
        os.dup2(fds[i], i)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = list(req["argv"][1:])
    importlib.invalidate_caches()        # files a step wrote since the server started
    rnd = sys.modules.get("numpy.random")
    if rnd is not None:
        rnd.seed()                       # else every child draws the same "random" numbers
    return boot.main(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
