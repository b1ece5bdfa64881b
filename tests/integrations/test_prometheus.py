"""Prometheus metrics of real runs: the textfile parsed back with ``prometheus_client.parser``
(the reference parser of the text format), its batch-job semantics (a failed run keeps the last
success; counters add up over runs; no run id label), and the pushadd push received by a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from pipespec.integrations import prometheus

parser = pytest.importorskip("prometheus_client.parser")

SPEC = """\
pipespec: 1
name: sweep
params:
  fail: {type: bool, default: false}
steps:
  train:
    foreach: [forest, logreg]
    run: |
      test ${{ params.fail }} = false || exit 1
      printf '{"auc": 0.5, "loss": 2}' > ${{ outputs.scores }}
    outputs: {scores: metrics}
  report:
    run: echo ${{ steps.train.outputs.scores }}
metrics:
  textfile: monitoring/sweep.prom
  pushgateway: "PUSH_URL"
  job: nightly
"""


def _families(path: pathlib.Path) -> dict[str, list]:
    text = path.read_text(encoding="utf-8")
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def _value(fams, name: str, **labels) -> float:
    fam_name = name[:-len("_total")] if name.endswith("_total") else name
    hits = [s.value for s in fams[fam_name].samples if s.name == name and
            all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, fams[fam_name].samples)
    return hits[0]


def _run(folder: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", "run", str(folder / "pipeline.yaml"), "--progress",
                           "plain", *args], cwd=folder, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"})


def test_textfile_and_push_of_real_runs(tmp_path, http):
    (tmp_path / "pipeline.yaml").write_text(SPEC.replace("PUSH_URL", http.url))
    prom = tmp_path / "monitoring" / "sweep.prom"

    r = _run(tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    fams = _families(prom)
    assert fams["pipespec_run_last_success_timestamp_seconds"].type == "gauge"
    assert fams["pipespec_step_attempts"].type == "counter"
    last_success = _value(fams, "pipespec_run_last_success_timestamp_seconds", pipeline="sweep", target="local")
    assert _value(fams, "pipespec_run_success", pipeline="sweep") == 1.0
    assert _value(fams, "pipespec_step_success", step="train") == 1.0
    assert _value(fams, "pipespec_step_attempts_total", step="train") == 2.0     # two legs, one try each
    assert _value(fams, "pipespec_step_cache_hits_total", step="train") == 0.0
    assert _value(fams, "pipespec_model_metric", step="train", item="forest", output="scores", metric="auc") == 0.5
    assert _value(fams, "pipespec_model_metric", step="train", item="logreg", metric="loss") == 2.0
    assert _value(fams, "pipespec_step_duration_seconds", step="report") >= 0.0
    for fam in fams.values():                       # batch-job labels only, never a run id
        for s in fam.samples:
            assert set(s.labels) <= {"pipeline", "target", "step", "item", "output", "metric"}, s
    (push,) = http.requests
    assert push.method == "POST"                     # pushadd: only the names pushed are replaced
    assert push.path == "/metrics/job/nightly/pipeline/sweep"
    assert push.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    pushed = {f.name for f in parser.text_string_to_metric_families(push.body.decode())}
    assert "pipespec_run_last_success_timestamp_seconds" in pushed

    r = _run(tmp_path)                               # all cached: the counters add up
    assert r.returncode == 0
    fams = _families(prom)
    assert _value(fams, "pipespec_step_attempts_total", step="train") == 2.0
    assert _value(fams, "pipespec_step_cache_hits_total", step="train") == 2.0
    second_success = _value(fams, "pipespec_run_last_success_timestamp_seconds", pipeline="sweep")
    assert second_success > last_success

    http.requests.clear()
    r = _run(tmp_path, "-p", "fail=true")
    assert r.returncode == 1
    fams = _families(prom)
    assert _value(fams, "pipespec_run_success", pipeline="sweep") == 0.0
    assert _value(fams, "pipespec_step_success", step="train") == 0.0
    assert "pipespec_step_success" not in {s.name for s in fams["pipespec_step_success"].samples
                                           if s.labels["step"] == "report"}     # not run: no value
    # the failed run keeps the last success in the file, and does not push one
    assert _value(fams, "pipespec_run_last_success_timestamp_seconds", pipeline="sweep") == second_success
    assert _value(fams, "pipespec_run_last_completion_timestamp_seconds", pipeline="sweep") > second_success
    pushed = {f.name for f in parser.text_string_to_metric_families(http.requests[0].body.decode())}
    assert "pipespec_run_last_success_timestamp_seconds" not in pushed and "pipespec_run_success" in pushed
    assert not [p for p in prom.parent.iterdir() if p.name != "sweep.prom"]      # no temp file left


def test_a_failed_push_or_write_is_a_warning(tmp_path, http):
    http.status["/metrics/"] = 400
    (tmp_path / "pipeline.yaml").write_text(SPEC.replace("PUSH_URL", http.url))
    (tmp_path / "monitoring").write_text("a file where the folder should be")
    r = _run(tmp_path)
    assert r.returncode == 0
    assert "pipespec: warning: the metrics were not pushed: the Pushgateway at 127.0.0.1 answered HTTP 400" in r.stderr
    assert "pipespec: warning: metrics.textfile monitoring/sweep.prom was not written" in r.stderr


def test_label_values_are_escaped_as_the_format_says():
    s = prometheus.Sample("pipespec_model_metric", (("step", 'a"b\\c\nd'),), 1.5)
    (fam,) = parser.text_string_to_metric_families(prometheus.exposition([s]))
    assert fam.samples[0].labels == {"step": 'a"b\\c\nd'} and fam.samples[0].value == 1.5
    nan = prometheus.exposition([prometheus.Sample("pipespec_run_success", (), float("nan"))])
    assert "pipespec_run_success NaN" in nan.splitlines()
