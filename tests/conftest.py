"""Shared pytest options and fixtures (helpers live in tests/support.py).

``--update-golden`` rewrites golden files (tests/golden/<backend>/..., tests/cases/err/*.out,
docs tables) from the current output instead of comparing: review the diff, then commit.

Every program the suite starts is found through the interpreter running it: the scripts folder of
that interpreter's environment (``.venv/bin`` when run as the README says, without activating the
venv) goes first on PATH here, once, for the whole run, so subprocesses, Airflow tasks, kfp.local
tasks and act jobs all find this checkout's ``pipespec`` and ``pre-commit`` and never one installed
elsewhere on the machine. tests/test_environment.py fails when that stops holding.
"""

from __future__ import annotations

import os
import sysconfig

import pytest

SCRIPTS = sysconfig.get_path("scripts")
os.environ["PATH"] = os.pathsep.join(
    [SCRIPTS, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != SCRIPTS)])


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))
