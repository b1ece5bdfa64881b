"""metrics.textfile on a target whose finish task runs on a machine gone after the run (a GitHub
job, a Kubeflow task, an Airflow pod): the file would be written where no node_exporter reads it,
so W704 says so rather than leave it silently lost."""

from __future__ import annotations

import subprocess
import sys

SPEC = """\
pipespec: 1
name: example
steps:
  a:
    run: echo a
metrics:
  textfile: metrics/example.prom
"""


def _warnings(tmp_path, spec: str, *args: str) -> list[str]:
    (tmp_path / "p.yaml").write_text(spec)
    r = subprocess.run([sys.executable, "-m", "pipespec", "validate", "--color", "never", *args, "p.yaml"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return [ln for ln in r.stdout.splitlines() if "warning[W7" in ln]


def test_a_textfile_written_on_a_fresh_machine_is_said(tmp_path):
    for target, machine in (("github", "job"), ("kubeflow", "task")):
        heads = _warnings(tmp_path, SPEC, "--target", target)
        assert len(heads) == 1 and "warning[W704]" in heads[0], heads
        assert heads[0].startswith("p.yaml:6:1:") and f"every {machine} runs on a fresh machine" in heads[0], heads
    k8s = SPEC + "targets:\n  airflow: {operator: kubernetes}\n"
    heads = _warnings(tmp_path, k8s, "--target", "airflow")
    assert [h for h in heads if "W704" in h] and "every pod runs" in heads[0], heads


def test_where_the_file_lasts_nothing_is_said(tmp_path):
    assert _warnings(tmp_path, SPEC, "--target", "airflow") == []       # the workers keep it
    assert _warnings(tmp_path, SPEC) == []                              # pipespec run writes it here
    pushed = SPEC.replace("  textfile: metrics/example.prom\n", "  pushgateway: http://127.0.0.1:9091\n")
    assert _warnings(tmp_path, pushed, "--target", "github") == []
