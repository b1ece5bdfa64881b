"""The hooks in .pre-commit-hooks.yaml, run through the real ``pre-commit`` tool
(``pre-commit try-repo`` against a temporary git repository)."""

from __future__ import annotations

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
