"""Kubernetes mode under the real cncf-kubernetes provider: the DAGs load, and each step's pod
(built, not run: no cluster) runs `pipespec exec` with the right image, resources and secrets.

It needs a second Airflow venv (`airflow-k8s`: the provider adds ~150 MB and ~2 s to every parse,
so the plain `airflow` venv stays without it); built once and cached like the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import ROOT

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.base import CompileOptions
from pipespec.frontend import check_text, load_spec

sys.path.insert(0, str(ROOT / "tests" / "tooling"))
import envs  # noqa: E402

pytestmark = pytest.mark.slow

SPEC = """pipespec: 1
name: pods
secrets:
  token: {kubernetes: creds/token, env: API_TOKEN}
params:
  n: {type: int, default: 2, maximum: 9}
defaults:
  resources: {cpu: 2, memory: 3Gi}
steps:
  prep:
    run: echo prep
    resources: {cpu: 0.5, memory: 512Mi, gpu: 1}
    env: {TOKEN: "${{ secrets.token }}"}
    outputs: {data: dataset}
  fit:
    foreach: [a, b]
    run: echo fit
    needs: [prep]
finally:
  done:
    run: echo "${{ run.status }}"
targets:
  airflow: {operator: kubernetes, image: ghcr.io/acme/steps:1, namespace: ml, artifact_root: s3://b/p,
            spec_path: /app/pipeline.yaml}
"""


def test_pods(tmp_path):
    res = check_text(SPEC, "pods.yaml")
    assert res.ok
    r = AirflowBackend().compile(res.pipeline, CompileOptions("pods.yaml"))
    assert r.ok and not r.diagnostics
    (tmp_path / "pods.py").write_text(r.text)
    targets_all = ROOT / "tests" / "cases" / "ok" / "targets_all.yaml"
    r2 = AirflowBackend().compile(load_spec(str(targets_all)).pipeline, CompileOptions(str(targets_all)))
    (tmp_path / "targets_all.py").write_text(r2.text)

    env_dir = envs.ensure("airflow-k8s", quiet=True)
    p = subprocess.run([str(envs.env_python(env_dir)), str(ROOT / "tests" / "tooling" / "check_airflow_pods.py"),
                        str(tmp_path)], capture_output=True, text=True, timeout=300,
                       cwd=ROOT / "tests" / "tooling")
    rep = json.loads(p.stdout)
    assert rep["ok"], rep["errors"]
    assert not rep["warnings"]
    prep = rep["pods"]["pods.prep"]
    assert prep["image"] == "ghcr.io/acme/steps:1" and prep["namespace"] == "ml" and prep["xcom_sidecar"]
    assert prep["command"] == ["pipespec"]
    args = prep["args"]
    assert args[:4] == ["exec", "/app/pipeline.yaml", "--step", "prep"]
    opt = dict(zip(args[4::2], args[5::2]))
    assert opt["--artifact-root"] == "s3://b/p" and opt["--result-json"] == "/airflow/xcom/return.json"
    assert json.loads(opt["--params-json"]) == {"n": 2}
    assert prep["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert prep["limits"] == {"memory": "512Mi", "nvidia.com/gpu": "1"}
    assert prep["env_from_secrets"] == ["API_TOKEN=creds/token"]
    assert rep["pods"]["pods.done"]["requests"] == {"cpu": "2", "memory": "3Gi"}
    # the spec as the worker finds it: relative to the project root (the git top level), never
    # the compiling machine's absolute path (issue 12)
    assert rep["pods"]["targets-all.one"]["args"][1] == str(targets_all.relative_to(ROOT))
