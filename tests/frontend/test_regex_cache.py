"""Compiled regexes kept between processes (``pipespec.regexes``): exactly what ``re.compile``
builds, only for the fixed patterns of the allowlist (never a secret), ignored when damaged or
foreign, and written like bytecode (not under ``-B``)."""

from __future__ import annotations

import marshal
import os
import re
import subprocess
import sys

import pytest
from support import SPECS

from pipespec import regexes
from pipespec._regex_patterns import ALLOWED, GENERATED_ON

CHURN = str(SPECS / "churn" / "pipeline.yaml")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "APP_TOKEN")}
    env.update(extra)
    return env


def _pipespec(prefix, *args, env=None, cwd=None, flags=()):
    return subprocess.run([sys.executable, *flags, "-X", f"pycache_prefix={prefix}", "-m", "pipespec", *args],
                          capture_output=True, text=True, timeout=120, env=env or _env(), cwd=cwd)


def _cache_file(prefix) -> str:
    return subprocess.run([sys.executable, "-X", f"pycache_prefix={prefix}", "-c",
                           "from pipespec.regexes import cache_path; print(cache_path())"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_every_allowed_program_rebuilds_the_pattern_re_compile_builds():
    compiled = {}
    for pattern, flags in ALLOWED:
        compiled[(type(pattern), pattern, flags)] = re.compile(pattern, flags)
    progs = regexes.programs(compiled)
    assert len(progs) == len(ALLOWED)           # none dropped on this interpreter
    import _sre

    for prog in progs:
        # CPython's Pattern equality compares the pattern, the flags and the compiled code
        assert _sre.compile(prog[0], *prog[2:]) == re.compile(prog[0], prog[1])


@pytest.mark.skipif(sys.version_info[:2] != GENERATED_ON, reason="the allowlist lists another Python's patterns")
def test_the_allowlist_holds_what_a_validate_compiles():
    """Stale when PyYAML, the standard library or our patterns change: regenerate with
    ``python -m pipespec.regexes``."""
    missing = {item for item in regexes.recorded(["validate", "-q", CHURN]) if item not in ALLOWED}
    assert not missing, f"run python -m pipespec.regexes; not in the allowlist: {sorted(missing)}"


def test_the_next_process_takes_the_programs_and_reports_the_same(tmp_path):
    first = _pipespec(tmp_path, "validate", CHURN)
    path = _cache_file(tmp_path)
    assert first.returncode == 0, first.stderr
    assert os.path.exists(path)
    header, progs = marshal.loads(open(path, "rb").read())
    assert header[1] == sys.version
    assert {(p[0], p[1]) for p in progs} <= ALLOWED
    assert {(p[0], p[1]) for p in progs} == set(regexes.recorded(["validate", CHURN])) & ALLOWED
    before = os.stat(path).st_mtime_ns
    second = _pipespec(tmp_path, "validate", CHURN)
    assert (second.returncode, second.stdout, second.stderr) == (first.returncode, first.stdout, first.stderr)
    assert os.stat(path).st_mtime_ns == before  # nothing new to keep: not rewritten
    # the second process compiled none of them: every allowed pattern came from the file
    probe = subprocess.run(
        [sys.executable, "-X", f"pycache_prefix={tmp_path}", "-c",
         "import re; from pipespec.regexes import warm, _state; warm(); "
         "print(len(_state['loaded']), sum(1 for k in re._cache if (k[1], k[2]) in "
         "__import__('pipespec._regex_patterns', fromlist=['x']).ALLOWED))"],
        capture_output=True, text=True, env=_env(), timeout=60)
    loaded, in_cache = map(int, probe.stdout.split())
    assert loaded == in_cache == len(progs)


def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path):
    good = _pipespec(tmp_path, "validate", CHURN)
    path = _cache_file(tmp_path)
    header, progs = marshal.loads(open(path, "rb").read())
    pattern = progs[0]
    bad_code = (pattern[0], pattern[1], pattern[2], [999999] * 8, pattern[4], pattern[5], pattern[6])
    for damaged in (b"", b"\x00garbage", open(path, "rb").read()[:100],
                    marshal.dumps(((header[0], "another python", header[2]), progs)),
                    marshal.dumps((header, [bad_code] + progs[1:])),
                    marshal.dumps((header, [("x",)]))):
        with open(path, "wb") as f:
            f.write(damaged)
        again = _pipespec(tmp_path, "validate", CHURN)
        assert (again.returncode, again.stdout, again.stderr) == (good.returncode, good.stdout, good.stderr)
        header2, progs2 = marshal.loads(open(path, "rb").read())
        assert header2 == header and len(progs2) == len(progs)   # written again, whole


def test_nothing_is_written_under_dont_write_bytecode(tmp_path):
    r = _pipespec(tmp_path, "validate", CHURN, flags=("-B",))
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(_cache_file(tmp_path))
    r = _pipespec(tmp_path, "validate", CHURN, env=_env(PYTHONDONTWRITEBYTECODE="1"))
    assert r.returncode == 0 and not os.path.exists(_cache_file(tmp_path))


def test_an_unwritable_place_is_skipped(tmp_path):
    (tmp_path / "ro").mkdir()
    blocker = tmp_path / "ro" / "file"
    blocker.write_text("")                      # the cache folder cannot be made under a file
    r = _pipespec(blocker, "validate", CHURN)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().startswith("checked 1 file")


SECRET = "S3CR3Tv4lueRegex7d1e"         # nothing re.escape would change
SPEC = """\
pipespec: 1
name: sec
secrets:
  token: {env: APP_TOKEN}
steps:
  uses:
    env:
      T: ${{ secrets.token }}
    run: 'echo "got $T"'
"""


def test_a_secret_never_reaches_the_kept_programs(tmp_path):
    """The masking pattern is made of secret values: it is compiled, never kept."""
    (tmp_path / "p.yaml").write_text(SPEC, encoding="utf-8")
    prefix = tmp_path / "pyc"
    r = _pipespec(prefix, "run", "p.yaml", "-j", "1", env=_env(APP_TOKEN=SECRET), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert SECRET not in r.stdout + r.stderr
    kept = [p for p in prefix.rglob("*") if p.is_file()]
    assert any(p.name.startswith("regexes.") for p in kept), kept
    leaked = [str(p) for p in kept if SECRET.encode() in p.read_bytes()]
    assert not leaked
