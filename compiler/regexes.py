"""Compiled regular expressions kept between processes, as bytecode is.

A ``pipespec validate`` compiles some sixty regular expressions (the loader's, the schema's
patterns, the expression lexer's, PyYAML's and the standard library's own); compiling them is
a fifth of a validate's time, each process again. ``warm()`` puts their compiled programs,
read from a file beside the package's bytecode, into ``re``'s own cache before anything asks
for them, so ``re.compile`` returns them at once; a process that compiled one afresh writes
the file at exit for the next.

What makes this safe:

* Only the patterns of ``_regex_patterns.ALLOWED`` are kept: fixed strings from source code
  (ours, PyYAML's, the standard library's), listed by ``python -m pipespec.regexes`` from a
  validate of the shipped specs. A pattern built from what a user or a run supplies (the
  secret-masking pattern is made of secret values) is never written anywhere.
* A program is kept only when ``_sre`` builds from it a pattern equal to what ``re.compile``
  built (CPython compares the pattern, the flags and the compiled code), and the file is read
  only by the interpreter that wrote it (its version, ``_sre.MAGIC``, this module's format);
  ``_sre`` checks the code it is given, and anything unreadable is ignored.
* Like bytecode: nothing is written under ``-B``/``PYTHONDONTWRITEBYTECODE``, a file that
  cannot be written is skipped, a write is atomic, and ``sys.pycache_prefix`` is honoured.
  Without the file (or on an interpreter whose ``re`` works otherwise) ``re.compile`` works
  as it always does.
"""

from __future__ import annotations

import os
import re
import sys

_FORMAT = 1
_LIMIT = 512                         # entries; re's own cache holds 512


def _header() -> tuple:
    import _sre

    return (_FORMAT, sys.version, _sre.MAGIC)


def cache_path() -> str | None:
    """Where this interpreter's programs are kept (None: nowhere, like bytecode)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.pycache_prefix:
        folder = os.path.join(sys.pycache_prefix, os.path.splitdrive(here)[1].lstrip(os.sep))
    else:
        folder = os.path.join(here, "__pycache__")
    return os.path.join(folder, f"regexes.{tag}.bin")


_state: dict = {}                    # key -> program of what warm() loaded; the path


def _key(pattern, flags: int) -> tuple:
    return (type(pattern), pattern, flags)


def warm() -> None:
    """Fill ``re``'s cache with the programs of the allowed patterns kept by an earlier process;
    arrange to keep, at exit, those this process compiles afresh. Cheap: one file read and a
    C call per pattern."""
    if "path" in _state:
        return
    cache = getattr(re, "_cache", None)
    path = _state["path"] = cache_path()
    if not isinstance(cache, dict) or path is None:
        return
    loaded = _state.setdefault("loaded", {})
    try:
        import _sre
        import marshal

        with open(path, "rb") as f:
            header, programs = marshal.loads(f.read())
        if header == _header():
            for prog in programs:
                pattern, flags, final_flags, code, groups, groupindex, indexgroup = prog
                key = _key(pattern, flags)
                if key not in cache:
                    cache[key] = _sre.compile(pattern, final_flags, code, groups, groupindex, indexgroup)
                loaded[key] = prog
    except Exception:  # noqa: BLE001 - no file, another format, damaged: compile as usual
        loaded.clear()
    from ._regex_patterns import ALLOWED

    if len(loaded) < len(ALLOWED) and not sys.dont_write_bytecode:
        import atexit

        atexit.register(_keep)


def _program(pattern, flags: int) -> tuple:
    """What ``re._compiler.compile`` hands ``_sre.compile``, as plain marshal-able values."""
    from re import _compiler, _parser

    p = _parser.parse(pattern, flags)
    code = [int(c) for c in _compiler._code(p, flags)]
    groupindex = dict(p.state.groupdict)
    indexgroup = [None] * p.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return (pattern, int(flags), int(flags | p.state.flags), code, p.state.groups - 1, groupindex,
            tuple(indexgroup))


def programs(compiled: dict) -> list[tuple]:
    """The programs of the allowed patterns among ``compiled`` (re's cache: key -> pattern
    object) that ``_sre`` rebuilds exactly."""
    import _sre

    from ._regex_patterns import ALLOWED

    out = []
    for key, obj in list(compiled.items()):
        kind, pattern, flags = key
        if (pattern, flags) not in ALLOWED or not isinstance(obj, re.Pattern):
            continue
        prog = _state.get("loaded", {}).get(key)
        try:
            prog = prog or _program(pattern, flags)
            if _sre.compile(prog[0], *prog[2:]) != obj:
                continue
        except Exception:  # noqa: BLE001 - another re: keep nothing of it
            continue
        out.append(prog)
    return out[:_LIMIT]


def _keep() -> None:
    cache, path = getattr(re, "_cache", None), _state.get("path")
    loaded = _state.get("loaded", {})
    if not isinstance(cache, dict) or not path or all(k in loaded for k in cache):
        return
    try:
        import marshal

        progs = programs(cache)
        if len(progs) <= len(loaded):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(marshal.dumps((_header(), progs)))
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - a read-only install: like bytecode, nothing is kept
        try:
            os.unlink(f"{path}.{os.getpid()}.tmp")
        except OSError:
            pass


# -- the allowlist -------------------------------------------------------------------------

_RECORDER = r"""
import marshal, os, re, sys
seen = {}
orig = re._compile
def record(pattern, flags):
    f = flags.value if isinstance(flags, re.RegexFlag) else int(flags)
    if isinstance(pattern, (str, bytes)):
        seen.setdefault((pattern, f), None)
    return orig(pattern, flags)
re._compile = record
re._cache.clear()
from pipespec.cli import main
try:
    main(sys.argv[1:])
finally:
    with open(os.environ["PIPESPEC_REGEX_RECORD"], "wb") as out:
        out.write(marshal.dumps(list(seen)))
"""


def recorded(argv: list[str]) -> list[tuple]:
    """The (pattern, flags) a ``pipespec`` command line compiles, in order (a fresh process,
    which keeps nothing: ``-B``)."""
    import marshal
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "patterns")
        subprocess.run([sys.executable, "-B", "-c", _RECORDER, *argv], capture_output=True,
                       env={**os.environ, "PIPESPEC_REGEX_RECORD": out}, timeout=120)
        with open(out, "rb") as f:
            return [tuple(x) for x in marshal.loads(f.read())]


def generate() -> str:
    """The text of ``_regex_patterns.py``: every pattern a validate of each shipped spec
    compiles."""
    import glob

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    specs = sorted(glob.glob(os.path.join(root, "specs", "*", "pipeline.yaml")))
    seen: dict = {}
    for spec in specs:
        for item in recorded(["validate", "-q", spec]):
            seen.setdefault(item, None)
    lines = ['"""Generated by ``python -m pipespec.regexes``: the fixed patterns whose compiled form',
             "``pipespec.regexes`` may keep between processes (what a validate of the shipped specs",
             'compiles). Never a pattern made of user or run data."""', "",
             f"GENERATED_ON = {tuple(sys.version_info[:2])!r}          # the standard library's patterns differ by version",
             "", "ALLOWED = frozenset({"]
    lines += [f"    ({p!r}, {f})," for p, f in seen]
    lines += ["})", ""]
    return "\n".join(lines)


def main() -> int:
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_regex_patterns.py")
    text = generate()
    with open(target, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
