"""Kubeflow output verified by the real thing (tests/tooling, kfp 2.17.3 in its own venv):

- strict protobuf parse of the document and of its deploymentSpec, kfp's loader, and the
  semantic + cel-python checks of tests/tooling/check_kfp.py, for every example and valid case;
- the call:-only examples (churn, sweep) executed by kfp.local's own orchestrator from the
  emitted YAML, compared value by value and metric by metric with ``pipespec run``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT, example_specs, ok_cases

from pipespec.backends.base import CompileOptions
from pipespec.backends.kubeflow import KubeflowBackend
from pipespec.frontend import load_spec

sys.path.insert(0, str(ROOT))
from tests.tooling import verify  # noqa: E402

pytestmark = pytest.mark.slow

CHECKED_CASES = ["conditions", "foreach_literal", "foreach_param_fanin", "params_all_types",
                 "resources_images", "secrets_finally", "needs_diamond"]


def _compile(spec, out, spec_path=None) -> str:
    pipe = load_spec(str(spec)).pipeline
    res = KubeflowBackend().compile(pipe, CompileOptions(spec_path=spec_path or str(spec)))
    assert res.ok, [f"{d.code} {d.message}" for d in res.diagnostics]
    out.write_text(res.text, encoding="utf-8")
    return res.text


@pytest.mark.parametrize("spec", example_specs() + [p for p in ok_cases() if p.stem in CHECKED_CASES],
                         ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_kfp_accepts_it(spec, tmp_path):
    out = tmp_path / "pipeline.yaml"
    _compile(spec, out)
    rep = verify.kfp_check(out)
    assert rep["ok"], rep["errors"]
    assert rep["warnings"] == []
    assert rep["pipeline_name"] == load_spec(str(spec)).pipeline.name


def test_the_checker_catches_a_broken_condition(tmp_path):
    """The CEL check is what stands between a typo and a silently skipped branch in kfp.local."""
    out = tmp_path / "pipeline.yaml"
    text = _compile(ROOT / "specs/churn/pipeline.yaml", out)
    out.write_text(text.replace("['auc'] >=", "['auc'] >>"), encoding="utf-8")
    rep = verify.kfp_check(out)
    assert not rep["ok"] and any(e.startswith("cel:") for e in rep["errors"])


# -- end to end ------------------------------------------------------------------------------------
def _local_run(spec, store, params: dict) -> dict:
    """(step, index) -> {"values", "metrics"} of a ``pipespec run``."""
    cmd = [sys.executable, "-m", "pipespec", "run", str(spec), "--store", str(store), "--progress", "plain"]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    from pipespec.runner.records import Records

    rec = Records(str(store))
    try:
        run = rec.runs(limit=1)[0]
        rows = rec.executions(run["id"])
        return {(row["step"], None if row["item_index"] < 0 else row["item_index"]): {"status": row["status"],
                                                    "values": json.loads(row["values_json"] or "{}"),
                                                    "metrics": json.loads(row["metrics_json"] or "{}")}
                for row in rows}
    finally:
        rec.close()


def _kfp_task(report: dict, step: str, index) -> dict:
    """The kfp.local outputs of one step instance: its folder under the pipeline root."""
    name = step.replace("_", "-")
    tasks = report["tasks"]
    if index is None:
        return tasks.get(name)
    keys = sorted(k for k in tasks if k.endswith("/" + name) and f"iteration-{index}/" in k)
    assert len(keys) == 1, (step, index, sorted(tasks))
    return tasks[keys[0]]


def _kfp_value(entry: dict, name: str, typ: str):
    uri = entry["artifacts"][name][0]["uri"]
    text = open(uri, encoding="utf-8").read()
    return text if typ in ("string", "path") else json.loads(text)


@pytest.mark.parametrize("example,params", [
    ("sweep", {}),
    ("churn", {"rows": 1500}),
])
def test_kfp_local_run_matches_pipespec_run(example, params, tmp_path, monkeypatch):
    spec = ROOT / "specs" / example / "pipeline.yaml"
    pipe = load_spec(str(spec)).pipeline
    if any(p.name == "registry" for p in pipe.params):       # churn deploys into a folder
        params = {**params, "registry": str(tmp_path / "registry")}
    out = tmp_path / "pipeline.yaml"
    # kfp.local runs every task in its own working folder: the file names the spec relative to
    # the project root, and $PIPESPEC_PROJECT_DIR says where that is (the default install
    # line runs too, and finds pipespec and kfp already installed)
    text = _compile(spec, out)
    assert f"run_task('specs/{example}/pipeline.yaml'," in text and "pip install" in text
    monkeypatch.setenv("PIPESPEC_PROJECT_DIR", str(ROOT))
    rep = verify.kfp_local_run(out, params, with_pipespec=True, workdir=tmp_path / "kfp")
    assert rep["ok"], rep["errors"]
    local = _local_run(spec, tmp_path / "store", params)

    compared = 0
    for (step_name, index), got in sorted(local.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or 0)):
        step = pipe.step(step_name)
        entry = _kfp_task(rep, step_name, index)
        if got["status"] == "skipped":
            assert entry is None, f"{step_name} ran on kfp.local but was skipped locally"
            continue
        assert entry is not None, f"{step_name}[{index}] did not run on kfp.local"
        for o in step.value_outputs:
            assert _kfp_value(entry, o.name, o.type) == got["values"][o.name], (step_name, index, o.name)
            compared += 1
        for o in step.artifact_outputs:
            if o.type == "metrics":
                uri = entry["artifacts"][o.name][0]["uri"]
                with open(uri, encoding="utf-8") as f:
                    assert json.load(f) == got["metrics"][o.name], (step_name, index, o.name)
                # and KFP shows them: the artifact's metadata holds every number
                assert entry["artifacts"][o.name][0]["metadata"] == {
                    k: v for k, v in got["metrics"][o.name].items() if isinstance(v, (int, float))}
                compared += 1
    assert compared >= (4 if example == "churn" else 10)
    if example == "churn":
        # the condition held and the exit handler ran with the run's final status
        assert _kfp_task(rep, "deploy", None) is not None
        assert _kfp_task(rep, "notify", None) is not None
        assert "notify: pipeline churn run" in rep["_stderr"]
        assert "finished with status succeeded" in rep["_stderr"]


def test_default_install_is_what_kfp_writes_for_packages_to_install():
    """The container's default install (pinned pipespec, then kfp --no-deps) is the text kfp's
    own component factory writes for a lightweight component with packages_to_install."""
    from tests.tooling import envs

    from pipespec import __version__
    from pipespec.backends.kubeflow_executor import install_command

    py = envs.env_python(envs.ensure("kfp"))
    code = ("import json; from kfp.dsl import component_factory as f; print(json.dumps("
            f"f._get_packages_to_install_command(packages_to_install=['pipespec=={__version__}'])))")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    sdk = json.loads(out)
    assert sdk[:2] == ["sh", "-c"]
    assert sdk[2].rstrip("\n") == install_command({}) + ' && "$0" "$@"'
