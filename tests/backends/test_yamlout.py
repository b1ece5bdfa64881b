"""The backends' YAML writer: whatever it writes loads back (PyYAML, YAML 1.1) to the data it
was given, and no string it leaves unquoted is anything but a string under YAML 1.2 either."""

from __future__ import annotations

import math
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipespec.backends.yamlout import _string, dump

TRICKY = [
    "yes", "no", "on", "off", "y", "n", "Y", "N", "YES", "On", "true", "False", "null", "Null", "NULL",
    "~", "", " ", " lead", "trail ", ":", "a:", ":a", "a: b", "a:b", "- x", "-", "--", "---", "...",
    "--x", "-x", "#", "a #b", "a#b", "{", "}", "[", "]", "{{$}}", ",", "?", "? x", "!", "&a", "*a",
    "|", ">", "%", "@", "`", "'", '"', "''", "<<", "=", "1e3", "1E3", "0x1F", "0o17", "017", "0b101",
    "1_000", "1:20", "190:20:30.15", "3.10", ".5", "+1", "-1", "-.inf", ".inf", ".Inf", ".NaN", ".nan",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-14T21:59:43Z", "2002-12-14", "1.0e+16",
    "0", "12", "1.", "1.0", "1e+3", "6.8523015e+5", "685.230_15e+03", "0x_1F", "0b1010_0111", "0o7",
    "12:30:45", "1:1", "5s", "1Gi", "0 3 * * *", "2.1.0", "3600s", "1 #x", "1: x", "1 ", "é", "…", "日本語", "emoji 🙂",
    "a\nb", "a\nb\n", "a\n\n", "\n", "\na", " a\nb", "a \nb", "a\n b", "a\tb", "\t", "a\rb", "\r\n",
    "\x85", "\u2028", "\u2029", "\ufeff", "\x7f", "\x00", "\x1b", "\ufffe", "\U0001d173", "\xa0",
    "${{ github.run_id }}", "${{ a || '{}' }}", "echo 'x' # not a comment?", "key: value\nmore",
    "./x", ".github/workflows", "/abs", "$HOME", "(x)", "^x", "_x", "x'y", 'x"y', "x\\y", "\\",
]


def load(text: str):
    return yaml.safe_load(text)


@pytest.mark.parametrize("s", TRICKY, ids=repr)
def test_tricky_strings_round_trip(s):
    for indent in (False, True):
        for doc in (s, {"k": s}, {s: 1}, [s], {"k": [s, {"j": s}]}):
            assert load(dump(doc, indent_sequences=indent)) == doc, dump(doc, indent_sequences=indent)


# YAML 1.2 core schema (spec 1.2.2, 10.3.2) plus the JSON schema's forms: a plain scalar that
# matches any of these is not a string to a YAML 1.2 reader such as GitHub's
YAML12_NONSTRING = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN"
    r"|-?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][-+]?[0-9]+)?|")


@pytest.mark.parametrize("s", TRICKY, ids=repr)
def test_plain_only_when_a_string_under_yaml_1_1_and_1_2(s):
    text = _string(s)
    if text == s:
        assert not YAML12_NONSTRING.fullmatch(s)
        assert not re.fullmatch(r"[-+]?[0-9][0-9a-fA-FxXoO._+\-: tTzZ]*", s), "may be a number or date"
        assert load("k: " + s) == {"k": s}


def test_layout():
    doc = {"b": {"x": [1, {"p": "q", "r": [True]}], "e": {}, "l": []}, "a": "l1\nl2\n", "on": "1e3"}
    assert dump(doc) == (
        "b:\n  x:\n  - 1\n  - p: q\n    r:\n    - true\n  e: {}\n  l: []\n"
        "a: |\n  l1\n  l2\n'on': '1e3'\n")
    assert dump(doc, sort_keys=True, indent_sequences=True) == (
        "a: |\n  l1\n  l2\nb:\n  e: {}\n  l: []\n  x:\n    - 1\n    - p: q\n      r:\n        - true\n"
        "'on': '1e3'\n")
    assert dump({"s": ["a\nb"]}) == "s:\n- |-\n  a\n  b\n"


def test_numbers_and_refusals():
    for x in (0, -3, 10**30, 0.1, -0.0, 1e16, 1e-5, 5e-324, 1.5e300, float("inf"), float("-inf")):
        assert load(dump({"x": x})) == {"x": x}
        assert type(load(dump({"x": x}))["x"]) is type(x)
    assert math.isnan(load(dump({"x": float("nan")}))["x"])
    with pytest.raises(TypeError):
        dump({"x": (1, 2)})
    with pytest.raises(TypeError):
        dump({1: "x"})
    with pytest.raises(ValueError):
        dump({"k" * 2000: 1})


TEXT = st.one_of(st.sampled_from(TRICKY), st.text(max_size=30),
                 st.text(alphabet=" \n\t:#-'\"ab1.", max_size=12))
SCALARS = st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=25)


@settings(max_examples=600, deadline=None)
@given(data=DATA, sort_keys=st.booleans(), indent=st.booleans())
def test_round_trip(data, sort_keys, indent):
    text = dump(data, sort_keys=sort_keys, indent_sequences=indent)
    assert load(text) == data, text
    if isinstance(data, dict) and not sort_keys:
        assert list(load(text)) == list(data)       # key order kept
