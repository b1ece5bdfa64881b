"""E407/E408/E409: deps and target outputs stay inside the project (the git repository holding
the spec, else the spec's folder)."""

from __future__ import annotations

import pytest

from pipespec.frontend import load_spec

SPEC = """
pipespec: 1
name: p
steps:
  train:
    run: python train.py
    deps: [{dep}]
targets:
  github: {{output: {out}}}
"""


def codes(folder, dep, out):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(SPEC.format(dep=dep, out=out))
    return sorted(d.code for d in load_spec(str(folder / "pipeline.yaml")).diagnostics)


@pytest.mark.parametrize("dep,out,want", [
    ("../src/model.py", "../.github/workflows/p.yml", []),           # inside the repository
    ("../../outside.py", "w.yml", ["E408"]),
    ("data/../x.py", "../../../.bashrc", ["E409"]),
    ("/etc/shadow", "/tmp/w.yml", ["E407", "E409"]),
    ('"/**"', "w.yml", ["E407"]),
])
def test_project_is_the_repository(tmp_path, dep, out, want):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    assert codes(tmp_path / "repo" / "pipelines", dep, out) == want


def test_without_a_repository_the_project_is_the_spec_folder(tmp_path):
    assert codes(tmp_path / "a" / "b", "../src/model.py", "../w.yml") == ["E408", "E409"]
    assert codes(tmp_path / "c", "src/../model.py", "out/w.yml") == []
