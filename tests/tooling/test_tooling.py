"""Tests of the target-tool verifiers on hand-written / SDK-compiled fixtures.

All tests that touch a real tool are marked slow (first run builds the cached envs: ~1 min).
Run: python -m pytest tests/tooling -m slow
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from . import envs, verify

FIX = Path(__file__).resolve().parent / "fixtures"


# ---------------------------------------------------------------- envs (fast, no build)
def test_env_key_changes_with_requirements(tmp_path, monkeypatch):
    req = tmp_path / "req.txt"
    req.write_text("foo==1\n")
    monkeypatch.setitem(envs.ENVS, "tmp-env", {"requirements": req})
    monkeypatch.setenv("PIPESPEC_TOOLING_DIR", str(tmp_path / "cache"))
    k1, p1 = envs.env_key("tmp-env"), envs.env_path("tmp-env")
    assert envs.env_key("tmp-env") == k1
    req.write_text("foo==2\n")
    assert envs.env_key("tmp-env") != k1 and envs.env_path("tmp-env") != p1
    assert str(envs.env_path("tmp-env")).startswith(str(tmp_path / "cache"))


def test_every_env_has_its_files():
    for name, spec in envs.ENVS.items():
        assert spec["requirements"].is_file(), name
        if spec.get("npm"):
            for f in envs.NPM_FILES:
                assert (spec["npm"] / f).is_file(), (name, f)


@pytest.mark.slow
def test_ensure_builds_once_under_concurrency(tmp_path, monkeypatch):
    req = tmp_path / "req.txt"
    req.write_text("# nothing but pip itself\n")
    monkeypatch.setitem(envs.ENVS, "tiny", {"requirements": req})
    monkeypatch.setenv("PIPESPEC_TOOLING_DIR", str(tmp_path / "cache"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(envs.ensure("tiny", quiet=True)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    path = results[0]
    stamp = path / envs.STAMP
    assert stamp.is_file() and envs.env_python(path).exists()
    built_at = stamp.stat().st_mtime
    assert envs.ensure("tiny", quiet=True) == path and stamp.stat().st_mtime == built_at


# ---------------------------------------------------------------- Airflow
@pytest.mark.slow
def test_airflow_check_sample():
    rep = verify.airflow_check(FIX / "airflow_sample.py")
    assert rep["ok"], rep["errors"]
    dag = rep["dags"]["pipespec_tooling_sample"]
    t = dag["tasks"]
    assert set(t) == {"make_items", "square", "total", "gate", "after_gate", "boom", "cleanup"}
    assert t["square"]["mapped"] and t["square"]["retries"] == 2
    assert t["gate"]["operator"] == "ShortCircuitOperator"
    assert t["cleanup"]["trigger_rule"] == "all_done" and t["cleanup"]["upstream"] == ["boom"]
    assert dag["params"]["n"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 16}
    assert dag["params"]["n"]["default"] == 3
    assert dag["schedule"] is None and dag["timetable"] == "NullTimetable"


@pytest.mark.slow
@pytest.mark.parametrize("env_name, script", [("airflow", "check_airflow.py"),
                                              ("airflow-k8s", "check_airflow_pods.py")])
def test_airflow_checkers_leave_nothing_in_the_temp_dir(env_name, script, tmp_path):
    """Each call used to leave a pipespec-airflow-home-* folder (Airflow's SQLite db, logs) behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    py = envs.env_python(envs.ensure(env_name, quiet=True))
    env = {**verify.tool_environ(envs.env_path(env_name)), "TMPDIR": str(tmp)}
    r = subprocess.run([str(py), str(Path(verify.__file__).parent / script), str(FIX / "airflow_sample.py")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.stdout.lstrip().startswith("{"), r.stderr[-2000:]
    assert sorted(p.name for p in tmp.iterdir()) == []


@pytest.mark.slow
def test_airflow_check_reports_errors(tmp_path):
    (tmp_path / "deprecated.py").write_text(
        "import pendulum\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
        "with DAG('dep', schedule=None, start_date=pendulum.datetime(2024, 1, 1)):\n"
        "    BashOperator(task_id='a', bash_command='echo')\n")
    (tmp_path / "cycle.py").write_text(
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "with DAG('cyc', schedule=None):\n"
        "    a = EmptyOperator(task_id='a'); b = EmptyOperator(task_id='b'); a >> b >> a\n")
    (tmp_path / "removed_arg.py").write_text(
        "from airflow.sdk import DAG\nwith DAG('typ', schedule_interval=None):\n    pass\n")
    rep = verify.airflow_check(tmp_path)
    assert not rep["ok"] and rep["_returncode"] == 1
    text = "\n".join(rep["errors"])
    assert "Cycle detected" in text
    assert "schedule_interval" in text
    assert "deprecated" in text.lower() and "deprecated.py" in text


@pytest.mark.slow
def test_airflow_run_sample(tmp_path):
    rep = verify.airflow_run(FIX / "airflow_sample.py", "pipespec_tooling_sample",
                             {"n": 3, "go": False}, workdir=tmp_path)
    assert rep["returncode"] == 0, rep.get("output_tail")
    assert rep["states"] == {
        "make_items": "success", "square[0]": "success", "square[1]": "success",
        "square[2]": "success", "total": "success", "gate": "success",
        "after_gate": "skipped", "boom": "failed", "cleanup": "success",
    }
    assert rep["xcom"]["total"]["return_value"] == 5
    assert rep["xcom"]["square[2]"]["return_value"] == 4
    assert rep["xcom"]["make_items"]["return_value"] == [0, 1, 2]


@pytest.mark.slow
def test_airflow_run_rejects_bad_param(tmp_path):
    rep = verify.airflow_run(FIX / "airflow_sample.py", "pipespec_tooling_sample",
                             {"n": 99}, workdir=tmp_path)
    assert not rep["ok"] and rep["returncode"] != 0
    assert "ParamValidationError" in rep["output_tail"] or "ParamValidationError" in "".join(rep["errors"])


# ---------------------------------------------------------------- Kubeflow
@pytest.mark.slow
def test_kfp_sample_fixture_is_what_the_sdk_compiles(tmp_path):
    py = envs.env_python(envs.ensure("kfp", quiet=True))
    out = tmp_path / "sample.yaml"
    subprocess.run([str(py), str(FIX / "kfp_sample_pipeline.py"), str(out)], check=True,
                   capture_output=True)
    assert out.read_text() == (FIX / "kfp_sample.yaml").read_text(), \
        "re-run fixtures/kfp_sample_pipeline.py to refresh fixtures/kfp_sample.yaml"


@pytest.mark.slow
def test_kfp_check_sample():
    rep = verify.kfp_check(FIX / "kfp_sample.yaml")
    assert rep["ok"], rep["errors"]
    assert rep["warnings"] == []
    assert rep["pipeline_name"] == "pipespec-tooling-sample"
    assert rep["loaded_inputs"] == ["items", "n", "threshold"]


def _t(d, path):
    for k in path.split("/"):
        d = d[k]
    return d


EH = "components/comp-exit-handler-2/dag/tasks"
MUTATIONS = {
    "bad producer": (lambda d: _t(d, "root/dag/tasks/total/inputs/parameters/values/taskOutputParameter")
                     .update(producerTask="nope"), "semantic: ", "producer task 'nope'"),
    "bad output key": (lambda d: _t(d, f"{EH}/evaluate/inputs/artifacts/data/taskOutputArtifact")
                       .update(outputArtifactKey="dataz"), "semantic: ", "'dataz' is not in"),
    "missing input": (lambda d: _t(d, "components/comp-condition-3/dag/tasks/deploy/inputs/parameters")
                      .pop("total_value"), "semantic: ", "'total_value' of comp-deploy is not supplied"),
    "undeclared input": (lambda d: _t(d, "root/dag/tasks/total/inputs/parameters")
                         .update(extra={"runtimeValue": {"constant": 1}}), "semantic: ", "not declared"),
    "bad CEL": (lambda d: _t(d, f"{EH}/condition-3/triggerPolicy")
                .update(condition="inputs.parameter_values['x'] >= )"), "cel: ", "does not parse"),
    "CEL reads non-input": (lambda d: _t(d, f"{EH}/condition-3/triggerPolicy")
                            .update(condition="inputs.parameter_values['pipelinechannel--nope'] > 1"),
                            "cel: ", "not an input parameter of this task"),
    "unknown field": (lambda d: _t(d, "root/dag/tasks/total").update(retryPolicyy={}),
                      "proto: ", "retryPolicyy"),
    "unknown container field": (lambda d: _t(d, "deploymentSpec/executors/exec-total/container")
                                .update(imagee="x"), "deployment: ", "imagee"),
    "pipeline named like a component": (lambda d: d["pipelineInfo"].update(name="total"),
                                        "load: ", "would load that single component"),
    "cycle": (lambda d: _t(d, "root/dag/tasks/for-loop-1").update(dependentTasks=["total"]),
              "semantic: ", "cycle"),
    "unknown dependent task": (lambda d: _t(d, "root/dag/tasks/total").update(dependentTasks=["ghost"]),
                               "semantic: ", "'ghost', not a sibling"),
    "missing executor": (lambda d: d["components"]["comp-total"].update(executorLabel="exec-ghost"),
                         "semantic: ", "not in deploymentSpec.executors"),
    "unknown componentRef": (lambda d: _t(d, "root/dag/tasks/total/componentRef").update(name="comp-ghost"),
                             "semantic: ", "'comp-ghost' is not in components"),
    "bad itemInput": (lambda d: _t(d, "root/dag/tasks/for-loop-1/parameterIterator")
                      .update(itemInput="ghost"), "semantic: ", "itemInput 'ghost'"),
    "bad componentInputParameter": (
        lambda d: _t(d, "components/comp-for-loop-1/dag/tasks/square/inputs/parameters/x")
        .update(componentInputParameter="ghost"), "semantic: ", "componentInputParameter 'ghost'"),
    "bad placeholder": (lambda d: d["deploymentSpec"]["executors"]["exec-total"]["container"]["args"]
                        .append("{{$.inputs.parameters['ghost']}}"), "semantic: ", "placeholder"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_kfp_check_catches_mutation(name, tmp_path):
    base = yaml.safe_load((FIX / "kfp_sample.yaml").read_text())
    mutate, prefix, needle = MUTATIONS[name]
    doc = copy.deepcopy(base)
    mutate(doc)
    p = tmp_path / "mutated.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=True))
    rep = verify.kfp_check(p)
    assert not rep["ok"] and rep["_returncode"] == 1
    assert any(e.startswith(prefix) and needle in e for e in rep["errors"]), rep["errors"]


@pytest.mark.slow
def test_kfp_local_run_sample(tmp_path):
    rep = verify.kfp_local_run(FIX / "kfp_sample.yaml", {"n": 4, "threshold": 0.3, "items": [2, 3, 4]},
                               workdir=tmp_path)
    assert rep["ok"], rep["errors"]
    assert rep["outputs"] == {"Output": 29}
    tasks = rep["tasks"]
    assert tasks["total"]["parameters"] == {"Output": 29}
    assert tasks["for-loop-1-iteration-2/square"]["parameters"] == {"Output": 16}
    assert tasks["deploy"]["parameters"]["Output"] == "deployed score=0.4 total=29"
    assert tasks["evaluate"]["artifacts"]["metrics"][0]["metadata"] == {"score": 0.4}
    assert tasks["notify"]["parameters"]["Output"] == "pipeline finished: SUCCEEDED"


@pytest.mark.slow
def test_kfp_local_run_condition_false_skips_branch(tmp_path):
    rep = verify.kfp_local_run(FIX / "kfp_sample.yaml", {"threshold": 0.9}, workdir=tmp_path)
    assert rep["ok"], rep["errors"]
    assert "deploy" not in rep["tasks"] and "evaluate" in rep["tasks"]
    assert rep["outputs"] == {"Output": 14}  # default items [1, 2, 3]


# ---------------------------------------------------------------- GitHub Actions
@pytest.mark.slow
def test_github_check_good():
    rep = verify.github_check(FIX / "gha_good.yml")
    assert rep["ok"], rep["errors"]
    assert set(rep["checkers"]) == {"parser", "schema", "actionlint"}
    assert {j["id"]: j["needs"] for j in rep["jobs"]}["deploy"] == ["prepare", "square"]


@pytest.mark.slow
def test_github_check_bad():
    rep = verify.github_check(FIX / "gha_bad.yml")
    assert not rep["ok"]
    c = {n: "\n".join(r["errors"]) for n, r in rep["checkers"].items()}
    # unknown key: all three
    assert all("timeout-minute" in c[n] for n in ("parser", "schema", "actionlint"))
    # bad needs: GitHub's parser and actionlint (the JSON schema cannot know job ids)
    assert "biuld" in c["parser"] and "biuld" in c["actionlint"] and "biuld" not in c["schema"]
    # script injection: only actionlint
    assert "potentially untrusted" in c["actionlint"]
    assert "untrusted" not in c["parser"] + c["schema"]


@pytest.mark.slow
def test_act_run(tmp_path):
    rep = verify.act_run(FIX / "gha_run.yml", {"n": 3, "go": False}, workdir=tmp_path)
    assert rep["returncode"] == 1  # boom fails on purpose
    assert rep["jobs"] == {"prepare": "success", "square": "success", "deploy": "skipped",
                           "boom": "failure", "notify": "success"}
    assert rep["legs"]["square (item=2)"] == "success"
    assert rep["job_outputs"]["prepare"] == {"items": "[0, 1, 2]", "count": "3"}
    assert rep["job_outputs"]["notify"]["summary"] == "square:success deploy:skipped boom:failure"


@pytest.mark.slow
def test_act_run_if_true(tmp_path):
    rep = verify.act_run(FIX / "gha_run.yml", {"n": 1, "go": True}, workdir=tmp_path)
    assert rep["jobs"]["deploy"] == "success"
    assert list(k for k in rep["legs"] if k.startswith("square")) == ["square (item=0)"]


def test_the_system_tools_find_their_sbin_programs_whatever_the_callers_path(monkeypatch):
    """debootstrap runs chroot and dockerd runs runc from /usr/sbin: under CI's
    ``env -i PATH=/usr/local/bin:/usr/bin:/bin`` debootstrap failed ("Unable to execute target
    architecture") until the tooling put the sbin folders on its tools' PATH."""
    from .dockerd import system_env

    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    path = system_env(X="1")["PATH"].split(":")
    assert path[:3] == ["/usr/local/bin", "/usr/bin", "/bin"] and "/usr/sbin" in path and "/sbin" in path
    assert system_env(X="1")["X"] == "1"
    monkeypatch.setenv("PATH", "/opt/x:/usr/sbin")
    assert system_env()["PATH"].split(":").count("/usr/sbin") == 1
