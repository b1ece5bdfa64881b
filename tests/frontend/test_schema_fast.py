"""The jsonschema-free validity check agrees with jsonschema on the shipped schema."""

from __future__ import annotations

import copy
import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from support import CASES, SPECS

from pipespec.schema import schema
from pipespec.schema_fast import SUPPORTED, Validity, keywords_used, python_regex


def _ecma_pattern(validator, patrn, instance, _schema):
    # JSON Schema's patterns are ECMA-262: '$' is the end of the text (Python's re.search, which
    # jsonschema runs, also matches before a final newline), as pipespec's own validator says
    if validator.is_type(instance, "string") and not python_regex(patrn).search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


FAST = Validity(schema())
SLOW = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})(schema())


def _agree(doc) -> None:
    assert FAST.valid(schema(), doc) == SLOW.is_valid(doc), json.dumps(doc, default=str)[:500]


def test_schema_uses_only_supported_keywords():
    unknown = keywords_used(schema()) - SUPPORTED
    # property names under "properties" are not keywords; keywords_used skips them
    assert not unknown, f"schema_fast does not interpret {sorted(unknown)}: extend it"


def _docs():
    for p in sorted(SPECS.glob("*/pipeline.yaml")) + sorted(CASES.glob("*/*.yaml")):
        try:
            doc = yaml.safe_load(p.read_text())
        except Exception:  # cases that are not YAML at all are the loader's business
            continue
        yield p.name, doc


def test_a_final_newline_is_not_the_end_of_a_pattern():
    # found by hypothesis: an argument name "A\n" (ECMA's '$' does not match before the newline)
    doc = copy.deepcopy(BASE)
    doc["steps"]["deploy"]["with"] = {"A\n": 1}
    assert not FAST.valid(schema(), doc)
    _agree(doc)


def test_agrees_on_examples_and_cases():
    n = 0
    for _, doc in _docs():
        _agree(doc)
        n += 1
    assert n >= 3


# Mutations of a valid spec: each one nudges a value to a neighbouring type or a near-miss.
BASE = yaml.safe_load((SPECS / "churn" / "pipeline.yaml").read_text())
NUDGES = [None, True, False, 0, 1, -1, 1.5, "", "x", "5m", "500m", "4Gi", "0 3 * * *", "@daily",
          [], ["a"], [1, 1], {}, {"limit": 1}, {"type": "int"}, "Bad-Name", "a__b", "dataset", 3.10]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(BASE) if p]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), st.sampled_from(NUDGES), st.booleans(), st.text(max_size=6))
def test_agrees_on_mutations(path, nudge, add_key, key):
    doc = copy.deepcopy(BASE)
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = nudge
    if add_key and isinstance(node, dict):
        node[key] = nudge
    _agree(doc)
