"""Containers for real (slow tier): our own dockerd, the debootstrap base image, the images
``pipespec image`` builds, ``pipespec run --containers``, and kfp.local's DockerRunner running
the compiled Kubeflow spec task by task in containers. docs/containers.md has the numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import ROOT
from docker_support import BUILD_TIMES, pipespec

sys.path.insert(0, str(ROOT))
from tests.tooling import envs  # noqa: E402

pytestmark = pytest.mark.slow

CHURN = ROOT / "specs/churn/pipeline.yaml"
CHURN_PARAMS = {"rows": 500, "n_estimators": 20}


def _params(params: dict) -> list[str]:
    return [a for k, v in params.items() for a in ("-p", f"{k}={v}")]


def _records(store: Path) -> dict:
    """(step, index) -> {status, values, metrics} of the latest run in ``store``."""
    from pipespec.runner.records import Records

    rec = Records(str(store))
    try:
        run = rec.runs(limit=1)[0]
        return {(row["step"], None if row["item_index"] < 0 else row["item_index"]): {
            "status": row["status"], "values": json.loads(row["values_json"] or "{}"),
            "metrics": json.loads(row["metrics_json"] or "{}")} for row in rec.executions(run["id"])}
    finally:
        rec.close()


def _containers(d, *filters: str) -> list[str]:
    args = ["ps", "-aq"] + [a for f in filters for a in ("--filter", f)]
    return d.docker(*args).stdout.split()


def _spec(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(text)
    for name, body in (files or {}).items():
        (tmp_path / name).write_text(body)
    return spec


def test_the_base_image_runs_python(docker_daemon, base_image):
    r = docker_daemon.docker("run", "--rm", "--network", "host", base_image, "python3", "-c",
                             "import sys, venv, ensurepip; print(sys.version_info[:2] >= (3, 11))")
    assert r.stdout.strip() == "True"


def test_the_churn_image_has_pipespec_and_runs_exec_of_each_step(docker_daemon, churn_image, tmp_path):
    """The image built from the spec runs ``pipespec exec`` of every step, by the artifact-root
    convention, as a worker would; the image is cached: a second build changes nothing."""
    t0 = time.monotonic()
    r = pipespec("image", str(CHURN), "--base", "local/debian-python:bookworm")
    BUILD_TIMES["churn image [cached]"] = time.monotonic() - t0
    assert r.returncode == 0 and r.stdout.strip() == churn_image, r.stderr
    labels = json.loads(docker_daemon.docker("image", "inspect", "--format", "{{json .Config.Labels}}",
                                             churn_image).stdout)
    from pipespec import __version__

    assert labels["org.pipespec.version"] == __version__
    root = tmp_path / "root"
    root.mkdir()
    params = {**CHURN_PARAMS, "registry": str(root / "registry")}
    steps = [("ingest", None), ("prepare", None), ("train", 0), ("train", 1), ("evaluate", None),
             ("deploy", None), ("monitor", None), ("notify", None)]
    for step, index in steps:
        argv = ["run", "--rm", "--init", "--label", "org.pipespec.run=exec-test", "--network", "host",
                "--mount", f"type=bind,source={root},target={root}", churn_image,
                "pipespec", "exec", "specs/churn/pipeline.yaml", "--step", step, "--artifact-root", str(root),
                "--run-id", "r1", "--result-json", f"{root}/{step}-{index}.json", *_params(params)]
        if index is not None:
            argv += ["--item-index", str(index)]
        r = docker_daemon.docker(*argv, timeout=300, check=False)
        assert r.returncode == 0, (step, r.stdout[-1500:], r.stderr[-1500:])
        res = json.loads((root / f"{step}-{index}.json").read_text())
        assert res["status"] == "succeeded", (step, res)
    ev = json.loads((root / "evaluate-None.json").read_text())
    assert 0.5 < ev["metrics"]["metrics"]["auc"] <= 1.0
    assert _containers(docker_daemon, "label=org.pipespec.run=exec-test") == []


def test_churn_in_containers_gives_the_same_values_and_metrics(docker_daemon, churn_image, tmp_path):
    params = {**CHURN_PARAMS, "registry": str(tmp_path / "registry")}
    t0 = time.monotonic()
    plain = subprocess.run([sys.executable, "-m", "pipespec", "run", str(CHURN), "--store", str(tmp_path / "plain"),
                            "--progress", "plain", "--no-cache", *_params(params)],
                           capture_output=True, text=True, timeout=900)
    BUILD_TIMES["churn run, processes"] = time.monotonic() - t0
    assert plain.returncode == 0, plain.stderr[-2000:]
    t0 = time.monotonic()
    boxed = subprocess.run([sys.executable, "-m", "pipespec", "run", str(CHURN), "--store", str(tmp_path / "boxed"),
                            "--progress", "plain", "--no-cache", "--containers", "--image", churn_image,
                            *_params(params)], capture_output=True, text=True, timeout=900)
    BUILD_TIMES["churn run, containers"] = time.monotonic() - t0
    assert boxed.returncode == 0, boxed.stderr[-3000:]
    a, b = _records(tmp_path / "plain"), _records(tmp_path / "boxed")
    assert sorted(a) == sorted(b) and len(a) == 8
    for key in a:
        assert a[key]["status"] == b[key]["status"] == "succeeded", key
        assert a[key]["values"] == b[key]["values"], key
        assert a[key]["metrics"] == b[key]["metrics"], key
    assert b[("evaluate", None)]["metrics"]["metrics"]["auc"] > 0.5
    assert _containers(docker_daemon, "label=org.pipespec.run") == []


ENV_SPEC = """pipespec: 1
name: boxed
secrets:
  token: {description: a token}
steps:
  probe:
    run: python3 probe.py
    env: {TOKEN: "${{ secrets.token }}", GREETING: hi}
    outputs: {ok: bool, where: string}
  hang:
    needs: [probe]
    run: sleep 300
    timeout: 3s
"""
PROBE = """import json, os
ok = os.environ["TOKEN"] == "s3cr3t-42" and os.environ["GREETING"] == "hi" and os.path.exists("/.dockerenv")
with open(os.environ["PIPESPEC_OUTPUT"], "a") as f:
    f.write(f"ok={json.dumps(ok)}\\nwhere={os.getcwd()}\\n")
"""


def test_env_secrets_timeout_and_no_orphan_container(docker_daemon, base_image, tmp_path):
    """A step in a container sees the step's env and its secret (passed by name), works in the
    spec's folder; a step that times out is killed in its container, and no container is left."""
    spec = _spec(tmp_path, ENV_SPEC, {"probe.py": PROBE})
    store = tmp_path / ".pipespec"
    env = dict(os.environ, TOKEN="s3cr3t-42")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pipespec", "run", str(spec), "--containers", "--image", base_image,
                        "--kill-grace", "2", "--progress", "plain"], capture_output=True, text=True, timeout=300,
                       env=env)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr[-2000:]
    assert took < 60, took                                 # the 300 s sleep was killed, not waited for
    rec = _records(store)
    assert rec[("probe", None)]["values"] == {"ok": True, "where": str(tmp_path)}
    assert rec[("hang", None)]["status"] == "timeout"
    assert "s3cr3t-42" not in r.stdout + r.stderr
    assert _containers(docker_daemon, "label=org.pipespec.run") == []
    assert _containers(docker_daemon, "status=running") == []


def test_a_missing_image_is_one_error(docker_daemon, tmp_path):
    spec = _spec(tmp_path, "pipespec: 1\nname: gone\nsteps:\n  a:\n    run: 'true'\n    image: local/nothing:1\n")
    r = pipespec("run", str(spec), "--containers")
    assert r.returncode == 1 and "error[E615]" in r.stderr and "Traceback" not in r.stderr


def test_a_failed_build_is_one_error(docker_daemon, base_image, tmp_path):
    spec = _spec(tmp_path, "pipespec: 1\nname: broken\nsteps:\n  a:\n    run: 'true'\n",
                 {"requirements.txt": "pipespec-no-such-package-zz9==0.0.1\n"})
    r = pipespec("image", str(spec), "--base", base_image, timeout=600)
    assert r.returncode == 1 and "error[E613]" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_a_call_step_in_an_image_without_pipespec_is_warned(docker_daemon, base_image, tmp_path):
    spec = _spec(tmp_path, "pipespec: 1\nname: bare\nsteps:\n  a:\n    call: steps:f\n",
                 {"steps.py": "def f():\n    return {}\n"})
    r = pipespec("run", str(spec), "--containers", "--image", base_image, "--progress", "plain")
    assert "warning[W611]" in r.stderr
    assert r.returncode == 1                               # it ran, and failed in the image
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / ".pipespec" / "logs").rglob("a.err"))
    assert "No module named 'pipespec'" in logs, logs[-1500:]
    assert _containers(docker_daemon, "label=org.pipespec.run") == []


def _per_step(n: int, tmp_path: Path, containers: bool, image: str) -> float:
    steps = "".join(f"  s{i}:\n    run: 'true'\n" + (f"    needs: [s{i - 1}]\n" if i else "") for i in range(n))
    spec = _spec(tmp_path, f"pipespec: 1\nname: cost\nsteps:\n{steps}")
    args = ["run", str(spec), "--no-cache", "--progress", "plain", "--store", str(tmp_path / f"s{containers}")]
    if containers:
        args += ["--containers", "--image", image]
    t0 = time.monotonic()
    r = pipespec(*args)
    assert r.returncode == 0, r.stderr[-1500:]
    return (time.monotonic() - t0) / n


def test_per_step_cost_of_a_container(docker_daemon, base_image, tmp_path):
    n = 5
    plain = _per_step(n, tmp_path, False, base_image)
    boxed = _per_step(n, tmp_path, True, base_image)
    BUILD_TIMES["per step, process"] = plain
    BUILD_TIMES["per step, container"] = boxed
    assert boxed > plain                                   # it did run containers
    assert _containers(docker_daemon, "label=org.pipespec.run") == []


def _kfp_task(report: dict, step: str, index) -> dict | None:
    name = step.replace("_", "-")
    tasks = report["tasks"]
    if index is None:
        return tasks.get(name)
    keys = [k for k in tasks if k.endswith("/" + name) and f"iteration-{index}/" in k]
    assert len(keys) == 1, (step, index, sorted(tasks))
    return tasks[keys[0]]


def test_kfp_local_docker_runner_runs_the_compiled_spec_in_the_image(docker_daemon, churn_image, tmp_path):
    """The Kubeflow spec compiled with --image (nothing installed at start) runs under
    kfp.local.DockerRunner, every task in a container of the built image, and gives what
    ``pipespec run`` gives."""
    from pipespec.frontend import load_spec

    out = tmp_path / "churn.yaml"
    r = pipespec("compile", str(CHURN), "-t", "kubeflow", "--image", churn_image, "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert f"image: {churn_image}" in text and "pip install" not in text
    work = tmp_path / "kfp"
    params = {**CHURN_PARAMS, "registry": str(work / "pipeline_root" / "registry")}   # kfp mounts only its root
    py = envs.env_python(envs.ensure("kfp-docker", quiet=True))
    t0 = time.monotonic()
    k = subprocess.run([str(py), str(ROOT / "tests/tooling/run_kfp_local.py"), str(out), "--args", json.dumps(params),
                        "--workdir", str(work), "--runner", "docker"], capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, PYTHONPATH=""))
    BUILD_TIMES["churn on kfp.local DockerRunner"] = time.monotonic() - t0
    rep = json.loads(k.stdout)
    assert rep["ok"], rep["errors"][:1] + [k.stderr[-2000:]]
    local = subprocess.run([sys.executable, "-m", "pipespec", "run", str(CHURN), "--store", str(tmp_path / "store"),
                            "--progress", "plain", "--no-cache", *_params({**CHURN_PARAMS,
                                                                           "registry": str(tmp_path / "reg")})],
                           capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-2000:]
    got = _records(tmp_path / "store")
    pipe = load_spec(str(CHURN)).pipeline
    compared = 0
    for (step_name, index), res in got.items():
        entry = _kfp_task(rep, step_name, index)
        assert entry is not None, (step_name, index, sorted(rep["tasks"]))
        step = pipe.step(step_name)
        for o in step.value_outputs:
            uri = entry["artifacts"][o.name][0]["uri"]
            value = Path(uri).read_text()
            value = value if o.type in ("string", "path") else json.loads(value)
            if isinstance(value, str):                        # deploy's registry: another folder here
                value = value.replace(params["registry"], str(tmp_path / "reg"))
            assert value == res["values"][o.name], (step_name, index, o.name)
            compared += 1
        for o in step.artifact_outputs:
            if o.type == "metrics":
                with open(entry["artifacts"][o.name][0]["uri"], encoding="utf-8") as f:
                    assert json.load(f) == res["metrics"][o.name], (step_name, o.name)
                compared += 1
    assert compared >= 6
    # every task ran in a container of our daemon (kfp removes each: auto_remove), and none is left
    deadline = time.monotonic() + 30
    while _containers(docker_daemon, f"ancestor={churn_image}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _containers(docker_daemon, f"ancestor={churn_image}") == []
