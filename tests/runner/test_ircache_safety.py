"""The compiled-spec cache is read only from the user's own private folders, and an entry can
describe an IR but never run code (issue 11, item 20)."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest

from pipespec.frontend import load_spec
from pipespec.runner import ircache

A = "pipespec: 1\nname: alpha\nsteps:\n  s:\n    run: echo a\n"
B = "pipespec: 1\nname: bravo\nsteps:\n  s:\n    run: echo planted\n"


def require_valid(path):
    return load_spec(path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PIPESPEC_NO_IR_CACHE", raising=False)
    spec = tmp_path / "p.yaml"
    spec.write_text(A)
    data = spec.read_bytes()
    key = hashlib.sha256(data + b"\0" + os.path.abspath(spec).encode() + b"\0"
                         + ircache._compiler_fingerprint().encode()).hexdigest()
    entry = tmp_path / "cache" / "pipespec" / "ir" / key[:2] / (key[2:] + ".pickle")
    return str(spec), entry


def plant(entry, payload: bytes):
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(payload)


class Gadget:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_a_planted_pickle_runs_no_code(cache, tmp_path):
    spec, entry = cache
    plant(entry, pickle.dumps(Gadget(tmp_path / "PWNED")))
    got = ircache.load(spec, require_valid)
    assert not (tmp_path / "PWNED").exists()
    assert got.pipeline.name == "alpha"


def bravo_entry(tmp_path) -> bytes:
    other = tmp_path / "other.yaml"
    other.write_text(B)
    return pickle.dumps(ircache.compile_fresh(load_spec(str(other)).pipeline))


def test_own_private_entry_is_used(cache, tmp_path):
    spec, entry = cache
    ircache.load(spec, require_valid)                     # creates the folders, privately
    for d in (entry.parent, entry.parent.parent, entry.parent.parent.parent):
        assert d.stat().st_mode & 0o077 == 0
    assert entry.stat().st_mode & 0o077 == 0
    plant(entry, bravo_entry(tmp_path))
    assert ircache.load(spec, require_valid).pipeline.name == "bravo"      # the test's own check


@pytest.mark.parametrize("how", ["group-writable-dir", "world-writable-file", "foreign-owner", "symlink"])
def test_an_entry_others_could_write_is_not_read(cache, tmp_path, how):
    spec, entry = cache
    ircache.load(spec, require_valid)
    plant(entry, bravo_entry(tmp_path))
    if how == "group-writable-dir":
        entry.parent.parent.chmod(0o770)
    elif how == "world-writable-file":
        entry.chmod(0o666)
    elif how == "foreign-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to another user")
        os.chown(entry, 54321, -1)
    else:
        real = tmp_path / "elsewhere.pickle"
        os.rename(entry, real)
        os.symlink(real, entry)
    assert ircache.load(spec, require_valid).pipeline.name == "alpha"
