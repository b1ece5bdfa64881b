#!/usr/bin/env python3
"""Isolated, cached environments holding the REAL target tools (Airflow, kfp, GitHub checkers).

Library:
    from tests.tooling.envs import ensure, env_python, env_bin
    path = ensure("kfp")                      # Path of the venv (built once, then reused)
    path = ensure("airflow", with_pipespec=True)   # + pipespec installed editable (--no-deps)

CLI:
    python tests/tooling/envs.py ensure airflow|airflow-k8s|kfp|github|mlflow|all [--with-pipespec]
    python tests/tooling/envs.py path NAME        # where it would live (no build)
    python tests/tooling/envs.py key NAME

Cache dir: $PIPESPEC_TOOLING_DIR, else ~/.cache/pipespec-tooling. Each env lives in
<cache>/<name>-<key16>, where key = sha256(requirements file(s) + python X.Y + FORMAT): change a
pin and a new env is built; an unchanged one is reused. A stamp file is written only after a
successful install; a fcntl.flock lock file serialises builders (pytest-xdist workers).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
FORMAT = "1"  # bump to force a rebuild of every env after changing how envs are built
STAMP = ".pipespec-tooling-stamp.json"
PIPESPEC_STAMP = ".pipespec-editable-stamp.json"

# name -> files whose content defines the env (first: pip requirements; npm dir optional)
ENVS: dict[str, dict] = {
    "airflow": {"requirements": HERE / "requirements-airflow.txt"},
    "airflow-k8s": {"requirements": HERE / "requirements-airflow-k8s.txt"},
    "kfp": {"requirements": HERE / "requirements-kfp.txt"},
    "kfp-docker": {"requirements": HERE / "requirements-kfp-docker.txt"},   # kfp.local.DockerRunner
    "github": {"requirements": HERE / "requirements-github.txt", "npm": HERE / "github"},
    "mlflow": {"requirements": HERE / "requirements-mlflow.txt"},   # `mlflow server` (full package)
}
DEFAULT_ALL = ("airflow", "kfp", "github")
NPM_FILES = ("package.json", "package-lock.json")


class EnvError(RuntimeError):
    pass


def cache_dir() -> Path:
    d = os.environ.get("PIPESPEC_TOOLING_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "pipespec-tooling")
    return Path(d)


def _py_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def env_key(name: str) -> str:
    spec = ENVS[name]
    h = hashlib.sha256()
    h.update(f"format={FORMAT}\npython={_py_version()}\nname={name}\n".encode())
    h.update(b"requirements\0" + spec["requirements"].read_bytes() + b"\0")
    if spec.get("npm"):
        for f in NPM_FILES:
            h.update(f.encode() + b"\0" + (spec["npm"] / f).read_bytes() + b"\0")
    return h.hexdigest()


def env_path(name: str) -> Path:
    return cache_dir() / f"{name}-{env_key(name)[:16]}"


def env_python(path: Path) -> Path:
    return Path(path) / "bin" / "python"


def env_bin(path: Path, exe: str) -> Path:
    return Path(path) / "bin" / exe


def npm_prefix(path: Path) -> Path:
    """node_modules of the github env live in <env>/npm/node_modules."""
    return Path(path) / "npm"


@contextmanager
def _locked(lock_file: Path):
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _run(cmd, log, **kw):
    log.write(f"$ {' '.join(map(str, cmd))}\n")
    log.flush()
    r = subprocess.run([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        raise EnvError(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}; see {log.name}")


def _is_ready(path: Path, key: str) -> bool:
    stamp = path / STAMP
    try:
        return json.loads(stamp.read_text()).get("key") == key and env_python(path).exists()
    except (OSError, ValueError):
        return False


def _build(name: str, path: Path, key: str, quiet: bool) -> None:
    spec = ENVS[name]
    if path.exists():  # a half-built env from a crashed/killed build
        shutil.rmtree(path)
    log_path = cache_dir() / f"{path.name}.log"
    t0 = time.monotonic()
    if not quiet:
        print(f"[pipespec-tooling] building env {name!r} in {path} (log: {log_path})", file=sys.stderr)
    with open(log_path, "w") as log:
        try:
            _run([sys.executable, "-m", "venv", path], log)
            py = env_python(path)
            _run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-U", "pip"], log)
            _run([py, "-m", "pip", "install", "--disable-pip-version-check", "-r", spec["requirements"]], log)
            if spec.get("npm"):
                npm_dir = npm_prefix(path)
                npm_dir.mkdir(parents=True)
                for f in NPM_FILES:
                    shutil.copy2(spec["npm"] / f, npm_dir / f)
                _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], log, cwd=npm_dir)
            freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True).stdout
            (path / "pip-freeze.txt").write_text(freeze)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    stamp = {"key": key, "name": name, "python": _py_version(), "built_at": time.time(),
             "build_seconds": round(time.monotonic() - t0, 1), "size_bytes": size}
    tmp = path / (STAMP + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=1))
    os.replace(tmp, path / STAMP)  # written last, atomically: marks the env complete
    if not quiet:
        print(f"[pipespec-tooling] built {name!r} in {stamp['build_seconds']} s, "
              f"{size / 1e6:.0f} MB", file=sys.stderr)


def _pipespec_key() -> str:
    h = hashlib.sha256()
    h.update(str(REPO_ROOT).encode() + b"\0")
    h.update((REPO_ROOT / "pyproject.toml").read_bytes() + b"\0")
    h.update((HERE / "requirements-pipespec.txt").read_bytes())
    return h.hexdigest()


def _install_pipespec(path: Path, quiet: bool) -> None:
    key = _pipespec_key()
    stamp = path / PIPESPEC_STAMP
    try:
        if json.loads(stamp.read_text()).get("key") == key:
            return
    except (OSError, ValueError):
        pass
    py = env_python(path)
    log_path = cache_dir() / f"{path.name}.pipespec.log"
    if not quiet:
        print(f"[pipespec-tooling] installing pipespec (editable) into {path}", file=sys.stderr)
    with open(log_path, "w") as log:
        _run([py, "-m", "pip", "install", "--disable-pip-version-check",
              "-r", HERE / "requirements-pipespec.txt"], log)
        _run([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
              "-e", REPO_ROOT], log)
    stamp.write_text(json.dumps({"key": key, "repo": str(REPO_ROOT)}))


def ensure(name: str, with_pipespec: bool = False, quiet: bool = False) -> Path:
    """Return the path of env `name`, building it first if needed (safe across processes)."""
    if name not in ENVS:
        raise EnvError(f"unknown env {name!r}; known: {', '.join(ENVS)}")
    key = env_key(name)
    path = env_path(name)
    if not _is_ready(path, key) or with_pipespec:
        with _locked(cache_dir() / f"{path.name}.lock"):
            if not _is_ready(path, key):
                _build(name, path, key, quiet)
            if with_pipespec:
                _install_pipespec(path, quiet)
    return path


def info(name: str) -> dict:
    path = env_path(name)
    try:
        stamp = json.loads((path / STAMP).read_text())
    except (OSError, ValueError):
        stamp = None
    return {"name": name, "path": str(path), "key": env_key(name), "ready": stamp is not None,
            "stamp": stamp}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("ensure")
    e.add_argument("name", choices=[*ENVS, "all"])
    e.add_argument("--with-pipespec", action="store_true")
    for c in ("path", "key", "info"):
        p = sub.add_parser(c)
        p.add_argument("name", choices=list(ENVS))
    a = ap.parse_args(argv)
    if a.cmd == "ensure":
        names = DEFAULT_ALL if a.name == "all" else (a.name,)
        for n in names:
            print(ensure(n, with_pipespec=a.with_pipespec))
    elif a.cmd == "path":
        print(env_path(a.name))
    elif a.cmd == "key":
        print(env_key(a.name))
    else:
        print(json.dumps(info(a.name), indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EnvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
