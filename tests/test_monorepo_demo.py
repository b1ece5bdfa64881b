"""Issue 16's "Done when", as one test: a monorepo of 8 team folders with a name clash, a stale
and an orphaned compiled file and a policy module gives exactly the expected diagnostics through
``pipespec validate``, ``pipespec check-repo`` and the real ``pre-commit run --all-files`` with
this repository's .pre-commit-hooks.yaml pinned at HEAD (as a platform team pins it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

pytestmark = pytest.mark.slow

TEAMS = "abcdefgh"

SPEC = """\
pipespec: 1
name: {name}
steps:
  train:
    description: train the model
    timeout: 1h
    run: echo train {team}
targets:
  airflow: {{output: ../../dags/{team}.py, owner: team-{team}}}
"""

ORG_POLICIES = '''\
from pipespec.policies import rule


@rule("ORG001", "step-without-description", severity="error", summary="every step says what it does")
def step_without_description(ctx):
    for step in ctx.spec.all_steps:
        if not step.description:
            ctx.report(step.key, f"step '{step.name}' has no description", help="add description:")


RULES = [step_without_description]
'''

CONFIG = '[policies]\nbuiltin = ["step-without-timeout"]\nmodules = ["tools/org_policies.py"]\n'

# (file, line, col, code) in output order
VALIDATE = [
    ("teams/c/pipeline.yaml", 4, 3, "ORG001"),
    ("teams/e/pipeline.yaml", 4, 3, "E832"),
    ("teams/g/pipeline.yaml", 2, 7, "E810"),
    ("teams/h/pipeline.yaml", 2, 7, "E810"),
]
# found: check-repo ran without the policies, so teams/c and teams/e were E813 (their DAGs stale)
# instead of ORG001 and E832: CI did not enforce the org's rules that validate enforces
CHECK_REPO = [("teams/b/pipeline.yaml", 9, 21, "E813")] + VALIDATE + [("dags/i.py", 1, 1, "E815")]

LINE = re.compile(r"^(\S+?):(\d+):(\d+): (?:error|warning)\[(\w+)\]", re.M)


def found(text: str) -> list[tuple[str, int, int, str]]:
    return [(f, int(line), int(col), code) for f, line, col, code in LINE.findall(text)]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True, timeout=60)


def _pipespec(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=repo, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("demo") / "mono"
    for team in TEAMS + "i":
        (repo / "teams" / team).mkdir(parents=True)
        (repo / "teams" / team / "pipeline.yaml").write_text(SPEC.format(name=f"churn-{team}", team=team))
    (repo / "tools").mkdir()
    (repo / "tools" / "org_policies.py").write_text(ORG_POLICIES)
    (repo / "pipespec.toml").write_text(CONFIG)
    _git(repo, "init", "-q")
    r = _pipespec(repo, "compile", "--all", *(f"teams/{t}/pipeline.yaml" for t in TEAMS + "i"))
    assert r.returncode == 0, r.stderr
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "nine teams, compiled")
    r = _pipespec(repo, "check-repo")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr          # clean to start with

    def edit(path: str, old: str, new: str) -> None:
        p = repo / path
        text = p.read_text()
        assert old in text, (path, old)
        p.write_text(text.replace(old, new))

    edit("dags/b.py", "catchup=False", "catchup=True")                        # a hand edit: stale
    _git(repo, "rm", "-q", "teams/i/pipeline.yaml")                           # its DAG stays: orphan
    edit("teams/c/pipeline.yaml", "    description: train the model\n", "")   # ORG001 (the module)
    edit("teams/e/pipeline.yaml", "    timeout: 1h\n", "")                    # E832 (built-in rule)
    edit("teams/g/pipeline.yaml", "name: churn-g", "name: churn")             # g and h: one DAG id
    edit("teams/h/pipeline.yaml", "name: churn-h", "name: churn")
    _git(repo, "add", "-A")
    return repo


def test_validate_of_the_team_folders(monorepo):
    r = _pipespec(monorepo, "validate", "--color", "never", "teams")
    assert r.returncode == 1
    assert found(r.stdout) == VALIDATE, r.stdout
    assert "checked 8 files: 4 invalid, 4 errors, 0 warnings" in r.stderr


def test_check_repo_of_the_whole_repository(monorepo):
    r = _pipespec(monorepo, "check-repo", "--color", "never")
    assert r.returncode == 1
    assert found(r.stdout) == CHECK_REPO, r.stdout
    assert "checked 8 specs and 8 compiled files in .: 6 errors, 0 warnings" in r.stderr


def test_pre_commit_run_all_files(monorepo, tmp_path):
    """The platform's .pre-commit-config.yaml pins this repository at HEAD; pre-commit installs
    pipespec from that commit into its own environment, as on a developer's machine."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    assert pre_commit.exists(), "pre-commit is in the [test] extra of pyproject.toml"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()
    (monorepo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {head}\n    hooks:\n"
        "      - id: pipespec-validate\n        args: [--color, never]\n"
        "      - id: pipespec-check-repo\n        args: [--color, never]\n")
    _git(monorepo, "add", ".pre-commit-config.yaml")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    r = subprocess.run([str(pre_commit), "run", "--all-files", "--color", "never"], cwd=monorepo, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"pipespec validate\.+Failed", r.stdout), r.stdout
    assert re.search(r"pipespec check-repo\.+Failed", r.stdout), r.stdout
    validate_out, check_out = r.stdout.split("pipespec check-repo", 1)
    assert found(validate_out) == VALIDATE, validate_out
    assert found(check_out) == CHECK_REPO, check_out
