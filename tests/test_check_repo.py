"""Checks across specs (E810-E812 in ``validate`` of several specs) and ``pipespec check-repo``
(E813 stale, E814 missing, E815 orphaned compiled files) on real git repositories of several
team folders, compiled with the real backends."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess

import pytest

from pipespec.cli import main

SPEC = """pipespec: 1
name: {name}
steps:
  train:
    run: echo hi
targets:
{targets}"""


def spec(name: str, **outputs: str) -> str:
    targets = "".join(f"  {t}:\n    output: {o}\n" for t, o in outputs.items()) or "  airflow: {}\n"
    return SPEC.format(name=name, targets=targets)


def run(*argv, cwd=None):
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([*map(str, argv)])
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path):
    """A monorepo: teams a, b, c; each compiles to Airflow into one shared dags/ folder, team c
    also to GitHub; all compiled and committed, so check-repo is clean at the start."""
    r = tmp_path / "mono"
    for team, text in {
        "a": spec("churn-a", airflow="../../dags/churn_a.py"),
        "b": spec("sweep", airflow="../../dags/sweep.py"),
        "c": spec("report", airflow="../../dags/report.py", github="../../.github/workflows/report.yml"),
    }.items():
        (r / "teams" / team).mkdir(parents=True)
        (r / "teams" / team / "pipeline.yaml").write_text(text, encoding="utf-8")
    git(r, "init", "-q")
    rc, _, err = run("compile", "--all", *sorted((r / "teams").glob("*/pipeline.yaml")), cwd=r)
    assert rc == 0, err
    git(r, "add", "-A")
    git(r, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return r


def codes(out: str) -> list[tuple[str, str]]:
    """(file, code) of every diagnostic line, in order."""
    import re

    return re.findall(r"^(\S+?):\d+:\d+: (?:error|warning)\[(\w+)\]", out, re.M)


def test_clean_repo_passes(repo):
    rc, out, err = run("check-repo", "--color", "never", cwd=repo)
    assert (rc, out) == (0, ""), out + err
    assert "checked 3 specs and 4 compiled files" in err


def test_two_teams_with_one_name_are_both_reported(repo):
    (repo / "teams" / "b" / "pipeline.yaml").write_text(spec("churn-a", airflow="../../dags/sweep.py"))
    rc, out, _ = run("validate", "--color", "never", "teams", cwd=repo)
    assert rc == 1
    assert codes(out) == [("teams/a/pipeline.yaml", "E810"), ("teams/b/pipeline.yaml", "E810")]
    assert "note: teams/a/pipeline.yaml:2:7: the other spec's name:" in out      # at B, naming A's line
    assert "note: teams/b/pipeline.yaml:2:7: the other spec's name:" in out
    assert "on airflow (DAG id)" in out
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)                 # and in CI
    assert rc == 1 and ("teams/b/pipeline.yaml", "E810") in codes(out)


def test_same_name_on_different_targets_is_no_clash(tmp_path):
    (tmp_path / "a.yaml").write_text(spec("x", airflow="a.py"))
    (tmp_path / "b.yaml").write_text(spec("x", github="b.yml"))
    rc, out, _ = run("validate", tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert (rc, out) == (0, "")


def test_workflow_names_clash_too(tmp_path):
    (tmp_path / "a.yaml").write_text(spec("x", github="a.yml"))
    (tmp_path / "b.yaml").write_text(spec("x", github="b.yml"))
    rc, out, _ = run("validate", "--color", "never", tmp_path)
    assert rc == 1 and "on github (workflow name)" in out and len(codes(out)) == 2


def test_a_single_spec_is_not_compared_and_an_invalid_one_is_skipped(tmp_path):
    (tmp_path / "a.yaml").write_text(spec("x", airflow="a.py"))
    (tmp_path / "b.yaml").write_text(spec("x", airflow="b.py") + "bogus: 1\n")
    rc, out, _ = run("validate", "--color", "never", tmp_path)
    assert rc == 1 and [c for _, c in codes(out)] == ["E201"]


def test_one_output_path_for_two_specs(tmp_path):
    git(tmp_path, "init", "-q")                     # ../dags stays inside the project (E409)
    for n in ("a", "b"):
        (tmp_path / n).mkdir()
        (tmp_path / n / "pipeline.yaml").write_text(spec(n, airflow="../dags/churn.py"))
    rc, out, _ = run("validate", "--color", "never", tmp_path)
    assert rc == 1 and [c for _, c in codes(out)] == ["E811", "E811"]
    assert "airflow writes " in out and "dags/churn.py, and so does another spec (airflow)" in out


def test_a_folder_output_resolves_to_the_backend_filename(tmp_path):
    """``output: dags/`` means dags/<name>.py, as compile --all writes it: two specs with one
    name and one folder write one file."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "a.yaml").write_text(spec("x", airflow="dags/"))
    (tmp_path / "b.yaml").write_text(spec("y", airflow="dags/x.py"))
    rc, out, _ = run("validate", "--color", "never", tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert [c for _, c in codes(out)] == ["E811", "E811"]
    rc, _, err = run("compile", "--all", tmp_path / "a.yaml")
    assert rc == 0 and (tmp_path / "dags" / "x.py").is_file(), err


def test_builtin_extensions_are_the_backends():
    from pipespec import backends
    from pipespec.across_specs import EXTENSIONS

    assert EXTENSIONS == {n: backends.get(n).extension for n in backends.BUILTIN}


def test_overlapping_and_case_only_outputs(tmp_path):
    (tmp_path / "a.yaml").write_text(spec("a", airflow="out/x"))
    (tmp_path / "b.yaml").write_text(spec("b", airflow="out/x/b.py"))
    (tmp_path / "c.yaml").write_text(spec("c", github="W.yml", kubeflow="w.yml"))
    rc, out, _ = run("validate", "--color", "never", tmp_path)
    assert rc == 1
    assert codes(out) == [(str(tmp_path / f), "E812") for f in ("a.yaml", "b.yaml", "c.yaml", "c.yaml")]
    assert "needs as a folder" in out and "which targets.airflow.output writes as a file" in out
    assert "only in letter case" in out


def test_hand_edited_dag_is_stale(repo):
    dag = repo / "dags" / "sweep.py"
    dag.write_text(dag.read_text().replace("catchup=False", "catchup=True"))
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("teams/b/pipeline.yaml", "E813")]
    assert "8 |     output: ../../dags/sweep.py" in out          # at the spec's output key
    assert "help: run: pipespec compile --all teams/b/pipeline.yaml" in out


def test_file_another_pipespec_version_compiled_is_stale(repo):
    """Issue 16 point 4: a compiled file from another pipespec version is E813 (stale: its install
    lines pin that version), and the message names both versions instead of a hand edit."""
    from pipespec import __version__

    dag = repo / "dags" / "sweep.py"
    dag.write_text(dag.read_text().replace(f"pipespec {__version__}. IR", "pipespec 0.0.9. IR"))
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("teams/b/pipeline.yaml", "E813")]
    assert f"error[E813]: dags/sweep.py is out of date: pipespec 0.0.9 compiled it, this is pipespec {__version__}" in out
    assert "the header names the version that wrote the file" in out


def test_missing_compiled_file(repo):
    git(repo, "rm", "-q", "dags/sweep.py")
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("teams/b/pipeline.yaml", "E814")]


def test_new_requirements_file_makes_the_workflow_stale(repo):
    """GitHub's install line names a requirements.txt beside the spec (github.requirements)."""
    (repo / "teams" / "c" / "requirements.txt").write_text("numpy\n")
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("teams/c/pipeline.yaml", "E813")]
    assert "10 |     output: ../../.github/workflows/report.yml" in out
    rc, _, _ = run("compile", "--all", "teams/c/pipeline.yaml", cwd=repo)
    assert "-r teams/c/requirements.txt" in (repo / ".github" / "workflows" / "report.yml").read_text()
    assert run("check-repo", cwd=repo)[0] == 0


def test_removed_spec_leaves_an_orphan(repo):
    git(repo, "rm", "-q", "teams/b/pipeline.yaml")
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("dags/sweep.py", "E815")]
    assert "dags/sweep.py:1:1: error[E815]" in out and "its spec teams/b/pipeline.yaml is gone" in out


def test_spec_that_no_longer_names_its_file_leaves_an_orphan(repo):
    (repo / "teams" / "c" / "pipeline.yaml").write_text(spec("report", airflow="../../dags/report.py"))
    assert run("compile", "--all", "teams/c/pipeline.yaml", cwd=repo)[0] == 0
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [(".github/workflows/report.yml", "E815")]
    assert "its spec teams/c/pipeline.yaml no longer names it as an output (targets.github.output)" in out


def test_check_repo_of_a_subfolder_and_json(repo):
    rc, out, _ = run("check-repo", "--format", "json", repo / "teams" / "a")
    doc = json.loads(out)
    assert rc == 0 and doc["summary"]["errors"] == 0 and len(doc["files"]) == 1
    git(repo, "rm", "-q", "teams/b/pipeline.yaml")
    rc, out, _ = run("check-repo", "--format", "json", cwd=repo)
    doc = json.loads(out)
    assert rc == 1 and [d["code"] for d in doc["diagnostics"]] == ["E815"]
    assert doc["diagnostics"][0]["file"] == "dags/sweep.py"


def test_check_repo_outside_git_is_a_usage_error(tmp_path):
    rc, _, err = run("check-repo", cwd=tmp_path)
    assert rc == 2 and "not inside a git repository" in err
    assert run("check-repo", tmp_path / "nope")[0] == 2


def test_compile_strict_fails_on_a_warning(tmp_path):
    """W600 (retries emulated on GitHub) is a warning; --strict makes compile fail."""
    (tmp_path / "a.yaml").write_text(SPEC.format(name="x", targets="  github: {}\n").replace(
        "    run: echo hi\n", "    run: echo hi\n    retries: 2\n"))
    rc, out, err = run("compile", tmp_path / "a.yaml", "--target", "github")
    assert rc == 0 and "warning[W600]" in err and out
    rc, out, err = run("compile", tmp_path / "a.yaml", "--target", "github", "--strict")
    assert rc == 1 and "error[W600]" in err and out == ""


def test_the_airflow_template_is_compiled_once_per_process(tmp_path, monkeypatch):
    """Found at 400 specs: check-repo took 15 s, 90% of it jinja2 compiling the DAG template
    again for every spec. The template is compiled once, whatever number of specs."""
    import jinja2

    from pipespec.backends.base import CompileOptions
    from pipespec.frontend import load_spec
    from pipespec.backends.airflow import AirflowBackend

    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(1) or real(self, *a, **k))
    texts = []
    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.yaml").write_text(spec(n, airflow=f"{n}.py"))
        pipe = load_spec(str(tmp_path / f"{n}.yaml")).pipeline
        texts.append(AirflowBackend().compile(pipe, CompileOptions(spec_path=str(tmp_path / f"{n}.yaml"))).text)
    assert len(compiled) <= 1 and all('dag_id="' in t for t in texts)
    assert 'dag_id="b"' in texts[1]


def test_an_invalid_spec_still_owns_its_compiled_file(repo):
    """A spec with an error is reported as it is, and its DAG is not called an orphan."""
    p = repo / "teams" / "b" / "pipeline.yaml"
    p.write_text(p.read_text() + "bogus: 1\n")
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1 and codes(out) == [("teams/b/pipeline.yaml", "E201")]


def test_dag_id_prefixes_keep_two_teams_apart(tmp_path):
    """The DAG id is dag_id_prefix + name (the one derivation): two teams' churn with their own
    prefixes do not clash on Airflow; with one prefix they do."""
    (tmp_path / "a.yaml").write_text(spec("churn", airflow="a.py").replace("    output: a.py\n",
                                                                           "    output: a.py\n    dag_id_prefix: team_a.\n"))
    (tmp_path / "b.yaml").write_text(spec("churn", airflow="b.py").replace("    output: b.py\n",
                                                                           "    output: b.py\n    dag_id_prefix: team_b.\n"))
    rc, out, _ = run("validate", "--color", "never", tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert rc == 0, out
    (tmp_path / "b.yaml").write_text((tmp_path / "b.yaml").read_text().replace("team_b.", "team_a."))
    rc, out, _ = run("validate", "--color", "never", tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert rc == 1 and "E810" in out and "team_a.churn" in out, out


def test_check_repo_runs_the_org_policies_as_validate_does(repo):
    """Found by the issue 16 demo: check-repo loaded the specs without the policies, so CI passed
    (or called the DAG stale) where validate and the pipespec-validate hook failed."""
    from pipespec import files

    (repo / "pipespec.toml").write_text('[policies]\nbuiltin = ["step-without-timeout"]\n')
    files._POLICY_CONFIG.clear()     # the fixture's compile, in this process, found no config there
    rc, out, _ = run("check-repo", "--color", "never", cwd=repo)
    assert rc == 1
    assert codes(out) == [(f"teams/{t}/pipeline.yaml", "E832") for t in "abc"], out
