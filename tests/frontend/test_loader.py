"""The positioned YAML loader: positions of every node kind, YAML 1.2 core resolution, and
every refusal (E100-E109)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipespec.loader import MAX_BYTES, load, resolve_plain
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


# -- positions of every node kind --------------------------------------------------------------
POSITIONS = """\
top: plain value
quoted: 'single'
dq: "double"
block: |
  line one
  line two
folded: >
  folded
seq:
  - item
  - [flow, list]
map: {k: v}
"""


def test_positions_of_every_node_kind():
    tree, diags = load(POSITIONS, "p.yaml")
    assert not diags and isinstance(tree, MapNode)
    assert pos(tree.key_node("top").span) == (1, 1, 1, 4)
    assert pos(tree.get("top").span) == (1, 6, 1, 17)
    q = tree.get("quoted")
    assert pos(q.span) == (2, 9, 2, 17) and q.style == "'" and q.value == "single"
    assert tree.get("dq").style == '"' and pos(tree.get("dq").span)[:2] == (3, 5)
    b = tree.get("block")
    assert b.style == "|" and b.value == "line one\nline two\n" and pos(b.span)[:2] == (4, 8)
    assert tree.get("folded").style == ">" and tree.get("folded").value == "folded\n"
    seq = tree.get("seq")
    assert isinstance(seq, SeqNode) and pos(seq.span)[:2] == (10, 3)
    assert pos(seq.items[0].span) == (10, 5, 10, 9)
    inner = seq.items[1]
    assert isinstance(inner, SeqNode) and pos(inner.span) == (11, 5, 11, 17)
    assert pos(inner.items[1].span) == (11, 12, 11, 16)
    m = tree.get("map")
    assert isinstance(m, MapNode) and pos(m.span) == (12, 6, 12, 12)
    assert pos(m.key_node("k").span) == (12, 7, 12, 8) and pos(m.get("k").span) == (12, 10, 12, 11)


def test_scalar_keeps_its_source_text():
    tree, _ = load("a: 3.10\nb: 0o17\n", "t.yaml")
    assert tree.get("a").source == "3.10" and tree.get("a").value == 3.1
    assert tree.get("b").source == "0o17" and tree.get("b").value == 15


# -- YAML 1.2 core resolution -------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("on", "on"), ("yes", "yes"), ("no", "no"), ("off", "off"), ("Y", "Y"), ("n", "n"),
    ("true", True), ("False", False), ("TRUE", True),
    ("null", None), ("~", None), ("", None), ("Null", None),
    ("3.10", 3.1), ("1e3", 1000.0), ("-2.5", -2.5), (".5", 0.5),
    ("42", 42), ("-7", -7), ("+3", 3), ("0o17", 15), ("0x1F", 31), ("0xff", 255),
    ("017", 17),                     # YAML 1.1 octal; 1.2 core reads decimal
    ("0b101", "0b101"),             # binary is 1.1 only
    ("1_000", "1_000"),             # so are underscores
    ("2024-01-01", "2024-01-01"), ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("12:30:00", "12:30:00"),       # 1.1 sexagesimal
    (".inf", float("inf")), ("-.Inf", float("-inf")),
    ("=", "="), ("<<", "<<"),
])
def test_yaml12_core_resolution(text, value):
    tree, diags = load(f"k: {text}\n" if text != "<<" else "k: '<<'\n", "t.yaml")
    assert not diags
    v = tree.get("k").value
    assert v == value and type(v) is type(value)


def test_nan_resolves_to_nan():
    tree, _ = load("k: .nan\n", "t.yaml")
    assert tree.get("k").value != tree.get("k").value


def test_quoted_numbers_stay_strings():
    tree, _ = load("a: '3.10'\nb: \"1\"\n", "t.yaml")
    assert tree.get("a").value == "3.10" and tree.get("b").value == "1"


def test_explicit_standard_tags_are_allowed():
    tree, diags = load('a: !!str 3.10\nb: !!int "42"\nc: !!float "1"\n', "t.yaml")
    assert not diags
    assert tree.get("a").value == "3.10" and tree.get("b").value == 42 and tree.get("c").value == 1.0


# -- refusals -----------------------------------------------------------------------------------
def test_duplicate_key_has_a_note_pointing_at_the_first():
    d = only("a: 1\nb: 2\na: 3\n", "E101")
    assert pos(d.span) == (3, 1, 3, 2)
    assert d.notes == ("first defined at line 1, column 1",)


def test_duplicate_key_in_a_flow_mapping():
    d = only("m: {x: 1, y: 2, x: 3}\n", "E101")
    assert pos(d.span)[:2] == (1, 17) and d.notes == ("first defined at line 1, column 5",)


def test_duplicate_keys_quoted_and_plain_are_the_same_key():
    only("a: 1\n'a': 2\n", "E101")


@pytest.mark.parametrize("key, shown", [("1", "1"), ("3.5", "3.5"), ("true", "true"), ("null", "null"),
                                        ("~", "~"), ("[a, b]", None), ("{a: b}", None)])
def test_non_string_keys(key, shown):
    d = only(f"{key}: v\n", "E102")
    assert pos(d.span)[:2] == (1, 1)
    if shown:
        assert d.message == f"mapping key {shown} is not a string"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO", "On", "OFF"])
def test_yaml11_boolean_words_as_keys(word):
    d = only(f"{word}: 1\n", "E103")
    assert pos(d.span) == (1, 1, 1, 1 + len(word)) and d.help == f'quote it: "{word}"'


def test_quoted_yaml11_words_are_fine_keys():
    assert codes("'on': 1\n\"yes\": 2\n") == []


def test_oversized_text_is_refused_before_parsing():
    t0 = time.perf_counter()
    d = only("a: b\n" + "#" * MAX_BYTES, "E105")
    assert time.perf_counter() - t0 < 1.0 and pos(d.span)[:2] == (1, 1)


@pytest.mark.parametrize("text, tag", [
    ("a: !Ref Bucket\n", "!Ref"),
    ("a: !!python/object/apply:os.system ['echo pwned']\n", "!!python/object/apply:os.system"),
    ("a: !!python/name:os.system\n", "!!python/name:os.system"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
    ("a: !!timestamp 2024-01-01\n", "!!timestamp"),
    ("a: !!set {x, y}\n", "!!set"),
    ("!Custom\nk: v\n", "!Custom"),
])
def test_custom_tags_are_refused(text, tag):
    d = only(text, "E106")
    assert d.message == f"YAML tag '{tag}' is not allowed"


def test_python_tag_never_runs(tmp_path, monkeypatch):
    flag = tmp_path / "ran"
    load(f"a: !!python/object/apply:os.system ['touch {flag}']\n", "t.yaml")
    assert not flag.exists()


def test_multi_document_file():
    d = only("a: 1\n---\nb: 2\n", "E109")
    assert "more than one YAML document" in d.message and pos(d.span)[:2] == (2, 1)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "\ufeff"])
def test_empty_file(text):
    d = only(text, "E109")
    assert d.message == "the file is empty"


def test_bom_is_skipped():
    tree, diags = load("\ufeffa: 1\n", "t.yaml")
    assert not diags and tree.get("a").value == 1 and pos(tree.key_node("a").span)[:2] == (1, 1)
    tree, diags = load("\ufeffa: 1\n".encode("utf-8"), "t.yaml")
    assert not diags and tree.get("a").value == 1


def test_nul_bytes_in_bytes_input():
    only(b"a: 1\x00\n", "E109")


@pytest.mark.parametrize("text, line, col", [
    ("with: {raw: ${{ steps.a.outputs.x }}}\n", 1, 13),
    ("run: [python, a.py, ${{ params.n }}]\n", 1, 21),
    ("run: [${{ params.n }}]\n", 1, 7),
    ("with: {a: 1,\n  b: ${{ params.n }}}\n", 2, 6),
    ("with:\n  {a: '${{ ok }}', b: ${{ params.n }}}\n", 2, 23),
])
def test_flow_collection_expression_trap(text, line, col):
    tree, diags = load(text, "t.yaml")
    assert tree is None and [d.code for d in diags] == ["E107"]
    d = diags[0]
    assert pos(d.span) == (line, col, line, col + 3)
    assert "quote the expression" in d.help


def test_quoted_expression_in_flow_collection_is_fine():
    assert codes('with: {raw: "${{ steps.a.outputs.x }}"}\nrun: [\'${{ params.n }}\']\n') == []


def test_block_style_expression_is_fine():
    assert codes("with:\n  raw: ${{ steps.a.outputs.x }}\n") == []


def test_all_refusals_of_one_file_are_reported_together():
    text = "a: 1\na: 2\nyes: 3\n1: 4\nb: !Tag x\n"
    assert sorted(codes(text)) == ["E101", "E102", "E103", "E106"]


def _core_schema(text: str):
    """YAML 1.2 core schema resolution, the regex chain resolve_plain's fast paths shortcut."""
    import math as _m
    if re.fullmatch(r"~|null|Null|NULL|", text):
        return None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"0o[0-7]+", text):
        return int(text[2:], 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if re.fullmatch(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", text):
        return float(text)
    if re.fullmatch(r"[-+]?\.(?:inf|Inf|INF)", text):
        return -_m.inf if text.startswith("-") else _m.inf
    if re.fullmatch(r"\.(?:nan|NaN|NAN)", text):
        return _NAN
    return text


_NAN = object()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.sampled_from(["", "~", "null", "Null", "NULL", "nul", "true", "TRUE", "tRue", "False",
                                  "f", "n", "no", "yes", "on", "needs", "1", "-1", "+1", "0o17", "0x1F",
                                  "1e3", ".5", ".inf", "-.Inf", ".nan", ".NaN", "1.", "s0", "3.10"]),
                 st.text("nNtTfFrueals~+-.0123456789eExo_ab", max_size=6), st.text(max_size=8)))
@example("0\n")       # hypothesis found it: Python's '$' also matches before a final newline
@example("\n")
@example("0x1F\n")
@example(".inf\n")
def test_resolve_plain_is_the_core_schema(text):
    got, want = resolve_plain(text), _core_schema(text)
    if want is _NAN:
        assert isinstance(got, float) and got != got
    else:
        assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text", ["\r0\x850", "a: \"x\r\ny\"\r\n", "k: 'a\x85b\x85c'", "\u2028x: 'a\u2028b'"])
def test_line_breaks_libyaml_counts_but_split_does_not(text):
    # libyaml counts \r, \x85, \u2028 as line breaks, so a mark may lie past text.split("\n")
    tree, diags = load(text)
    assert tree is not None or diags
