"""Compiled targets do not carry out notify:/metrics:/tracking: yet: ``pipespec compile`` says
so once per key (W701), at the key, and still writes the file."""

from __future__ import annotations

import subprocess
import sys

SPEC = """\
pipespec: 1
name: example
secrets:
  hook: {env: HOOK}
steps:
  a:
    run: echo a
notify:
  channels:
    audit: {type: webhook, secret: hook}
  on_failure: [audit]
metrics:
  textfile: example.prom
"""


def test_each_compiled_target_warns_once_per_key(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC)
    for target in ("airflow", "kubeflow", "github"):
        r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", target],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout, r.stderr
        heads = [ln for ln in r.stderr.splitlines() if "warning[W701]" in ln]
        assert heads == [
            f"p.yaml:8:1: warning[W701]: {target}: notify: is carried out by pipespec run only, not yet by the "
            f"{target} target: no alert is sent from its runs",
            f"p.yaml:12:1: warning[W701]: {target}: metrics: is carried out by pipespec run only, not yet by the "
            f"{target} target: no metrics are written"], r.stderr


def test_a_spec_without_them_compiles_as_before(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC.split("notify:")[0].replace("secrets:\n  hook: {env: HOOK}\n", ""))
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", "github"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "W701" not in r.stderr


def test_validate_with_a_target_says_it_too(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC)
    r = subprocess.run([sys.executable, "-m", "pipespec", "validate", "--color", "never", "--target", "kubeflow",
                        "p.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    heads = [ln for ln in r.stdout.splitlines() if "warning[W701]" in ln]
    assert [h.split(": ")[0] for h in heads] == ["p.yaml:8:1", "p.yaml:12:1"], r.stdout
