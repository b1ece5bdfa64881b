"""The positioned YAML loader: positions of every node kind, YAML 1.2 core resolution, and
every refusal (E100-E109)."""

from __future__ import annotations

import time

import pytest

from pipespec.loader import MAX_BYTES, load
from pipespec.syntax import MapNode, ScalarNode, SeqNode


def codes(text):
    _, diags = load(text, "t.yaml")
    return [d.code for d in diags]


def only(text, code):
    tree, diags = load(text, "t.yaml")
    found = [d for d in diags if d.code == code]
    assert found, f"expected {code}, got {[(d.code, d.message) for d in diags]}"
    return found[0]


def pos(span):
    return (span.line, span.col, span.end_line, span.end_col)


# -- merge keys ----------------------------------------------------------------------------------
def test_merge_key_is_refused():
    d = only("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\n", "E106")
    assert "merge keys" in d.message
    assert pos(d.span) == (3, 3, 3, 5)


def test_merge_key_in_flow_mapping_is_refused():
    d = only("a: &x {k: 1}\nb: {<<: *x}\n", "E106")
    assert pos(d.span)[:2] == (2, 5)


def test_quoted_double_angle_is_an_ordinary_key():
    tree, diags = load('"<<": 1\n', "t.yaml")
    assert not diags and tree.keys() == ["<<"]


def test_unclosed_quote_points_at_the_opening_quote():
    d = only('pipespec: 1\nsteps:\n  a:\n    run: "echo a\n', "E100")
    assert pos(d.span)[:2] == (4, 10)
    assert "quoted scalar" in d.message


def test_non_utf8_points_at_the_bad_byte():
    d = only(b"pipespec: 1\ndescription: caf\xe9\n", "E109")
    assert "not UTF-8" in d.message and pos(d.span)[:2] == (2, 17)


def test_non_utf8_after_multibyte_characters_counts_characters():
    d = only("a: é€\n".encode() + b"\xff", "E109")
    assert pos(d.span)[:2] == (2, 1)
    d = only("a: é€".encode() + b"\xff", "E109")
    assert pos(d.span)[:2] == (1, 6)


def test_nul_byte_points_at_the_nul():
    d = only("pipespec: 1\nname: a\x00b\n", "E109")
    assert "NUL" in d.message and pos(d.span)[:2] == (2, 8)


def _bomb(levels=9):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    names = "abcdefghijklmnop"
    for i in range(1, levels):
        prev, cur = names[i - 1], names[i]
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_bounded_quickly():
    t0 = time.perf_counter()
    tree, diags = load(_bomb(), "t.yaml")
    assert time.perf_counter() - t0 < 1.0
    assert tree is None and [d.code for d in diags] == ["E104"]


def test_billion_laughs_points_at_the_list_whose_aliases_expand():
    d = only(_bomb(), "E104")
    # a..e expand to 111111 nodes in all; f's list of *e aliases crosses the bound
    assert pos(d.span)[:2] == (6, 4)  # the anchored list f: &f [*e, ...]


def test_recursive_alias_is_refused():
    d = only("a: &x\n  b: *x\n", "E104")
    assert "refers to the node that contains it" in d.message
    d = only("a: &x [1, *x]\n", "E104")


def test_control_character_points_at_the_character():
    d = only("pipespec: 1\nname: \x07bell\n", "E100")
    assert pos(d.span)[:2] == (2, 7)
    assert d.message == "control character '\\x07' is not allowed in YAML"
