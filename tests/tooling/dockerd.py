#!/usr/bin/env python3
"""A real Docker daemon of our own, and the base image, for the container tests (no registry).

No image can be pulled on this kind of machine: Docker comes from Debian's packages
(``docker.io``), the base image is built from Debian's package archive with ``debootstrap``
and ``docker import`` (shared/design/integrations.md, "Containers, for real").

Library:
    from tooling.dockerd import Daemon, ensure_base_image
    d = Daemon().start()            # our dockerd: its own data root, exec root and socket
    env = d.env()                   # {"DOCKER_HOST": "unix://<our socket>", "PIPESPEC_DOCKER": <docker>}
    ensure_base_image(d)            # local/debian-python:bookworm, built once, then reused
    d.stop()                        # by its PID, only when this process started it

CLI:
    python tests/tooling/dockerd.py start|stop|base|status

Cache: $PIPESPEC_TOOLING_DIR (else ~/.cache/pipespec-tooling)/docker: ``data`` (images, so they
persist across CI runs), ``exec``, ``docker.sock``, ``dockerd.pid``, ``dockerd.log``. The daemon
has no bridge and no iptables rules (``--bridge=none --iptables=false``): it leaves the host's
network alone and several daemons may coexist; builds and runs use ``--network host``.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BASE_IMAGE = "local/debian-python:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"        # the mirror apt uses here (/etc/apt/sources.list.d)
PACKAGES = ("docker.io", "debootstrap")
DOCKER = "/usr/bin/docker"                            # the client of the docker.io package
DOCKERD = "/usr/sbin/dockerd"
DEBOOTSTRAP = "/usr/sbin/debootstrap"
START_TIMEOUT = 60.0


def system_env(**extra: str) -> dict[str, str]:
    """The environment for the system's own tools (apt-get, debootstrap, dockerd): the caller's,
    with the sbin folders on PATH. debootstrap runs chroot and dockerd runs runc from them, and a
    user's PATH (or CI's ``env -i``) need not have them: debootstrap then fails with "Unable to
    execute target architecture"."""
    have = os.environ.get("PATH", "").split(os.pathsep)
    want = [p for p in ("/usr/local/sbin", "/usr/sbin", "/sbin") if p not in have]
    return {**os.environ, "PATH": os.pathsep.join([p for p in have if p] + want + ["/usr/bin", "/bin"]), **extra}


class DockerError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("PIPESPEC_TOOLING_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                           "pipespec-tooling"))


def home() -> Path:
    return cache_dir() / "docker"


@contextmanager
def _locked(name: str):
    home().mkdir(parents=True, exist_ok=True)
    with open(home() / name, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_packages(timeout: float = 900) -> None:
    """docker.io and debootstrap from the system's package archive (apt-get, once)."""
    if all(os.path.exists(p) for p in (DOCKER, DOCKERD, DEBOOTSTRAP)):
        return
    if os.geteuid() != 0:
        raise DockerError(f"{' and '.join(PACKAGES)} are not installed and this is not root: "
                          f"apt-get install -y {' '.join(PACKAGES)}")
    with _locked("apt.lock"):
        if all(os.path.exists(p) for p in (DOCKER, DOCKERD, DEBOOTSTRAP)):
            return
        env = system_env(DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env=env,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            r2 = subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=timeout)
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env=env,
                               capture_output=True, text=True, timeout=timeout) if r2.returncode == 0 else r2
        if r.returncode != 0:
            raise DockerError(f"apt-get install {' '.join(PACKAGES)} failed: {r.stderr.strip()[-800:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                                          # a zombie of ours is no daemon
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Daemon:
    """Our dockerd. ``start`` reuses one already serving our socket (started by an earlier
    session that was killed, or by a parallel worker) and then does not own it."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else home()
        self.socket = self.root / "docker.sock"
        self.pidfile = self.root / "dockerd.pid"
        self.log = self.root / "dockerd.log"
        self.pid: int | None = None
        self.owned = False
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}", "PIPESPEC_DOCKER": DOCKER}

    def docker(self, *args: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        env = dict(os.environ, **self.env())
        env.pop("DOCKER_CONTEXT", None)
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise DockerError(f"docker {' '.join(args[:3])} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
        return r

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self.docker("version", "--format", "{{.Server.Version}}", timeout=15, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self) -> "Daemon":
        ensure_packages()
        with _locked("dockerd.lock"):
            old = self._recorded_pid()
            if old and _alive(old) and self.answers():
                self.pid, self.owned = old, False
                return self
            if old and _alive(old):               # ours, but not answering: stop it first
                self._stop_pid(old)
            for p in (self.socket, self.pidfile):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            (self.root / "exec").mkdir(parents=True, exist_ok=True)
            argv = [DOCKERD, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                    "--host", f"unix://{self.socket}", "--pidfile", str(self.pidfile),
                    "--bridge=none", "--iptables=false", "--ip-masq=false", "--storage-driver", "overlay2"]
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True, env=system_env())
            self.pid, self.owned = self.proc.pid, True
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.answers():
                    return self
                time.sleep(0.5)
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            self.stop()
            raise DockerError(f"dockerd did not start within {START_TIMEOUT:g} s (log {self.log}):\n{tail}")

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _stop_pid(self, pid: int, grace: float = 20) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    return
            elif not _alive(pid):
                return
            time.sleep(0.2)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self.proc is not None and self.proc.pid == pid:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the daemon by its PID when we started it (its containers, all ours, removed first)."""
        if not self.owned or self.pid is None:
            return
        try:
            ids = self.docker("ps", "-aq", timeout=30, check=False).stdout.split()   # our daemon's, all
            if ids:
                self.docker("rm", "-f", *ids, timeout=60, check=False)
        except (subprocess.TimeoutExpired, OSError):
            pass
        self._stop_pid(self.pid)
        self.pid, self.owned = None, False
        self._unmount_leftovers()

    def _unmount_leftovers(self) -> None:
        """dockerd leaves its network namespace bound under the exec root (exec/netns/default)."""
        prefix = str(self.root / "exec") + "/"
        try:
            with open("/proc/mounts") as f:
                points = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        except OSError:
            return
        for point in sorted(points, reverse=True):
            subprocess.run(["umount", point], capture_output=True, timeout=30)

    def has_image(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, timeout=30, check=False).returncode == 0


def ensure_base_image(d: Daemon, ref: str = BASE_IMAGE, timeout: float = 900) -> str:
    """The base image from Debian's archive: debootstrap (minbase + python3, venv, pip), then
    ``docker import``. Built once; present in the daemon's data root afterwards."""
    if d.has_image(ref):
        return ref
    with _locked("base-image.lock"):
        if d.has_image(ref):
            return ref
        with tempfile.TemporaryDirectory(dir=home(), prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            r = subprocess.run([DEBOOTSTRAP, "--variant=minbase", "--include=python3,python3-venv,python3-pip",
                                "bookworm", str(rootfs), DEBIAN_MIRROR], capture_output=True, text=True,
                               timeout=timeout, env=system_env())
            if r.returncode != 0:
                raise DockerError(f"debootstrap failed: {(r.stderr or r.stdout).strip()[-800:]}")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            try:
                d.docker("import", "--change", 'CMD ["python3"]', "-", ref, stdin=tar.stdout, timeout=timeout)
            finally:
                tar.stdout.close()
                tar.wait(timeout=60)
    return ref


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in ("start", "stop", "base", "status"):
        print("usage: dockerd.py start|stop|base|status", file=sys.stderr)
        return 2
    d = Daemon()
    if args[0] == "status":
        pid = d._recorded_pid()
        print(json.dumps({"pid": pid, "alive": bool(pid and _alive(pid)), "answers": d.answers(),
                          **d.env()}))
        return 0
    if args[0] == "stop":
        pid = d._recorded_pid()
        if pid and _alive(pid):
            d.pid, d.owned = pid, True
            d.stop()
        return 0
    d.start()
    d.owned = False                               # the CLI leaves it running: `dockerd.py stop` ends it
    if args[0] == "base":
        t0 = time.monotonic()
        print(ensure_base_image(d), f"{time.monotonic() - t0:.1f}s")
    print(json.dumps(d.env()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
