#!/usr/bin/env python3
"""Real server binaries from Debian packages, unpacked into the tooling cache (no system-wide
install): ``apt-get download NAME=VERSION`` + ``dpkg-deb -x``. The Pushgateway is the first.

Library:
    from tooling.debs import ensure_binary
    exe = ensure_binary("prometheus-pushgateway")      # Path of usr/bin/prometheus-pushgateway

CLI:
    python tests/tooling/debs.py ensure prometheus-pushgateway

Cache: $PIPESPEC_TOOLING_DIR (else ~/.cache/pipespec-tooling) / deb-NAME-VERSION; a stamp is
written only after a complete unpack, and a lock file serialises builders, as in envs.py.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> (pinned Debian version, the binary inside the package)
DEBS: dict[str, tuple[str, str]] = {
    "prometheus-pushgateway": ("1.5.1-2+b5", "usr/bin/prometheus-pushgateway"),
    "prometheus": ("2.42.0+ds-5+deb12u1", "usr/bin/prometheus"),     # its web UI's JS packages are not needed
}
STAMP = ".pipespec-deb-stamp"


class DebError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("PIPESPEC_TOOLING_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                           "pipespec-tooling"))


def deb_path(name: str) -> Path:
    version = DEBS[name][0]
    return cache_dir() / f"deb-{name}-{version.replace('+', '_')}"


def ensure_binary(name: str, timeout: float = 300) -> Path:
    version, binary = DEBS[name]
    root = deb_path(name)
    exe = root / binary
    if (root / STAMP).exists() and exe.exists():
        return exe
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise DebError("apt-get and dpkg-deb are needed to fetch Debian packages")
    lock = cache_dir() / f"{root.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            if (root / STAMP).exists() and exe.exists():
                return exe
            if root.exists():                    # a half-unpacked one from a killed build
                shutil.rmtree(root)
            with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
                r = subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=tmp, capture_output=True,
                                   text=True, timeout=timeout)
                debs = list(Path(tmp).glob("*.deb"))
                if r.returncode != 0 or len(debs) != 1:
                    raise DebError(f"apt-get download {name}={version} failed: {r.stderr.strip()[-500:]}")
                unpack = Path(tmp) / "root"
                r = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpack)], capture_output=True, text=True,
                                   timeout=timeout)
                if r.returncode != 0 or not (unpack / binary).exists():
                    raise DebError(f"dpkg-deb -x {debs[0].name} failed: {r.stderr.strip()[-500:]}")
                (unpack / STAMP).write_text(f"{name}={version}\n")
                unpack.rename(root)
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return exe


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "ensure" or args[1] not in DEBS:
        print(f"usage: debs.py ensure {'|'.join(DEBS)}", file=sys.stderr)
        return 2
    print(ensure_binary(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
