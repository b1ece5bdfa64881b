"""The worker contract: every target's entry checks the IR digest it was compiled from.

A spec is compiled, then edited, then one step is run the way each target's worker runs it:
`pipespec exec` with the Airflow DAG's arguments, the GitHub job's script, and Kubeflow's
in-process `kubeflow_task.run_task`. The edited spec fails naming both digests; the unchanged
one runs.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from pipespec.backends.kubeflow_task import run_task
from pipespec.runtime.worker import EXIT_SPEC_CHANGED

PIPE = """
pipespec: 1
name: wk
params:
  n: {type: int, default: 2}
steps:
  a:
    run: echo "v=$((${{ params.n }} + 1))" >> "$PIPESPEC_OUTPUT"
    outputs: {v: int}
"""
EDITED = PIPE.replace("+ 1", "+ 2")
MESSAGE = "the spec changed after compiling; recompile"


def _compiled(s, target: str) -> tuple[str, str]:
    out = s.dir / f"out.{target}"
    s.pipespec("compile", str(s.path), "--target", target, "-o", str(out), check=0)
    text = out.read_text()
    digest = re.search(r"IR digest: (sha256:[0-9a-f]{64})", text).group(1)
    return text, digest


def _both_named(stderr: str, compiled: str, here: str) -> None:
    assert MESSAGE in stderr and compiled in stderr and here in stderr, stderr


def _digest_of(s) -> str:
    from pipespec.frontend import load_spec

    return "sha256:" + load_spec(str(s.path)).pipeline.digest()


@pytest.mark.parametrize("edit", [False, True])
def test_airflow_worker_checks_the_digest(spec, tmp_path, edit):
    s = spec(PIPE)
    text, digest = _compiled(s, "airflow")
    # the DAG hands exec the digest it was compiled from, and does not retry that failure
    assert f'DIGEST = "{digest}"' in text and '"--digest", DIGEST' in text
    assert 'in ("spec_changed", "usage_error")' in text and "raise AirflowFailException" in text
    if edit:
        s.path.write_text(EDITED)
    result = tmp_path / "result.json"
    r = s.pipespec("exec", str(s.path), "--step", "a", "--digest", digest, "--run-id", "R",
                   "--run-date", "2026-12-01", "--artifact-root", str(tmp_path / "root"),
                   "--params-json", "{}", "--result-json", str(result))
    got = json.loads(result.read_text())
    if not edit:
        assert r.returncode == 0, r.stderr
        assert got["values"] == {"v": 3}
        return
    assert r.returncode == EXIT_SPEC_CHANGED
    _both_named(r.stderr, digest, _digest_of(s))
    assert got["status"] == "spec_changed" and MESSAGE in got["error"]
    assert not (tmp_path / "root" / "R").exists()       # nothing ran


@pytest.mark.parametrize("edit", [False, True])
def test_github_worker_checks_the_digest(spec, tmp_path, edit):
    s = spec(PIPE)
    text, digest = _compiled(s, "github")
    doc = yaml.safe_load(text)
    assert doc["env"]["PIPESPEC_IR_DIGEST"] == digest
    script = next(st["run"] for st in doc["jobs"]["a"]["steps"] if st.get("id") == "exec")
    assert "--digest" not in script       # exec reads $PIPESPEC_IR_DIGEST from the workflow's env
    if edit:
        s.path.write_text(EDITED)
    (tmp_path / "runner").mkdir()
    out = tmp_path / "github_output"
    out.write_text("")
    env = {**os.environ, **{k: str(v) for k, v in doc["env"].items() if "${{" not in str(v)},
           "PIPESPEC_RUN_ID": "7", "PIPESPEC_PARAMS": "{}", "RUNNER_TEMP": str(tmp_path / "runner"),
           "GITHUB_OUTPUT": str(out), "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    r = subprocess.run(["bash", "-e", "-c", script], cwd=s.dir, env=env, capture_output=True,
                       text=True, timeout=60)
    if not edit:
        assert r.returncode == 0, r.stderr
        assert out.read_text().startswith("v<<ghadelimiter_") and "\n3\n" in out.read_text()
        return
    assert r.returncode == EXIT_SPEC_CHANGED
    _both_named(r.stderr, digest, _digest_of(s))
    assert out.read_text() == ""


@pytest.mark.parametrize("edit", [False, True])
def test_kubeflow_worker_checks_the_digest(spec, tmp_path, edit, capsys, monkeypatch):
    s = spec(PIPE)
    text, digest = _compiled(s, "kubeflow")
    assert f"'a', {digest!r}, locals())" in text
    if edit:
        s.path.write_text(EDITED)
    monkeypatch.chdir(s.dir)
    monkeypatch.delenv("PIPESPEC_PROJECT_DIR", raising=False)
    v = tmp_path / "v"
    kwargs = {"params__n": 2.0, "v": str(v)}        # KFP hands numbers as doubles
    if not edit:
        run_task(str(s.path), "a", digest, kwargs, argv=["x", "--pipespec-run-id", "r1"])
        assert v.read_text() == "3"
        return
    with pytest.raises(SystemExit) as e:
        run_task(str(s.path), "a", digest, kwargs, argv=["x", "--pipespec-run-id", "r1"])
    assert e.value.code == EXIT_SPEC_CHANGED
    _both_named(capsys.readouterr().err, digest, _digest_of(s))
    assert not v.exists()


def test_no_digest_given_runs_any_spec(spec, tmp_path):
    """`pipespec exec` by hand (no --digest, no $PIPESPEC_IR_DIGEST) does not check."""
    s = spec(EDITED)
    r = s.pipespec("exec", str(s.path), "--step", "a", "--result-json", str(tmp_path / "r.json"),
                   env={"PIPESPEC_IR_DIGEST": ""})
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["values"] == {"v": 4}


def test_digest_from_the_environment(spec, tmp_path):
    s = spec(EDITED)
    r = s.pipespec("exec", str(s.path), "--step", "a", env={"PIPESPEC_IR_DIGEST": "sha256:" + "0" * 64})
    assert r.returncode == EXIT_SPEC_CHANGED
    _both_named(r.stderr, "sha256:" + "0" * 64, _digest_of(s))
