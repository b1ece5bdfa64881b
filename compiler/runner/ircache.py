"""A cache of compiled specs, so that re-running an unchanged spec does not pay the front end.

Checking and lowering a 1000-step spec takes ~0.6 s and hashing its IR ~0.3 s — longer than
a fully cached run of it should take. The cache holds the pickled IR, its digest and every
step's definition digest, keyed by the spec's bytes and a fingerprint of the compiler's own
source files (so editing pipespec invalidates it). It lives in ``$XDG_CACHE_HOME/pipespec/ir``
(default ``~/.cache``); ``PIPESPEC_NO_IR_CACHE=1`` turns it off. Any problem reading it is a
miss, never an error.

An entry decides what the runner runs (the IR holds the commands), so only the user's own
entries are read: every folder from ``pipespec/`` down and the entry itself must belong to the
effective user and not be writable by group or others, checked on the open descriptors
(``O_NOFOLLOW``, one ``openat`` per level: nothing can be swapped in between). New folders are
``0700``, entries ``0600``. And the unpickler resolves only pipespec's IR dataclasses: no other
class or function, so an entry can describe an IR but never call code (``_IRUnpickler``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import stat
from ..record import is_record, record, replace

from .. import __version__, ir


@record
class Compiled:
    pipeline: ir.Pipeline
    digest: str                        # Pipeline.digest()
    step_digests: dict[str, str]       # step -> digest of its IR JSON minus description


def _compiler_fingerprint() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256(__version__.encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".lark", ".json")):
                st = os.stat(os.path.join(dirpath, fn))
                h.update(f"{dirpath}/{fn}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cache_base() -> str:
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


_PRIVATE = ("pipespec", "ir")                  # the folders below the base that must be ours
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _ours(fd: int, kind) -> bool:
    st = os.fstat(fd)
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _open_dirs(parts: tuple[str, ...], create: bool) -> int | None:
    """A descriptor of base/parts..., each level ours and private (made 0700 when ``create``)."""
    try:
        fd = os.open(_cache_base(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        if not create:
            return None
        os.makedirs(_cache_base(), exist_ok=True)
        fd = os.open(_cache_base(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
            nxt = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if not _ours(fd, stat.S_ISDIR):
                os.close(fd)
                return None
        return fd
    except OSError:
        os.close(fd)
        return None


class _IRUnpickler(pickle.Unpickler):
    """Resolves only the record classes of the IR: a pickle naming anything else (``os.system``,
    ``builtins.eval``, any callable a gadget needs) fails to load, which is a cache miss."""

    MODULES = frozenset({"pipespec.ir", "pipespec.span", "pipespec.expr.ast", "pipespec.expr.template",
                         "pipespec.expr.types", "pipespec.runner.ircache"})

    def find_class(self, module: str, name: str):
        if module in self.MODULES:
            obj = super().find_class(module, name)
            if isinstance(obj, type) and is_record(obj):
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not part of the IR")


def _read_entry(key: str) -> "Compiled | None":
    fd = _open_dirs(_PRIVATE + (key[:2],), create=False)
    if fd is None:
        return None
    try:
        f = os.open(key[2:] + ".pickle", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    with open(f, "rb") as fh:
        if not _ours(fh.fileno(), stat.S_ISREG):
            return None
        got = _IRUnpickler(io.BytesIO(fh.read())).load()
    return got if isinstance(got, Compiled) else None


def _write_entry(key: str, compiled: "Compiled") -> None:
    data = pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL)
    fd = _open_dirs(_PRIVATE + (key[:2],), create=True)
    if fd is None:
        return
    try:
        import secrets

        tmp = f".{key[2:]}.{secrets.token_hex(8)}.tmp"
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
        with open(f, "wb") as fh:
            fh.write(data)
        os.replace(tmp, key[2:] + ".pickle", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def compile_fresh(pipeline: ir.Pipeline) -> Compiled:
    text = pipeline.to_json()
    data = json.loads(text)
    digests = {}
    for s in data["steps"] + data["finally_steps"]:
        s.pop("description", None)
        digests[s["name"]] = hashlib.sha256(
            json.dumps(s, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    return Compiled(pipeline, hashlib.sha256(text.encode("utf-8")).hexdigest(), digests)


def load(path: str, require_valid) -> Compiled:
    """The compiled spec at ``path``; ``require_valid(path)`` runs the front end on a miss."""
    if os.environ.get("PIPESPEC_NO_IR_CACHE"):
        return compile_fresh(require_valid(path).pipeline)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return compile_fresh(require_valid(path).pipeline)   # the front end reports it
    key = hashlib.sha256(data + b"\0" + os.path.abspath(path).encode() + b"\0"
                         + _compiler_fingerprint().encode()).hexdigest()
    try:
        got = _read_entry(key)
        if got is not None:
            if got.pipeline.source != path:           # the same file reached by another path
                got.pipeline = replace(got.pipeline, source=path)
            return got
    except Exception:   # noqa: BLE001 - a broken, stale or foreign cache entry is just a miss
        pass
    compiled = compile_fresh(require_valid(path).pipeline)
    try:
        _write_entry(key, compiled)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
    return compiled
