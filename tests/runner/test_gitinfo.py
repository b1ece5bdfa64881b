"""The run's git commit, read from .git without running git, agrees with `git rev-parse HEAD`."""

import os
import shutil
import subprocess

import pytest

from pipespec.runner.gitinfo import head_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(cwd, *args) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_branch_packed_detached_unborn_worktree_and_outside(tmp_path):
    repo = tmp_path / "repo"
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    git(repo, "init", "-q")
    assert head_commit(str(sub)) is None                        # no commit yet
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    assert head_commit(str(sub)) == git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    git(repo, "pack-refs", "--all")                             # the branch only in packed-refs
    assert not any((repo / ".git/refs/heads").iterdir())
    assert head_commit(str(sub)) == git(repo, "rev-parse", "HEAD")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(str(repo)) == first
    git(repo, "checkout", "-q", "-")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), first)   # a .git file: git reads it
    assert head_commit(str(tmp_path / "wt")) == first
    outside = tmp_path / "outside"
    outside.mkdir()
    assert head_commit(str(outside)) is None


def test_recorded_with_the_run(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: g
        steps:
          a:
            run: "true"
    """)
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    s.run(check=0)
    assert s.latest_run()["git_commit"] == git(tmp_path, "rev-parse", "HEAD")
