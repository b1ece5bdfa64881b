"""The suite tests this checkout with the programs of the environment running it, never with a
``pipespec``, ``pre-commit``, ``airflow`` or ``act`` that happens to be installed elsewhere on the
machine: a program found outside would make a green run here that fails on a fresh machine.

tests/conftest.py puts the running interpreter's scripts folder first on PATH; these tests fail,
naming the offending path, when any program a test starts resolves somewhere else.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from support import ROOT
from tooling import envs, verify

SCRIPTS = Path(sysconfig.get_path("scripts"))


def _inside(path: str | os.PathLike, *roots: str | os.PathLike) -> bool:
    p = os.path.abspath(path)
    return any(os.path.commonpath([p, os.path.abspath(r)]) == os.path.abspath(r) for r in roots)


def _interpreter_of(script: str) -> str:
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    return first[2:].strip().split()[0] if first.startswith("#!") else ""


def test_path_starts_with_the_running_interpreters_scripts():
    first = os.environ["PATH"].split(os.pathsep)[0]
    assert first == str(SCRIPTS), f"PATH starts with {first!r}, not {SCRIPTS} (tests/conftest.py)"
    assert _inside(SCRIPTS, sys.prefix), f"{SCRIPTS} is not inside the running environment {sys.prefix}"


@pytest.mark.parametrize("program", ["pipespec", "pre-commit"])
def test_programs_resolve_inside_the_running_venv(program):
    found = shutil.which(program)
    assert found is not None, (f"{program} is not installed in {sys.prefix}: the README's test command "
                               "installs the [test] extra")
    assert _inside(found, sys.prefix), f"{program} resolves to {found}, outside {sys.prefix}"
    # a script copied from another environment would run that environment's Python
    interp = _interpreter_of(found)
    assert _inside(interp, sys.prefix), f"{found} runs {interp!r}, outside {sys.prefix}"


def test_pipespec_is_this_checkout():
    import pipespec
    assert _inside(pipespec.__file__, ROOT / "compiler"), (
        f"the suite imports pipespec from {pipespec.__file__}, not from this checkout ({ROOT})")


@pytest.mark.slow
@pytest.mark.parametrize("env_name, programs", [("airflow", ["airflow", "pipespec"]),
                                                ("kfp", ["pipespec"]),
                                                ("github", ["act", "pipespec"])])
def test_target_tools_resolve_inside_their_env_or_the_venv(env_name, programs):
    """What a tooling script, an Airflow task, a kfp.local task or an act job finds on its PATH."""
    env_dir = envs.ensure(env_name, quiet=True)
    path = verify.tool_environ(env_dir)["PATH"]
    for program in programs:
        found = shutil.which(program, path=path)
        assert found is not None, f"{program} is not found on the PATH given to the {env_name} tooling"
        assert _inside(found, sys.prefix, envs.cache_dir()), (
            f"{program} resolves to {found}, outside {sys.prefix} and the tooling cache {envs.cache_dir()}")
        if program != "pipespec":
            assert _inside(found, env_dir), f"{program} resolves to {found}, not to the {env_name} env"
