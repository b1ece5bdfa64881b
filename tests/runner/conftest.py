"""Fixtures of the runner tests; the helpers live in runner_support.py."""

import pytest

from runner_support import Spec


@pytest.fixture
def spec(tmp_path):
    def make(text: str, name: str = "pipeline.yaml") -> Spec:
        return Spec(tmp_path, text, name)
    return make

