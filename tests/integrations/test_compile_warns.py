"""A compiled target that does not carry out notify:/metrics:/tracking: (yet) says so at compile
time, once per key (W701), at the key, and still writes the file; a target that renders them
natively (its tasks run ``pipespec observe start|finish``) says nothing."""

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


# target -> the keys it still leaves to pipespec run (the others it carries out itself)
NOT_CARRIED = {"airflow": (), "kubeflow": (), "github": ()}


def _w701(tmp_path, target: str, spec: str = SPEC) -> list[str]:
    (tmp_path / "p.yaml").write_text(spec)
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", target],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout, r.stderr
    return [ln for ln in r.stderr.splitlines() if "warning[W701]" in ln]


def test_each_compiled_target_warns_once_per_key_it_does_not_carry_out(tmp_path):
    lines = {"notify": ("p.yaml:8:1", "no alert is sent from its runs"),
             "metrics": ("p.yaml:12:1", "no metrics are written")}
    for target, keys in NOT_CARRIED.items():
        assert _w701(tmp_path, target) == [
            f"{lines[k][0]}: warning[W701]: {target}: {k}: is carried out by pipespec run only, not yet by the "
            f"{target} target: {lines[k][1]}" for k in keys], target


def test_airflow_under_the_kubernetes_operator_carries_them_out_too(tmp_path):
    # its start and finish tasks are pods like its steps (tests/backends/test_airflow_k8s_observe.py)
    spec = SPEC + "targets:\n  airflow: {operator: kubernetes, image: 'python:3.11', artifact_root: 's3://b/p'}\n"
    assert _w701(tmp_path, "airflow", spec) == []


def test_a_spec_without_them_compiles_as_before(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC.split("notify:")[0].replace("secrets:\n  hook: {env: HOOK}\n", ""))
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", "github"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "W701" not in r.stderr


def test_validate_with_a_target_says_it_too(tmp_path):
    # Kubeflow's exit task cannot read the steps' outputs: a when: condition is left out (PARTS)
    when = ("  when:\n    - if: ${{ steps.a.outputs.scores.auc < 0.7 }}\n      send: [audit]\n"
            "metrics:\n")
    spec = SPEC.replace("    run: echo a\n", "    run: echo a\n    outputs: {scores: metrics}\n").replace("metrics:\n", when)
    (tmp_path / "p.yaml").write_text(spec)
    r = subprocess.run([sys.executable, "-m", "pipespec", "validate", "--color", "never", "--target", "kubeflow",
                        "p.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    heads = [ln for ln in r.stdout.splitlines() if "warning[W701]" in ln]
    assert [h.split(": ")[0] for h in heads] == ["p.yaml:9:1"], r.stdout


TRACKED = """\
pipespec: 1
name: example
secrets:
  hook: {env: HOOK}
steps:
  a:
    run: echo a
notify:
  channels:
    team: {type: slack, secret: hook}
  on_recovery: [team]
tracking:
  mlflow: {}
"""


def test_what_a_fresh_machine_per_task_loses_is_said(tmp_path):
    codes = lambda heads: [h.split("warning[")[1][:4] for h in heads]     # noqa: E731
    for target in ("github",):
        (tmp_path / "p.yaml").write_text(TRACKED)
        r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", target],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        heads = [ln for ln in r.stderr.splitlines() if "warning[W70" in ln]
        assert codes(heads) == ["W703", "W702"], r.stderr          # by position: notify:, then tracking:
        # a tracking server: both the store and the previous run's status are there
        (tmp_path / "p.yaml").write_text(TRACKED.replace("mlflow: {}", "mlflow: {uri: 'http://127.0.0.1:5000'}"))
        r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", target],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert "warning[W70" not in r.stderr, r.stderr
    # Airflow: the workers share the artifact root and the default store's machine
    (tmp_path / "p.yaml").write_text(TRACKED)
    r = subprocess.run([sys.executable, "-m", "pipespec", "compile", "p.yaml", "--target", "airflow"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "warning[W70" not in r.stderr, r.stderr
