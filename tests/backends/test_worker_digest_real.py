"""The worker contract under real Apache Airflow 3 (`airflow dags test`, its cached venv): a DAG
whose spec changed after compiling fails its task at once, naming both digests, with no retry;
a step's own failure is still retried."""

from __future__ import annotations

import pathlib
import sys

import pytest

from airflow_support import compile_dag
from support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
import verify  # noqa: E402  (tests/tooling/verify.py)

pytestmark = pytest.mark.slow

PIPE = """\
pipespec: 1
name: stale
steps:
  a:
    run: RUN
    retries: {limit: 1, delay: 1s}
"""


def _run(tmp_path, monkeypatch, run: str, edited: str | None):
    proj = tmp_path / "proj"
    proj.mkdir()
    spec = proj / "pipeline.yaml"
    spec.write_text(PIPE.replace("RUN", run))
    dag = tmp_path / "stale.py"
    compile_dag(spec, dag, "pipeline.yaml")
    if edited is not None:
        spec.write_text(PIPE.replace("RUN", edited))
    monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(proj))
    rep = verify.airflow_run(dag, "stale", {}, workdir=tmp_path / "w", with_pipespec=True, timeout=300)
    assert rep["returncode"] is not None, rep
    return rep, pathlib.Path(rep["log"]).read_text(errors="replace")


def test_changed_spec_fails_at_once_naming_both_digests(tmp_path, monkeypatch):
    rep, log = _run(tmp_path, monkeypatch, "echo hi", "echo changed")
    assert rep["states"] == {"a": "failed"}, rep.get("output_tail")
    assert rep["tries"]["a"] == 1, rep["tries"]                # AirflowFailException: no retry
    assert "the spec changed after compiling; recompile" in log
    assert log.count("sha256:") >= 2 and "AirflowFailException" in log


def test_a_failing_step_is_still_retried(tmp_path, monkeypatch):
    rep, log = _run(tmp_path, monkeypatch, "exit 3", None)
    assert rep["states"] == {"a": "failed"}, rep.get("output_tail")
    assert rep["tries"]["a"] == 2, rep["tries"]
