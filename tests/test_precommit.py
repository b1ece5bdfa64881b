"""The hooks in .pre-commit-hooks.yaml, run through the real ``pre-commit`` tool
(``pre-commit try-repo`` against a temporary git repository)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from support import ROOT

pytestmark = pytest.mark.slow

VALID = """pipespec: 1
name: demo
steps:
  hello:
    run: echo hello
"""
INVALID = """pipespec: 1
name: demo
steps:
  hello:
    run: echo ${{ params.who }}
"""


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def pre_commit():
    exe = shutil.which("pre-commit")
    if exe is None:
        pytest.fail("pre-commit is not installed: it is in the [test] extra of pyproject.toml")
    return exe


def _try_repo(pre_commit, repo, hook):
    return subprocess.run([pre_commit, "try-repo", str(ROOT), hook, "--all-files", "--color", "never"],
                          cwd=repo, capture_output=True, text=True, timeout=900)


def test_validate_hook_passes_and_fails(tmp_path, pre_commit):
    repo = tmp_path / "repo"
    (repo / "pipes").mkdir(parents=True)
    (repo / "pipes" / "pipeline.yaml").write_text(VALID)
    (repo / "other.yaml").write_text("not: [a spec\n")  # not matched by the hook's files: pattern
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    r = _try_repo(pre_commit, repo, "pipespec-validate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Passed" in r.stdout

    (repo / "pipes" / "pipeline.yaml").write_text(INVALID)
    _git(repo, "add", ".")
    r = _try_repo(pre_commit, repo, "pipespec-validate")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Failed" in r.stdout
    assert "pipes/pipeline.yaml:5:19: error[E303]: unknown parameter 'who'" in r.stdout


def _readme_config() -> str:
    """The README's .pre-commit-config.yaml, its two placeholders filled with this checkout."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- precommit-config -->\s*```yaml\n(.*?)```\s*<!-- /precommit-config -->", readme, re.S)
    assert m, "README.md has no ```yaml block between <!-- precommit-config --> markers"
    text = m.group(1)
    assert "/path/to/pipespec" in text and "0" * 40 in text, "the README's placeholders changed"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    return text.replace("/path/to/pipespec", str(ROOT)).replace("0" * 40, head)


def test_readme_config_runs_every_hook(tmp_path, pre_commit):
    """The README's snippet, as a user pastes it: the hooks install from the pinned commit and run."""
    repo = tmp_path / "repo"
    (repo / "ml").mkdir(parents=True)
    (repo / "ml" / "pipeline.yaml").write_text(VALID)
    (repo / ".pre-commit-config.yaml").write_text(_readme_config())
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def run():
        return subprocess.run([pre_commit, "run", "--all-files", "--color", "never"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=900)

    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"pipespec validate\.+Passed", r.stdout), r.stdout
    assert re.search(r"pipespec compile --check\.+Passed", r.stdout), r.stdout
    assert re.search(r"pipespec check-repo\.+Passed", r.stdout), r.stdout

    (repo / "ml" / "pipeline.yaml").write_text(INVALID)
    r = run()
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"pipespec validate\.+Failed", r.stdout), r.stdout
    assert "ml/pipeline.yaml:5:19: error[E303]: unknown parameter 'who'" in r.stdout

    # the snippet's args: reach the hook: what the target cannot express fails it before compile
    (repo / "ml" / "pipeline.yaml").write_text(VALID.replace("  hello:\n", "  hello:\n    if: ${{ max(1, 2) > 1 }}\n"))
    r = run()
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"pipespec validate\.+Failed", r.stdout), r.stdout
    assert "error[E600]: kubeflow: if: of step 'hello': max() cannot be translated to CEL" in r.stdout


def test_compile_check_hook_passes_for_files_compiled_from_the_spec_folder(tmp_path, pre_commit):
    """Issue 12: `cd ml && pipespec compile --all pipeline.yaml` wrote PIPESPEC_SPEC:
    pipeline.yaml, and the hook, which runs from the repository root, then failed. Paths are
    now relative to the project root, so the files compiled in ml/ are the hook's files."""
    import sys

    repo = tmp_path / "repo"
    (repo / "ml").mkdir(parents=True)
    (repo / "ml" / "pipeline.yaml").write_text(
        VALID + "targets:\n  github: {output: ../.github/workflows/demo.yml}\n  airflow: {output: ../dags/demo.py}\n"
        "  kubeflow: {output: demo.kfp.yaml}\n")
    (repo / "ml" / "requirements.txt").write_text("pandas\n")
    _git(repo, "init", "-q")
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "--all", "pipeline.yaml"], cwd=repo / "ml",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "PIPESPEC_SPEC: ml/pipeline.yaml\n" in (repo / ".github/workflows/demo.yml").read_text()
    _git(repo, "add", ".")
    r = _try_repo(pre_commit, repo, "pipespec-compile-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Passed" in r.stdout


def test_check_repo_hook_sees_what_no_changed_spec_shows(tmp_path, pre_commit):
    """Issue 16: a hand-edited DAG and a DAG whose spec was removed change no spec, so the
    changed-files hooks skip them; pipespec-check-repo runs whatever changed, and fails."""
    import sys

    repo = tmp_path / "repo"
    for team in ("a", "g"):
        (repo / "teams" / team).mkdir(parents=True)
        (repo / "teams" / team / "pipeline.yaml").write_text(
            VALID.replace("name: demo", f"name: demo-{team}") + f"targets:\n  airflow: {{output: ../../dags/{team}.py}}\n")
    _git(repo, "init", "-q")
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "--all", "teams/a/pipeline.yaml",
                        "teams/g/pipeline.yaml"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _git(repo, "add", ".")
    r = _try_repo(pre_commit, repo, "pipespec-check-repo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"pipespec check-repo\.+Passed", r.stdout), r.stdout

    dag = repo / "dags" / "a.py"
    dag.write_text(dag.read_text().replace("catchup=False", "catchup=True"))
    (repo / "teams" / "g" / "pipeline.yaml").unlink()
    _git(repo, "add", "-A")
    r = _try_repo(pre_commit, repo, "pipespec-check-repo")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "teams/a/pipeline.yaml:7:21: error[E813]: dags/a.py is out of date" in r.stdout
    assert "dags/g.py:1:1: error[E815]: dags/g.py is a compiled file that nothing compiles any more" in r.stdout
