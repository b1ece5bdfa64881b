"""``pipespec image`` without Docker: the Dockerfile, the content tag, what is refused; and the
command lines ``run --containers`` builds. The real builds and runs: test_containers_real.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import ROOT
from pipespec import containers as C

SPEC = """pipespec: 1
name: demo
secrets:
  token: {description: an API token}
steps:
  hello:
    call: steps:hello
    with: {n: 2}
    outputs: {x: int}
  shout:
    run: echo hi
    env: {TOKEN: "${{ secrets.token }}", GREETING: hi, PYTHONPATH: /opt/own}
"""


def _project(tmp_path: Path, folder: str = "ml") -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    d = root / folder
    d.mkdir(parents=True)
    (d / "pipeline.yaml").write_text(SPEC)
    (d / "steps.py").write_text("def hello(n):\n    return {'x': n}\n")
    (d / "requirements.txt").write_text("six==1.16.0\n")
    return d / "pipeline.yaml"


def _cli(*args, env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "pipespec", *args], capture_output=True, text=True, timeout=120,
                          env=e, cwd=cwd)


def _copy_lines(ctx) -> list[list[str]]:
    return [json.loads(line[5:]) for line in ctx.files["Dockerfile"].decode().splitlines() if line.startswith("COPY ")]


def test_same_content_same_tag_and_each_part_changes_it(tmp_path):
    spec = _project(tmp_path)
    a = C.context(str(spec), "demo")
    assert C.context(str(spec), "demo").tag == a.tag
    assert a.tag.startswith("pipespec/demo:") and len(a.tag.split(":")[1]) == 16
    assert C.context(str(spec), "demo", base="local/debian-python:bookworm").tag != a.tag
    assert C.context(str(spec), "demo", kfp=False).tag != a.tag
    (spec.parent / "steps.py").write_text("def hello(n):\n    return {'x': n + 1}\n")
    b = C.context(str(spec), "demo")
    assert b.tag != a.tag
    (spec.parent / "requirements.txt").write_text("six==1.17.0\n")
    assert C.context(str(spec), "demo").tag not in (a.tag, b.tag)
    # what a run leaves in the spec's folder is not step code: the tag stays
    c = C.context(str(spec), "demo").tag
    (spec.parent / ".pipespec").mkdir()
    (spec.parent / ".pipespec" / "runs.db").write_bytes(b"x")
    (spec.parent / "__pycache__").mkdir()
    (spec.parent / "__pycache__" / "steps.cpython-311.pyc").write_bytes(b"x")
    assert C.context(str(spec), "demo").tag == c


def test_the_host_pip_configuration_is_build_only(tmp_path, monkeypatch):
    spec = _project(tmp_path)
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://example.invalid/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    a = C.context(str(spec), "demo")
    assert a.files["build/pip.conf"] == conf.read_bytes()
    conf.write_text("[global]\n")
    assert C.context(str(spec), "demo").tag == a.tag


def test_dockerfile_layout(tmp_path):
    spec = _project(tmp_path, "ml/churn job")           # a space: fine, written as a JSON string
    ctx = C.context(str(spec), "demo", base="local/debian-python:bookworm")
    text = ctx.files["Dockerfile"].decode()
    assert text.splitlines()[1] == "FROM local/debian-python:bookworm"
    assert ["code/", "/project/ml/churn job/"] in _copy_lines(ctx)
    assert f'LABEL {C.LABEL}="{C.__version__}"' in text
    assert f"kfp=={C.KFP_VERSION}" in text and "PIPESPEC_PROJECT_DIR=/project" in text
    # the slow layer (requirements) before pipespec and the code, which change more often
    assert text.index("requirements.txt") < text.index("wheels/") < text.index('"code/"')
    assert sorted(k for k in ctx.files if k.startswith("code/")) == [
        "code/pipeline.yaml", "code/requirements.txt", "code/steps.py"]
    ctx.write(str(tmp_path / "ctx"))
    assert (tmp_path / "ctx" / "Dockerfile").read_bytes() == ctx.files["Dockerfile"]


def test_kfp_version_is_the_backends():
    from pipespec.backends.kubeflow import SDK_VERSION

    assert SDK_VERSION == f"kfp-{C.KFP_VERSION}"


def test_the_wheel_is_the_running_pipespec_and_reproducible():
    name, data = C.pipespec_wheel()
    assert name == f"pipespec-{C.__version__}-py3-none-any.whl"
    assert C.pipespec_wheel()[1] == data
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    for must in ("pipespec/cli.py", "pipespec/runtime/bootstrap.py", "pipespec/backends/kubeflow_task.py",
                 "pipespec/expr/grammar.lark" if (ROOT / "compiler/expr/grammar.lark").exists() else "pipespec/expr/__init__.py",
                 f"pipespec-{C.__version__}.dist-info/RECORD"):
        assert must in names, must
    assert z.read("pipespec/cli.py") == (ROOT / "compiler/cli.py").read_bytes()
    meta = z.read(f"pipespec-{C.__version__}.dist-info/METADATA").decode()
    assert "Requires-Dist: pyyaml" in meta and "Requires-Dist: lark" in meta
    assert "pipespec = pipespec.cli:main" in z.read(f"pipespec-{C.__version__}.dist-info/entry_points.txt").decode()
    assert not any("__pycache__" in n for n in names)


@pytest.mark.parametrize("base", ["Bad Image", "x\nRUN rm -rf /", "python:3.11 AS x", "--network=host", ""])
def test_a_base_that_is_no_reference_is_refused(tmp_path, base):
    spec = _project(tmp_path)
    r = _cli("image", str(spec), f"--base={base}", "--print-tag")
    if base == "":                                        # empty: the default base
        assert r.returncode == 0 and r.stdout.startswith("pipespec/demo:")
        return
    assert r.returncode == 1 and "error[E611]" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("name", ["a$HOME.py", "bad\nname.py", "back\\slash.py"])
def test_a_file_name_that_would_be_dockerfile_syntax_is_refused(tmp_path, name):
    spec = _project(tmp_path)
    (spec.parent / name).write_text("x = 1\n")
    r = _cli("image", str(spec), "--print-tag")
    assert r.returncode == 1 and "error[E610]" in r.stderr and "Traceback" not in r.stderr


def test_a_folder_that_would_be_dockerfile_syntax_is_refused(tmp_path):
    spec = _project(tmp_path, "ml/$HOME")
    r = _cli("image", str(spec), "--print-tag")
    assert r.returncode == 1 and "error[E610]" in r.stderr and "Traceback" not in r.stderr


def test_without_docker_one_diagnostic(tmp_path):
    spec = _project(tmp_path)
    r = _cli("image", str(spec), env={"PIPESPEC_DOCKER": str(tmp_path / "no-docker")})
    assert r.returncode == 1 and "error[E612]" in r.stderr and "Traceback" not in r.stderr
    sock = f"unix://{tmp_path}/none.sock"
    r = _cli("image", str(spec), env={"PIPESPEC_DOCKER": "/bin/false", "DOCKER_HOST": sock})
    assert r.returncode == 1 and "error[E612]" in r.stderr
    # -o DIR --no-build writes the context and needs no Docker
    r = _cli("image", str(spec), "-o", str(tmp_path / "ctx"), "--no-build",
             env={"PIPESPEC_DOCKER": str(tmp_path / "no-docker")})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ctx" / "Dockerfile").exists() and r.stdout.strip().startswith("pipespec/demo:")


def test_run_containers_without_docker_is_one_error_and_runs_nothing(tmp_path):
    spec = _project(tmp_path)
    store = tmp_path / "store"
    r = _cli("run", str(spec), "--containers", "--store", str(store),
             env={"PIPESPEC_DOCKER": str(tmp_path / "no-docker"), "TOKEN": "t"})
    assert r.returncode == 1 and "error[E612]" in r.stderr and "Traceback" not in r.stderr
    assert not (store / "runs").exists()
    r = _cli("run", str(spec), "--image", "x:1", "--store", str(store))
    assert r.returncode == 2 and "--image is for --containers" in r.stderr
    r = _cli("run", str(spec), "--containers", "--preload", "--store", str(store))
    assert r.returncode == 2 and "--preload and --containers cannot be combined" in r.stderr
    assert not (store / "runs").exists()


def test_compile_image_puts_the_tag_on_every_step_without_one(tmp_path):
    spec = _project(tmp_path)
    tag = "pipespec/demo:0123456789abcdef"
    r = _cli("compile", str(spec), "-t", "kubeflow", "--image", tag)
    assert r.returncode == 0, r.stderr
    images = [line.split("image:", 1)[1].strip() for line in r.stdout.splitlines() if line.strip().startswith("image:")]
    assert images and set(images) == {tag}
    assert "pip install" not in r.stdout                   # the image has pipespec and kfp
    plain = _cli("compile", str(spec), "-t", "kubeflow").stdout
    assert "python:3.11-slim" in plain and "pip install" in plain
    k8s = spec.parent / "k8s.yaml"
    k8s.write_text(SPEC + "targets:\n  airflow: {operator: kubernetes}\n")
    r = _cli("compile", str(k8s), "-t", "airflow", "--image", tag)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f'image="{tag}"') == 2 and "python:3.11-slim" not in r.stdout
    r = _cli("compile", str(spec), "-t", "kubeflow", "--image", "not a tag")
    assert r.returncode == 1 and "error[E611]" in r.stderr


class _Inv:
    def __init__(self, step, argv, env, cwd):
        self.step, self.argv, self.env, self.cwd = step, argv, env, cwd


def test_docker_run_passes_the_environment_by_name_only(tmp_path):
    from pipespec.frontend import load_spec
    from pipespec.runner.containers import Containers
    from pipespec.runtime.execute import BOOTSTRAP

    spec = _project(tmp_path, "ml,odd")                   # a comma: quoted in the --mount value
    pipe = load_spec(str(spec)).pipeline
    c = Containers(["docker"], {"hello": "img:1", "shout": "img:1"}, [str(spec.parent)])
    env = {"PATH": "/host/bin", "HOME": "/root", "TOKEN": "s3cr3t-value", "GREETING": "hi",
           "PYTHONPATH": "/opt/own", "DOCKER_HOST": "unix:///x.sock", "PIPESPEC_RUN_ID": "r1"}
    argv = c.argv(_Inv(pipe.step("shout"), ["/bin/sh", "-c", "echo hi"], env, str(spec.parent)), "pipespec-x")
    assert not any("s3cr3t" in a for a in argv)
    envs = {a.split("=", 1)[1] for a in argv if a.startswith("--env=")}
    assert envs == {"TOKEN", "GREETING", "PYTHONPATH", "PIPESPEC_RUN_ID"}   # the step sets PYTHONPATH itself
    assert argv[argv.index("--mount") + 1] == f'type=bind,"source={spec.parent}","target={spec.parent}"'
    assert argv[:3] == ["docker", "run", "--rm"] and "--init" in argv and "org.pipespec.run=r1" in argv
    assert argv[-4:] == ["/bin/sh", "img:1", "-c", "echo hi"]
    call = c.argv(_Inv(pipe.step("hello"), [sys.executable, BOOTSTRAP, "/s/job.json"], env, str(spec.parent)),
                  "pipespec-y")
    assert call[-5:] == ["python3", "img:1", "-m", "pipespec.runtime.bootstrap", "/s/job.json"]
    assert "--env=PYTHONPATH" not in call                  # host-bound, and not the step's own
