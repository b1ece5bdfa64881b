"""Org policies (docs/policies.md): rules a repository's pipespec.toml / pyproject.toml names —
a local module, an installed entry point, the built-in opt-in rules — run inside `pipespec
validate` (and `compile`) with their own codes, positions and severities, through the real CLI
in a real git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SPEC = """pipespec: 1
name: churn
description: predicts churn
steps:
  prep:
    image: python:latest
    run: echo prep
  train:
    needs: [prep]
    timeout: 1h
    image: ghcr.io/acme/train:1.2
    run: echo train
"""

ORG_PY = '''
from pipespec.policies import rule


@rule("ORG001", "step-without-description", severity="warning", summary="every step says what it does")
def step_without_description(ctx):
    for step in ctx.spec.all_steps:
        if not step.description:
            ctx.report(step.key, f"step '{step.name}' has no description", help="add description:")


RULES = [step_without_description]
'''

CRASH_PY = '''
from pipespec.policies import rule


@rule("ORG900", "always-crashes")
def always_crashes(ctx):
    ctx.report(ctx.spec.root.key_node("name"), "found before the crash")
    raise ZeroDivisionError("division by zero")


RULES = [always_crashes]
'''


def _git_repo(tmp_path, config: str, files: dict[str, str] | None = None, spec: str = SPEC):
    repo = tmp_path / "repo"
    (repo / "teams" / "a").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    if config:
        (repo / "pipespec.toml").write_text(textwrap.dedent(config))
    for rel, text in (files or {}).items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    (repo / "teams" / "a" / "pipeline.yaml").write_text(spec)
    return repo


def _run(repo, *args, site=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def _lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ": error[" in ln or ": warning[" in ln]


def test_local_module_rule_reports_with_position(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\n', {"tools/org.py": ORG_PY})
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 0, r.stdout + r.stderr           # a warning only
    assert _lines(r.stdout) == [
        "teams/a/pipeline.yaml:5:3: warning[ORG001]: step 'prep' has no description",
        "teams/a/pipeline.yaml:8:3: warning[ORG001]: step 'train' has no description"]
    assert "5 |   prep:\n  |   ^^^^" in r.stdout and "= help: add description:" in r.stdout


def test_the_config_is_found_from_a_sub_folder_and_pyproject_works_too(tmp_path):
    repo = _git_repo(tmp_path, "", {"tools/org.py": ORG_PY, "pyproject.toml": """
        [project]
        name = "x"

        [tool.pipespec.policies]
        modules = ["tools/org.py"]
        """})
    r = _run(repo / "teams", "validate", "a/pipeline.yaml")
    assert "a/pipeline.yaml:5:3: warning[ORG001]" in r.stdout, r.stdout + r.stderr


def test_a_team_folder_config_neither_adds_nor_removes_rules(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\n', {
        "tools/org.py": ORG_PY, "teams/a/team.py": "raise SystemExit('team code ran')\n",
        "teams/a/pipespec.toml": '[policies]\nmodules = ["team.py"]\n[policies.severity]\nORG001 = "off"\n'})
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml")
    assert r.returncode == 0 and "team code ran" not in r.stdout + r.stderr
    assert len([ln for ln in _lines(r.stdout) if "warning[ORG001]" in ln]) == 2


def test_strict_makes_policy_warnings_errors(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\n', {"tools/org.py": ORG_PY})
    r = _run(repo, "validate", "--strict", "teams/a/pipeline.yaml")
    assert r.returncode == 1
    assert "teams/a/pipeline.yaml:5:3: error[ORG001]: step 'prep' has no description" in r.stdout


def test_severity_override_and_off(tmp_path):
    files = {"tools/org.py": ORG_PY}
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\n[policies.severity]\nORG001 = "error"\n', files)
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 1 and "error[ORG001]" in r.stdout
    (repo / "pipespec.toml").write_text('[policies]\nmodules = ["tools/org.py"]\n[policies.severity]\nORG001 = "off"\n')
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 0 and "ORG001" not in r.stdout


def test_json_and_github_carry_plugin_diagnostics(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\nbuiltin = ["unpinned-image"]\n',
                     {"tools/org.py": ORG_PY})
    r = _run(repo, "validate", "--format", "json", "teams/a/pipeline.yaml")
    doc = json.loads(r.stdout)
    got = [(d["code"], d["name"], d["severity"], d["line"], d["col"]) for d in doc["diagnostics"]]
    assert got == [("ORG001", "step-without-description", "warning", 5, 3),
                   ("E833", "unpinned-image", "error", 6, 12),
                   ("ORG001", "step-without-description", "warning", 8, 3)]
    assert doc["summary"] == {"files": 1, "invalid": 1, "errors": 1, "warnings": 2}
    from support import ROOT

    schema = json.loads((ROOT / "schemas" / "validate-output.v1.schema.json").read_text())
    import jsonschema

    jsonschema.validate(doc, schema)
    r = _run(repo, "validate", "--format", "github", "teams/a/pipeline.yaml")
    assert ("::warning file=teams/a/pipeline.yaml,line=5,col=3,endLine=5,endColumn=7,"
            "title=ORG001 step-without-description::step 'prep' has no description (help: add description:)") in r.stdout


def test_builtin_rules_are_off_without_config_and_on_when_named(tmp_path):
    bare = SPEC.replace("    timeout: 1h\n", "")
    repo = _git_repo(tmp_path, "", spec=bare)
    assert _run(repo, "validate", "teams/a/pipeline.yaml").returncode == 0
    (repo / "pipespec.toml").write_text(
        '[policies]\nbuiltin = ["step-without-timeout", "unpinned-image", "missing-required-key"]\n')
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml")
    assert r.returncode == 1
    assert _lines(r.stdout) == [
        "teams/a/pipeline.yaml:2:1: error[E834]: the spec does not set targets.airflow.owner, which this repository requires",
        "teams/a/pipeline.yaml:5:3: error[E832]: step 'prep' has no timeout",
        "teams/a/pipeline.yaml:6:12: error[E833]: the image of step 'prep' 'python:latest' has the :latest tag",
        "teams/a/pipeline.yaml:8:3: error[E832]: step 'train' has no timeout"]


def test_builtin_rules_pass_a_spec_that_keeps_them(tmp_path):
    spec = SPEC.replace("python:latest", "python@sha256:" + "a" * 64).replace(
        "steps:\n", "defaults:\n  timeout: 2h\nsteps:\n") + "targets:\n  airflow:\n    tags: [team-a]\n"
    repo = _git_repo(tmp_path, """
        [policies]
        builtin = ["step-without-timeout", "unpinned-image", "missing-required-key"]
        [policies.options.missing-required-key]
        keys = ["description", "targets.airflow.tags"]
        """, spec=spec)
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 0 and not _lines(r.stdout), r.stdout + r.stderr
    # the same key emptied: reported at the key
    (repo / "teams/a/pipeline.yaml").write_text(spec.replace("[team-a]", "[]"))
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml")
    assert _lines(r.stdout) == ["teams/a/pipeline.yaml:17:5: error[E834]: the spec does not set targets.airflow.tags, "
                                "which this repository requires"]


@pytest.mark.parametrize("ref, why", [("python", "has no tag (it means :latest)"), ("python:latest", "has the :latest tag"),
                                      ("localhost:5000/x", "has no tag (it means :latest)"), ("localhost:5000/x:1", None),
                                      ("python:3.12-slim", None), ("python@sha256:ab", None)])
def test_unpinned_image_reads_registry_ports_and_digests(ref, why):
    from pipespec.policies.builtin import unpinned

    assert unpinned(ref) == why


def test_a_crashing_rule_is_one_diagnostic_and_the_others_still_run(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/crash.py", "tools/org.py"]\n',
                     {"tools/crash.py": CRASH_PY, "tools/org.py": ORG_PY})
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml")
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    assert _lines(r.stdout) == [
        "teams/a/pipeline.yaml:1:1: error[E830]: policy rule ORG900 always-crashes failed: ZeroDivisionError: division by zero",
        "teams/a/pipeline.yaml:2:1: error[ORG900]: found before the crash",
        "teams/a/pipeline.yaml:5:3: warning[ORG001]: step 'prep' has no description",
        "teams/a/pipeline.yaml:8:3: warning[ORG001]: step 'train' has no description"]
    assert "tools/crash.py" in r.stdout          # the help names where the rule lives


ENTRY_PY = '''
from pipespec.policies import rule


@rule("ACME001", "schedule-required")
def schedule_required(ctx):
    if ctx.spec.schedule is None:
        ctx.report(ctx.spec.root.key_node("name"), "pipeline '" + ctx.spec.name + "' has no schedule")


RULES = [schedule_required]
'''


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    info = site / "acme_policies-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-policies\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pipespec.policies]\nacme = acme_policies\n")
    (site / "acme_policies.py").write_text(ENTRY_PY)
    return site


def test_an_entry_point_plugin_runs_when_the_config_names_it(tmp_path, site):
    repo = _git_repo(tmp_path, "")
    r = _run(repo, "validate", "teams/a/pipeline.yaml", site=site)
    assert r.returncode == 0 and "ACME001" not in r.stdout     # installed but not named: not run
    (repo / "pipespec.toml").write_text('[policies]\nplugins = ["acme"]\n')
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml", site=site)
    assert r.returncode == 1
    assert _lines(r.stdout) == ["teams/a/pipeline.yaml:2:1: error[ACME001]: pipeline 'churn' has no schedule"]
    # compile refuses what validate refuses
    r = _run(repo, "compile", "teams/a/pipeline.yaml", "--target", "github", site=site)
    assert r.returncode == 1 and "error[ACME001]" in r.stderr


def test_config_problems_are_e831_at_the_config_file_once(tmp_path):
    repo = _git_repo(tmp_path, '[policies]\nplugins = ["nope"]\nmodules = ["../outside.py", "tools/missing.py"]\n'
                               'builtin = ["no-such-rule"]\nbogus = 1\n')
    (repo / "teams" / "b").mkdir()
    (repo / "teams" / "b" / "pipeline.yaml").write_text(SPEC.replace("churn", "other"))
    r = _run(repo, "validate", "-q", "teams")
    assert r.returncode == 1
    assert _lines(r.stdout) == [                          # each once, though two specs share the file
        "pipespec.toml:2:13: error[E831]: no installed policy plugin 'nope' (entry point group pipespec.policies; "
        "installed: none)",
        f"pipespec.toml:3:13: error[E831]: policy module '../outside.py' is not inside the project ({repo})",
        "pipespec.toml:3:30: error[E831]: policy module 'tools/missing.py' does not exist",
        "pipespec.toml:4:13: error[E831]: no built-in policy rule 'no-such-rule'",
        "pipespec.toml:5:1: error[E831]: unknown key 'bogus' in [policies]"]
    doc = json.loads(_run(repo, "validate", "--format", "json", "teams").stdout)
    assert [f["file"] for f in doc["files"]] == ["teams/a/pipeline.yaml", "teams/b/pipeline.yaml", "pipespec.toml"]
    assert doc["summary"]["errors"] == 5 and doc["summary"]["invalid"] == 1


def test_bad_toml_and_a_bad_rule_declaration(tmp_path):
    repo = _git_repo(tmp_path, "[policies\n")
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 1 and "pipespec.toml:1:1: error[E831]: cannot read the policy config" in r.stdout
    bad = ORG_PY.replace('"ORG001"', '"E999"')
    (repo / "pipespec.toml").write_text('[policies]\nmodules = ["tools/org.py"]\n')
    (repo / "tools").mkdir()
    (repo / "tools" / "org.py").write_text(bad)
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert ("pipespec.toml:2:13: error[E831]: policy module 'tools/org.py' does not load: ValueError: "
            "policy code 'E999' is not 2-8 capital letters and 3 digits (e.g. ORG001)") in r.stdout


def test_a_spec_value_never_selects_code(tmp_path):
    """Nothing in a spec names a module: a spec that mentions one imports nothing."""
    marker = tmp_path / "imported"
    evil = tmp_path / "repo" / "tools" / "evil.py"
    spec = SPEC + "targets:\n  airflow:\n    policies: tools/evil.py\n"
    repo = _git_repo(tmp_path, "", {"tools/evil.py": f"open({str(marker)!r}, 'w').write('x')\n"}, spec=spec)
    r = _run(repo, "validate", "teams/a/pipeline.yaml")
    assert evil.exists() and not marker.exists()
    assert "E201" in r.stdout


def test_a_repository_without_config_imports_no_policy_code():
    from support import SPECS

    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipespec", "validate", "-q",
                        str(SPECS / "churn" / "pipeline.yaml")], capture_output=True, text=True, timeout=60)
    mods = {ln.rsplit("|", 1)[1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")}
    assert "pipespec.frontend" in mods
    assert not {m for m in mods if m.startswith("pipespec.policies") or m in ("tomllib", "importlib.metadata")}


def test_the_example_of_docs_policies_prints_what_the_page_shows(tmp_path):
    """docs/policies.md: its rule module, named from a pipespec.toml, prints its text block."""
    import re

    from support import ROOT

    page = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    module = re.search(r"```python\n# tools/org_policies.py\n(.*?)```", page, re.S).group(1)
    shown = re.search(r"which prints, like any other diagnostic:\n\n```text\n(.*?)```", page, re.S).group(1)
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org_policies.py"]\n', {"tools/org_policies.py": module})
    r = _run(repo, "validate", "-q", "--color", "never", "teams/a/pipeline.yaml")
    assert r.stdout.startswith(shown), r.stdout


def test_rules_do_not_run_on_a_spec_with_shape_errors_but_config_errors_show(tmp_path):
    spec = SPEC.replace("    run: echo prep\n", "    run: echo prep\n    bogus: 1\n")
    repo = _git_repo(tmp_path, '[policies]\nbuiltin = ["step-without-timeout", "nope"]\n', spec=spec)
    codes = [ln.split("[", 1)[1].split("]", 1)[0] for ln in _lines(_run(repo, "validate", "-q", "teams/a/pipeline.yaml").stdout)]
    assert codes == ["E831", "E201"]


def test_a_report_at_no_position_is_e830(tmp_path):
    bad = ORG_PY.replace("ctx.report(step.key,", "ctx.report(step.name,")
    repo = _git_repo(tmp_path, '[policies]\nmodules = ["tools/org.py"]\n', {"tools/org.py": bad})
    r = _run(repo, "validate", "-q", "teams/a/pipeline.yaml")
    assert r.returncode == 1
    assert _lines(r.stdout) == ["teams/a/pipeline.yaml:1:1: error[E830]: policy rule ORG001 step-without-description "
                                "failed: report() was given str, not a node or a span of this spec"]
