"""The issue's first failure under real Airflow (`airflow dags test`): a DAG compiled from the
parent of the project, its file in a dags folder inside the checkout, and no
$PIPESPEC_PROJECT_DIR on the worker: every task finds the spec (it looked for
.../proj/p/proj/p/pipeline.yaml before)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from support import ROOT

sys.path.insert(0, str(ROOT))
from tests.tooling import verify  # noqa: E402

pytestmark = pytest.mark.slow


def test_dag_compiled_from_the_parent_runs_without_the_variable(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "specs" / "hello", proj / "specs" / "hello",
                    ignore=shutil.ignore_patterns(".pipespec", "__pycache__"))
    subprocess.run(["git", "init", "-q", str(proj)], check=True, capture_output=True, timeout=60)
    dag = tmp_path / "hello.py"
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "proj/specs/hello/pipeline.yaml",
                        "--target", "airflow", "-o", str(dag)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert '\nSPEC = "specs/hello/pipeline.yaml"\n' in dag.read_text()
    monkeypatch.delenv("PIPESPEC_PROJECT_DIR", raising=False)
    # run_airflow.py copies the DAG into <workdir>/dags: a dags folder inside the checkout
    rep = verify.airflow_run(dag, "hello", {"who": "paths"}, workdir=proj / "airflow", with_pipespec=True,
                             timeout=600)
    assert rep["states"] == {"greet": "success", "shout": "success"}, rep.get("output_tail")
    assert rep["xcom"]["greet"]["return_value"]["values"] == {"message": "hello paths"}
