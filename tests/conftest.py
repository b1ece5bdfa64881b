"""Shared pytest options and fixtures (helpers live in tests/support.py).

``--update-golden`` rewrites golden files (tests/golden/<backend>/..., tests/cases/err/*.out,
docs tables) from the current output instead of comparing: review the diff, then commit.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))
