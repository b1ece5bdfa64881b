"""The compile property (house style 18): every valid generated spec (tests/strategies.py) compiles
on every target, or the target refuses it only with positioned target codes (E600/E601, with
W600/W601 beside them) — never a traceback; and every compiled file passes its target's fast
checker (tests/fastcheck.py) and is byte-identical when compiled again.

The fast tier draws a fixed, derandomized sample; the slow tier draws a bigger one and hands a
batch of the outputs to the real tools (Airflow's DagBag, kfp's protobuf/loader + cel-python,
GitHub's parser + check-jsonschema + actionlint).
"""

from __future__ import annotations

import os

import fastcheck
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from strategies import valid_specs

from pipespec import backends
from pipespec.backends.base import CompileOptions, CompileResult
from pipespec.frontend import check_text

TARGETS = ("airflow", "kubeflow", "github")
TARGET_CODES = {"E600", "E601", "W600", "W601"}
SPEC = "ml/pipeline.yaml"

# reproducible in CI: the same examples on every run, nothing read from or written to a database
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
BIG = settings(max_examples=400, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])


def compile_everywhere(doc: dict) -> dict[str, CompileResult]:
    """Compile ``doc`` on every target; assert the property on each result; return the results."""
    text = yaml.safe_dump(doc, sort_keys=False)
    lines = text.count("\n") + 1
    first, again = check_text(text, SPEC), check_text(text, SPEC)
    assert first.ok, [f"{d.code} {d.message}" for d in first.diagnostics if d.is_error]
    out = {}
    for target in TARGETS:
        backend = backends.get(target)
        r = backend().compile(first.pipeline, CompileOptions(spec_path=SPEC))
        for d in r.diagnostics:
            assert d.code in TARGET_CODES, (target, d.code, d.message)
            assert d.message.startswith(f"{target}: "), (target, d.message)
            assert d.span is not None and d.span.file == SPEC and 1 <= d.span.line <= lines, (target, d.span)
        if r.ok:
            fastcheck.check(target, r.text)
            assert backend().compile(again.pipeline, CompileOptions(spec_path=SPEC)).text == r.text, target
        else:
            assert r.text is None and {d.code for d in r.diagnostics if d.is_error} <= {"E600", "E601"}
        out[target] = r
    return out


@FAST
@given(valid_specs())
def test_every_valid_spec_compiles_on_every_target(doc):
    compile_everywhere(doc)


@pytest.mark.slow
@BIG
@given(valid_specs())
def test_many_valid_specs_compile_on_every_target(doc):
    compile_everywhere(doc)


# -- the real tools over a batch (slow) ------------------------------------------------------------
BATCH = int(os.environ.get("PIPESPEC_PROPERTY_BATCH", "12"))


def _batch() -> dict[str, list[str]]:
    """Compiled texts of BATCH generated specs per target (each spec named apart, for the DagBag)."""
    texts: dict[str, list[str]] = {t: [] for t in TARGETS}

    @settings(max_examples=BATCH, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(valid_specs())
    def collect(doc):
        doc = {**doc, "name": f"gen-{sum(map(len, texts.values()))}"}
        for target, r in compile_everywhere(doc).items():
            if r.ok:
                texts[target].append(r.text)
    collect()
    return texts


@pytest.fixture(scope="module")
def batch():
    return _batch()


@pytest.mark.slow
def test_airflow_dagbag_loads_a_batch(batch, tmp_path):
    from tooling import verify

    for i, text in enumerate(batch["airflow"]):
        (tmp_path / f"gen_{i}.py").write_text(text, encoding="utf-8")
    rep = verify.airflow_check(tmp_path)
    assert rep["ok"], rep["errors"]
    assert not rep["import_errors"] and len(rep["dags"]) == len(batch["airflow"])


@pytest.mark.slow
def test_kfp_accepts_a_batch(batch, tmp_path):
    from tooling import verify

    for i, text in enumerate(batch["kubeflow"]):
        path = tmp_path / f"gen_{i}.yaml"
        path.write_text(text, encoding="utf-8")
        rep = verify.kfp_check(path)
        assert rep["ok"] and rep["warnings"] == [], (path.name, rep["errors"], rep["warnings"], text)


@pytest.mark.slow
def test_github_tools_accept_a_batch(batch, tmp_path):
    from tooling import verify

    for i, text in enumerate(batch["github"]):
        path = tmp_path / f"gen_{i}.yml"
        path.write_text(text, encoding="utf-8")
        rep = verify.github_check(path)
        assert rep["ok"], (path.name, rep["errors"], text)
