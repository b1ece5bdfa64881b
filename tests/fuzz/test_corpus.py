"""Replay the fuzz corpus (tests/fuzz/corpus/<target>/*) through the fuzzer's oracles: every
input the fuzzer ever kept, including each one that once failed, must still pass."""

from __future__ import annotations

import pytest

from oracles import CORPUS, ORACLES

FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file() and p.parent.name in ORACLES)


def test_the_corpus_is_not_empty():
    assert {p.parent.name for p in FILES} == set(ORACLES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input_passes_its_oracle(path):
    ORACLES[path.parent.name](path.read_bytes())
