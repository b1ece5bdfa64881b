"""End to end: the churn example with pandas and scikit-learn, run, re-run cached, one param changed."""

import shutil
from pathlib import Path

import pytest

from runner_support import Spec

pytest.importorskip("sklearn")
pytest.importorskip("pandas")

EXAMPLE = Path(__file__).resolve().parents[2] / "specs" / "churn"
SMALL = ("-p", "rows=800", "-p", "n_estimators=20")


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    d = tmp_path_factory.mktemp("churn")
    for f in ("pipeline.yaml", "steps.py"):
        shutil.copy(EXAMPLE / f, d / f)
    s = Spec.__new__(Spec)
    s.dir, s.path = d, d / "pipeline.yaml"
    return s


def fresh(s):
    return {k for k, v in s.executions().items() if v["status"] == "succeeded" and not v["cache_hit"]}


@pytest.mark.slow
def test_churn_end_to_end(churn):
    r = churn.run(*SMALL, check=0)
    assert "metrics:" in r.stdout and "evaluate.metrics: " in r.stdout and "auc=" in r.stdout
    ex = churn.executions()
    assert {k: v["status"] for k, v in ex.items()} == {
        "ingest": "succeeded", "prepare": "succeeded", "train[0]": "succeeded", "train[1]": "succeeded",
        "evaluate": "succeeded", "deploy": "succeeded", "monitor": "succeeded", "notify": "succeeded"}
    assert (churn.dir / "registry" / "churn" / "LATEST").exists()

    # nothing changed: fully cached (only the finally: notification runs, as on every run)
    churn.run(*SMALL, check=0)
    assert fresh(churn) == {"notify"}

    # one param: only the steps that read it (and what consumes changed outputs)
    r = churn.run(*SMALL, "-p", "psi_threshold=0.25", "--explain", check=0)
    assert fresh(churn) == {"monitor", "notify"}
    r = churn.run(*SMALL, "-p", "test_size=0.25", "--explain", check=0)
    assert "param test_size changed (0.2 -> 0.25)" in r.stdout
    assert fresh(churn) == {"prepare", "train[0]", "train[1]", "evaluate", "deploy", "monitor", "notify"}
    ex = churn.executions()
    assert ex["ingest"]["cache_hit"] == 1

    # the AUC gate: deploy and monitor are skipped
    r = churn.run(*SMALL, "-p", "min_auc=0.99", check=0)
    ex = churn.executions()
    assert ex["deploy"]["status"] == "skipped" and ex["monitor"]["status"] == "skipped"
    assert ex["notify"]["status"] == "succeeded"
    assert "skipped (if: false)" in r.stdout
