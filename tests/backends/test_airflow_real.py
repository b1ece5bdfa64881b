"""The generated DAGs under the real Apache Airflow 3 (its own cached venv, tests/tooling).

1. Every example and every tests/cases/ok spec (plus a 1000-step chain) loads in one DagBag
   with no import error and no warning.
2. The churn example runs end to end with `airflow dags test` twice (CI budget: two runs, one
   venv): default params deploy the model, min_auc=0.99 skips deploy and monitor; notify runs
   both times. Its metrics equal those of `pipespec run` with the same params.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

from airflow_support import CHURN_SPEC, compile_dag, copy_churn, local_metrics, local_run
from support import ROOT, example_specs, ok_cases

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.base import CompileOptions
from pipespec.frontend import check_text, load_spec

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
import verify  # noqa: E402  (tests/tooling/verify.py)

pytestmark = pytest.mark.slow
_compile = compile_dag


def _chain(n: int) -> str:
    lines = ["pipespec: 1", f"name: chain{n}", "params:", "  n: {type: int, default: 1}", "steps:"]
    for i in range(n):
        lines.append(f"  s{i}:")
        if i % 10 == 5:
            lines.append("    if: ${{ params.n > 0 }}")
        lines.append(f"    run: echo {i}")
        if i:
            lines.append(f"    needs: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def test_every_spec_loads_in_a_dagbag(tmp_path):
    expected = {}
    kubernetes = []
    for spec in example_specs() + ok_cases():
        res = load_spec(str(spec))
        if res.pipeline.target("airflow").get("operator") == "kubernetes":
            kubernetes.append(spec)      # needs the cncf-kubernetes provider: test_airflow_k8s.py
            continue
        name = spec.stem if spec.parent.name == "ok" else spec.parent.name
        _compile(spec, tmp_path / f"{name}.py")
        expected[res.pipeline.name] = res.pipeline
    big = check_text(_chain(1000), "chain.yaml").pipeline
    (tmp_path / "chain1000.py").write_text(AirflowBackend().compile(big, CompileOptions("chain.yaml")).text)
    expected[big.name] = big

    rep = verify.airflow_check(tmp_path)
    assert rep["ok"], rep["errors"]
    assert not rep["import_errors"] and not rep["captured_warnings"] and not rep["warnings"]
    assert set(rep["dags"]) == set(expected)
    for dag_id, pipe in expected.items():
        tasks = rep["dags"][dag_id]["tasks"]
        for st in pipe.all_steps:
            assert st.name in tasks, (dag_id, st.name)
            t = tasks[st.name]
            assert t["retries"] == st.retries.limit
            assert t["mapped"] == (st.foreach is not None)
            # a finally: step is a teardown task (not counted for the run's state); a step is not
            assert t["is_teardown"] == st.is_finally and not t["is_setup"], (dag_id, st.name)
            if st.is_finally:
                assert t["trigger_rule"] == "all_done_setup_success" and not t["on_failure_fail_dagrun"]
            if st.condition is not None and st.condition.template is not None:
                gate = tasks[f"{st.name}__if"]
                assert gate["operator"] == "ShortCircuitOperator" and st.name in gate["downstream"]
            if st.foreach is not None and st.foreach.template is not None:
                assert tasks[f"{st.name}__foreach"]["operator"] == "PythonOperator"
        params = rep["dags"][dag_id]["params"]
        assert set(params) == {p.name for p in pipe.params}
    churn = rep["dags"]["churn"]
    assert churn["timetable"] == "CronTriggerTimetable" and churn["catchup"] is False
    assert churn["params"]["rows"]["schema"] == {"type": "integer", "minimum": 100, "description": "Customers to generate"} \
        or churn["params"]["rows"]["schema"]["minimum"] == 100
    assert churn["tasks"]["notify"]["upstream"] == sorted(
        ["deploy", "evaluate", "ingest", "monitor", "pipespec__start", "prepare", "train", "train__foreach"])
    assert churn["tasks"]["notify"]["downstream"] == ["finally__succeeded", "pipespec__finish"] and "run__failed" not in churn["tasks"]
    # the example's notify:/metrics:/tracking: a start task before every step, a finish teardown
    assert not any(t["is_teardown"] for name, t in churn["tasks"].items() if name not in ("notify", "pipespec__finish"))
    assert churn["tasks"]["pipespec__finish"]["is_teardown"]
    # the one leaf after the teardowns: a normal task (so it counts for the run's state) that
    # needs every finally task to succeed, and does nothing itself
    done = churn["tasks"]["finally__succeeded"]
    assert done["operator"] == "EmptyOperator" and done["trigger_rule"] == "all_success"
    assert done["upstream"] == ["notify"] and done["downstream"] == [] and not done["is_setup"]
    assert len(rep["dags"]["chain1000"]["tasks"]) == 1100


# -- end to end --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def churn_project(tmp_path_factory):
    """A copy of the churn example (no run store), and its DAG compiled with the spec path
    relative to the project, as a user would from the checkout root."""
    base = tmp_path_factory.mktemp("airflow-e2e")
    proj = base / "proj"
    dag = base / "churn.py"
    _compile(copy_churn(proj), dag, CHURN_SPEC)
    return base, proj, dag


def _airflow_run(base, proj, dag, conf, name, monkeypatch):
    monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(proj))
    rep = verify.airflow_run(dag, "churn", conf, workdir=base / name, with_pipespec=True, timeout=600)
    assert rep["returncode"] is not None, rep
    return rep


def _local_metrics(proj: pathlib.Path, store: pathlib.Path, params: dict) -> dict:
    return local_metrics(local_run(proj / CHURN_SPEC, store, params)["run_dir"])


def test_churn_end_to_end(churn_project, monkeypatch, tmp_path):
    base, proj, dag = churn_project
    # the secret reaches the step as an environment variable, from an Airflow Variable
    monkeypatch.setenv("AIRFLOW_VAR_SLACK_WEBHOOK", "https://hooks.example/T000/B000/not-in-any-output")
    rep = _airflow_run(base, proj, dag, {}, "default", monkeypatch)
    states = rep["states"]
    assert states == {
        "ingest": "success", "prepare": "success", "train__foreach": "success",
        "train[0]": "success", "train[1]": "success", "evaluate": "success",
        "deploy__if": "success", "deploy": "success", "monitor": "success",
        "notify": "success", "finally__succeeded": "success",
        "pipespec__start": "success", "pipespec__finish": "success",
    }, rep.get("output_tail")
    x = rep["xcom"]
    assert x["train[0]"]["return_value"]["values"] == {"name": "logreg"}
    assert x["train[1]"]["return_value"]["values"] == {"name": "forest"}
    assert x["deploy"]["return_value"]["values"]["version"] == "v1"
    log = pathlib.Path(rep["log"]).read_text(errors="replace")
    assert "Slack webhook configured" in log and "not-in-any-output" not in dag.read_text()

    # the same metrics as the local runner
    local = _local_metrics(proj, tmp_path / "store", {})
    assert x["evaluate"]["return_value"]["metrics"]["metrics"] == local["evaluate"]
    assert x["monitor"]["return_value"]["metrics"]["report"] == local["monitor"]

    # flip the gate: deploy and what needs it are skipped, not failed; notify still runs
    monkeypatch.delenv("AIRFLOW_VAR_SLACK_WEBHOOK")
    rep2 = _airflow_run(base, proj, dag, {"min_auc": 0.99}, "gate", monkeypatch)
    assert rep2["states"] == {**states, "deploy": "skipped", "monitor": "skipped"}, rep2.get("output_tail")
    assert rep2["xcom"]["evaluate"]["return_value"]["metrics"] == x["evaluate"]["return_value"]["metrics"]
    assert "finished with status succeeded" in pathlib.Path(rep2["log"]).read_text(errors="replace")
