"""Both ``pip install .`` and ``pip install -e .`` give a working ``pipespec`` command and an
importable ``pipespec.backends``, with the schema and grammar shipped inside the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv

import pytest

from support import ROOT

pytestmark = pytest.mark.slow


def _copy_tree(dest) -> None:
    """Install from a copy of the files a clone would have: git's tracked and not-ignored files
    only. Copying the folder itself took whatever lay in it, once a 60 GB dockerd data root."""
    r = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    names = [n for n in r.stdout.decode().split("\0") if n]
    assert "pyproject.toml" in names
    for name in names:
        path = ROOT / name
        if path.is_file():               # listed but deleted in the work tree: a clone would not have it either
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / name)


def _venv(path) -> tuple[str, str]:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return os.path.join(path, "bin", "python"), os.path.join(path, "bin", "pipespec")


@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_install(tmp_path, editable):
    src = tmp_path / "src"
    _copy_tree(src)
    py, exe = _venv(str(tmp_path / "venv"))
    cmd = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cmd += ["-e", str(src)] if editable else [str(src)]
    subprocess.run(cmd, check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = lambda *a: subprocess.run(a, cwd=work, capture_output=True, text=True, timeout=120)  # noqa: E731
    r = run(exe, "--version")
    assert r.returncode == 0 and r.stdout.startswith("pipespec "), r.stderr
    r = run(exe, "validate", str(ROOT / "specs" / "churn" / "pipeline.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(exe, "schema")
    assert '"$schema": "https://json-schema.org/draft/2020-12/schema"' in r.stdout
    r = run(py, "-c", "import pipespec.backends, pipespec.expr, pipespec; "
                      "print(pipespec.expr.parse('1 + 2')); print(pipespec.__file__)")
    assert r.returncode == 0, r.stderr
    # the wheel install must not import from the source tree
    if not editable:
        assert str(src) not in r.stdout
    r = run(exe, "targets")
    assert r.returncode == 0, r.stderr
    r = run(exe, "validate", str(ROOT / "no-such.yaml"))
    # a missing file is a diagnostic of its own (E111), not a usage error: the others are checked
    assert r.returncode == 1 and "error[E111]: cannot read the file: no such file" in r.stdout
    assert "Traceback" not in r.stderr
