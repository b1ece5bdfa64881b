"""pipespec on the workers, pinned to the version that compiled the file (issue 12, point 3),
and GitHub jobs as light as the platform allows (point 5). The real tools check the same files
in test_github_tools.py / test_kubeflow_tools.py."""

from __future__ import annotations

import subprocess
import textwrap

import yaml

from pipespec import __version__
from pipespec.backends.base import CompileOptions
from pipespec.backends.github import GithubBackend
from pipespec.backends.kubeflow import KubeflowBackend
from pipespec.backends.kubeflow_executor import install_command
from pipespec.backends.kubeflow_options import KubeflowOptions
from pipespec.frontend import load_spec

PIN = f"pipespec=={__version__}"

SPEC = """\
pipespec: 1
name: demo
steps:
  a:
    run: echo a
  b:
    needs: [a]
    run: echo b
    image: IMAGE
"""


def _compile(tmp_path, backend, target: str = "", image: str = "busybox:1", requirements: bool = False):
    p = tmp_path / "p" / "pipeline.yaml"
    if not p.parent.exists():
        p.parent.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True, timeout=60)
    text = SPEC.replace("IMAGE", image) + (f"targets:\n  {backend.name}: {target}\n" if target else "")
    p.write_text(text)
    if requirements:
        (p.parent / "requirements.txt").write_text("pandas\n")
    res = load_spec(str(p))
    assert res.ok, [d.message for d in res.diagnostics]
    r = backend.compile(res.pipeline, CompileOptions(spec_path=str(p)))
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    return r


# -- GitHub ----------------------------------------------------------------------------------------
def _steps(doc, job):
    return {s["name"]: s for s in doc["jobs"][job]["steps"]}


def test_github_install_pins_the_compiling_version(tmp_path):
    doc = yaml.safe_load(_compile(tmp_path, GithubBackend(), requirements=True).text)
    for job in ("a", "b"):
        assert _steps(doc, job)["install pipespec"]["run"] == f"python -m pip install {PIN} -r p/requirements.txt"
    doc = yaml.safe_load(_compile(tmp_path / "x", GithubBackend()).text)
    assert _steps(doc, "a")["install pipespec"]["run"] == f"python -m pip install {PIN}"


def test_github_install_override_and_no_setup(tmp_path):
    for install in ("python -m pip install ./dist/pipespec-0.1.0-py3-none-any.whl",
                    "python -m pip install 'pipespec @ git+https://example.org/pipespec@v0.1.0'",
                    "python -m pip install --index-url https://pypi.example.org/simple pipespec==0.1.0"):
        doc = yaml.safe_load(_compile(tmp_path, GithubBackend(), "{install: %s}" % yaml.safe_dump(install).split("\n")[0]).text)
        assert _steps(doc, "a")["install pipespec"]["run"] == install
    doc = yaml.safe_load(_compile(tmp_path, GithubBackend(), "{setup: false}").text)
    for job in doc["jobs"].values():
        assert [s["name"] for s in job["steps"]] == [s for s in ("run a", "run b") if s in {x["name"] for x in job["steps"]}]


def test_github_pip_cache_keyed_on_the_requirements_file(tmp_path):
    doc = yaml.safe_load(_compile(tmp_path, GithubBackend(), requirements=True).text)
    setup = _steps(doc, "a")["set up Python"]
    assert setup["with"] == {"python-version": "3.11", "cache": "pip", "cache-dependency-path": "p/requirements.txt"}
    assert "set up Python" not in _steps(doc, "b")            # a job container: brings its own Python
    # no requirements file: setup-python needs a file to key on, the spec stands in
    doc = yaml.safe_load(_compile(tmp_path / "x", GithubBackend()).text)
    assert _steps(doc, "a")["set up Python"]["with"]["cache-dependency-path"] == "p/pipeline.yaml"


def test_github_one_run_per_pipeline_and_ref(tmp_path):
    """The group names the pipeline, not github.workflow (the caller's name in a called
    workflow); only a pull request's older run is cancelled (tests/backends/test_github.py)."""
    doc = yaml.safe_load(_compile(tmp_path, GithubBackend()).text)
    assert doc["concurrency"] == {"group": f"{doc['name']}-${{{{ github.ref }}}}",
                                  "cancel-in-progress": "${{ github.event_name == 'pull_request' }}"}


# -- Kubeflow --------------------------------------------------------------------------------------
def _executors(text):
    doc = next(yaml.safe_load_all(text))
    return {k: v["container"] for k, v in doc["deploymentSpec"]["executors"].items()}


def test_kubeflow_default_installs_pinned_pipespec_and_kfp_at_start(tmp_path):
    r = _compile(tmp_path, KubeflowBackend())
    assert not [d for d in r.diagnostics if d.code == "W601"]
    for c in _executors(r.text).values():
        assert c["command"][:2] == ["sh", "-c"]
        script = c["command"][2]
        assert f"python3 -m pip install --quiet --no-warn-script-location '{PIN}'  &&  " in script
        assert "'kfp==2.17.3' '--no-deps'" in script and script.endswith(' && "$0" "$@"')
        assert c["command"][3:5] == ["sh", "-ec"] and "kfp.dsl.executor_main" in c["command"][5]
    images = sorted(c["image"] for c in _executors(r.text).values())
    assert images == ["busybox:1", "python:3.11-slim"]


def test_kubeflow_install_override_and_setup_false(tmp_path):
    wheel = "pip install /wheels/pipespec-0.1.0-py3-none-any.whl kfp==2.17.3"
    r = _compile(tmp_path, KubeflowBackend(), "{install: '%s'}" % wheel)
    for c in _executors(r.text).values():
        assert c["command"][:3] == ["sh", "-c", wheel + ' && "$0" "$@"']
    # setup: false installs nothing; the step left in the stock image is warned about, once
    r = _compile(tmp_path, KubeflowBackend(), "{setup: false}")
    for c in _executors(r.text).values():
        assert c["command"][:2] == ["sh", "-ec"]
    w = [d for d in r.diagnostics if d.code == "W601"]
    assert len(w) == 1 and "step a runs in the stock image python:3.11-slim" in w[0].message
    # ... and not when every step has an image that is said to have pipespec
    r = _compile(tmp_path, KubeflowBackend(), "{setup: false, image: 'registry.example/team/ml:1'}")
    assert not [d for d in r.diagnostics if d.code == "W601"]


def test_kubeflow_install_command_mirrors_kfp_lightweight_components():
    """The text kfp 2.17.3's component_factory writes for packages_to_install=[pipespec==X]
    (checked against the SDK itself in test_kubeflow_tools.py)."""
    assert install_command(KubeflowOptions()) == textwrap.dedent(f"""
        if ! [ -x "$(command -v pip)" ]; then
            python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip
        fi

        PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location '{PIN}'  &&  \
python3 -m pip install --quiet --no-warn-script-location 'kfp==2.17.3' '--no-deps' \
'typing-extensions>=3.7.4,<5; python_version<"3.9"'""")
    assert install_command(KubeflowOptions(setup=False, install="x")) is None
