"""Airflow's kubernetes operator with notify:/metrics:/tracking:, its pods run as containers of the
spec's own image (`pipespec image`, the mlflow extra in its requirements.txt), as Kubernetes would
run them: the pod's ``command`` as the entrypoint, its ``args``, its environment (plain values and
the Kubernetes secrets' values by reference), the XCom volume mounted at /airflow/xcom. The pods
are the ones the real provider builds from the DAG (tests/tooling/check_airflow_pods.py). What no
machine here can do is schedule them: no cluster, none faked — the test starts each container in
the order Airflow would (tests/backends/test_airflow_k8s_observe.py has the same two runs with
the pods' commands as plain processes)."""

from __future__ import annotations

import sys
import time
import tomllib

import pytest

from support import ROOT

from docker_support import BUILD_TIMES, pipespec

sys.path.insert(0, str(ROOT / "tests" / "backends"))
from test_airflow_k8s_observe import pod_env, two_runs  # noqa: E402

pytestmark = pytest.mark.slow

LABEL = "org.pipespec.run=airflow-k8s-pods"


def _mlflow_extra() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return "\n".join(tomllib.load(f)["project"]["optional-dependencies"]["mlflow"]) + "\n"


def test_the_boundary_and_step_pods_in_the_specs_image(docker_daemon, base_image, tmp_path):
    built = {}

    def build(proj):
        (proj / "requirements.txt").write_text(_mlflow_extra())
        t0 = time.monotonic()
        r = pipespec("image", str(proj / "pipeline.yaml"), "--base", base_image, "--no-kfp")
        assert r.returncode == 0, r.stderr[-3000:]
        BUILD_TIMES["airflow k8s pods image"] = time.monotonic() - t0
        built["tag"] = r.stdout.strip()
        return built["tag"]

    def in_container(pod, proj, xcom, secrets):
        assert pod["image"] == built["tag"] and pod["command"] == ["pipespec"]
        xcom.parent.mkdir(parents=True, exist_ok=True)
        argv = ["run", "--rm", "--init", "--label", LABEL, "--network", "host",
                # the MLflow store and the file:// artifact root, at the same paths as here
                "--mount", f"type=bind,source={tmp_path},target={tmp_path}",
                "--mount", f"type=bind,source={xcom.parent},target=/airflow/xcom",
                "--entrypoint", pod["command"][0]]
        for k, v in pod_env(pod, secrets).items():
            argv += ["--env", f"{k}={v}"]
        return docker_daemon.docker(*argv, pod["image"], *pod["args"], timeout=300, check=False)

    two_runs(tmp_path, in_container, build)
    left = docker_daemon.docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    assert left == []
