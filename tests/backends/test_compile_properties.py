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

    # (operator: kubernetes needs the cncf provider: its env and checks are test_airflow_k8s.py's)
    texts = [t for t in batch["airflow"] if "KubernetesPodOperator" not in t]
    for i, text in enumerate(texts):
        (tmp_path / f"gen_{i}.py").write_text(text, encoding="utf-8")
    rep = verify.airflow_check(tmp_path)
    assert rep["ok"], rep["errors"]
    assert not rep["import_errors"] and len(rep["dags"]) == len(texts) > 0


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


# -- byte-identical on every machine: no dependence on the interpreter's string hashing -------------
SEED_SCRIPT = """
import hashlib, json, pathlib, sys
from pipespec import backends
from pipespec.backends.base import CompileOptions
from pipespec.frontend import check_text
out = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    pipe = check_text(path.read_text(encoding="utf-8"), "ml/pipeline.yaml").pipeline
    out[path.name] = {"ir": pipe.digest()}
    for target in %r:
        r = backends.get(target)().compile(pipe, CompileOptions(spec_path="ml/pipeline.yaml"))
        out[path.name][target] = hashlib.sha256((r.text or "").encode()).hexdigest()
print(json.dumps(out, sort_keys=True))
""" % (TARGETS,)


def test_output_does_not_depend_on_the_hash_seed(tmp_path):
    """Compiled in two interpreters with different PYTHONHASHSEED (set and dict orders of strings
    differ between them), every generated spec gives the same IR digest and the same files."""
    import subprocess
    import sys

    n = [0]

    @settings(max_examples=15, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(valid_specs())
    def write(doc):
        (tmp_path / f"spec_{n[0]:02d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        n[0] += 1
    write()
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = subprocess.run([sys.executable, "-c", SEED_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append(r.stdout)
    assert n[0] >= 10 and runs[0] == runs[1]


# -- negative controls: each fast checker rejects a broken file -----------------------------------
def _hello(target: str) -> str:
    from support import ROOT

    from pipespec.frontend import load_spec

    pipe = load_spec(str(ROOT / "specs/hello/pipeline.yaml")).pipeline
    return backends.get(target)().compile(pipe, CompileOptions(spec_path="specs/hello/pipeline.yaml")).text


@pytest.mark.parametrize("target, breaks", [
    ("airflow", lambda t: t + "\nreturn 1\n"),            # parses; only compile() refuses it
    ("airflow", lambda t: t + "\nimport yaml\n"),
    ("kubeflow", lambda t: t.replace("name: comp-shout", "name: comp-nope", 1)),
    ("github", lambda t: t.replace("    runs-on:", "    runs_on:", 1)),                     # the schema
    ("github", lambda t: t.replace("permissions: {}", "permissions: write-all", 1)),
])
def test_fast_checkers_reject_a_broken_file(target, breaks):
    text = _hello(target)
    fastcheck.check(target, text)
    broken = breaks(text)
    assert broken != text
    with pytest.raises((AssertionError, SyntaxError)):
        fastcheck.check(target, broken)
