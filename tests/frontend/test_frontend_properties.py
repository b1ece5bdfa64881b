"""Properties over open inputs: validation never raises on arbitrary text or YAML, and the IR of
every valid generated spec is deterministic."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipespec.frontend import check_text
from strategies import valid_specs

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EXPR_BITS = st.sampled_from([
    "${{ params.a }}", "${{ steps.s1.outputs.o }}", "${{ item }}", "${{ run.id }}", "${{ 1 + }}",
    "${{ outputs.o }}", "${{ secrets.k }}", "${{ len(params.l) > 1 }}", "${{", "}}", "x", "${{ 'a' }}",
    "${{ steps.s0.outputs.m.auc >= 0.5 }}", "${{ params.l }}", "${{ env.HOME }}", "${{ run.status }}",
])


@st.composite
def yamlish(draw):
    """Random structures shaped roughly like specs: the keys are often right, values anything."""
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=16),
                       st.text(string.printable, max_size=12), EXPR_BITS)
    keys = st.sampled_from(["pipespec", "name", "steps", "params", "run", "call", "with", "outputs",
                            "needs", "if", "foreach", "env", "finally", "type", "default", "retries",
                            "timeout", "resources", "targets", "secrets", "s0", "s1", "a", "o", "m"])
    tree = st.recursive(scalar, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(keys, kids, max_size=5)), max_leaves=25)
    return draw(st.dictionaries(keys, tree, max_size=6))


@SETTINGS
@given(st.text(max_size=300))
def test_validation_never_raises_on_text(text):
    res = check_text(text, "fuzz.yaml")
    assert res.ok or res.diagnostics


@SETTINGS
@given(st.binary(max_size=200))
def test_validation_never_raises_on_bytes(data):
    res = check_text(data, "fuzz.yaml")
    assert res.ok or res.diagnostics


@SETTINGS
@given(yamlish())
def test_validation_never_raises_on_yaml_shapes(doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    check_text(text, "fuzz.yaml")


# (whole specs cost more each than the shapes above: fewer of them)
@settings(SETTINGS, max_examples=100)
@given(valid_specs())
def test_ir_is_deterministic(doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    a, b = check_text(text, "a.yaml"), check_text(text, "b/other.yaml")
    assert a.ok, [d.message for d in a.diagnostics if d.is_error]
    assert a.pipeline.to_json() == b.pipeline.to_json()
    assert a.pipeline.digest() == b.pipeline.digest()
    # order of steps in the file does not change the meaning, only the tie-breaking of the order
    assert [s.name for s in a.pipeline.steps][0] == "s0" == next(iter(doc["steps"]))
