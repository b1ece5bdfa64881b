"""A cache of compiled specs, so that re-running an unchanged spec does not pay the front end.

Checking and lowering a 1000-step spec takes ~0.6 s and hashing its IR ~0.3 s — longer than
a fully cached run of it should take. The cache holds the pickled IR, its digest and every
step's definition digest, keyed by the spec's bytes and a fingerprint of the compiler's own
source files (so editing pipespec invalidates it). It lives in ``$XDG_CACHE_HOME/pipespec/ir``
(default ``~/.cache``); ``PIPESPEC_NO_IR_CACHE=1`` turns it off. Any problem reading it is a
miss, never an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
from dataclasses import dataclass

from .. import __version__, ir


@dataclass
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


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pipespec", "ir")


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
    file = os.path.join(_cache_dir(), key[:2], key[2:] + ".pickle")
    try:
        with open(file, "rb") as f:
            got = pickle.load(f)
        if isinstance(got, Compiled):
            if got.pipeline.source != path:           # the same file reached by another path
                got.pipeline = dataclasses.replace(got.pipeline, source=path)
            return got
    except Exception:   # noqa: BLE001 - a broken or stale cache entry is just a miss
        pass
    compiled = compile_fresh(require_valid(path).pipeline)
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        tmp = f"{file}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(compiled, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
    return compiled
