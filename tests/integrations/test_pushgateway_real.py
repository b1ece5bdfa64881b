"""The real Pushgateway and Prometheus (Debian's packages, unpacked into the tooling cache by
tests/tooling/debs.py, bound to 127.0.0.1): real runs push to the Pushgateway, and what it then
serves on /metrics, parsed with ``prometheus_client.parser``, shows pushadd semantics — a failed
run replaces its own metrics but leaves the last success of the run before. Prometheus scrapes
the Pushgateway, and the values are read back through its HTTP query API."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

import servers
from servers import free_port

pytestmark = pytest.mark.slow
parser = pytest.importorskip("prometheus_client.parser")

SPEC = """\
pipespec: 1
name: nightly
params:
  fail: {type: bool, default: false}
steps:
  evaluate:
    run: |
      test ${{ params.fail }} = false || exit 1
      printf '{"auc": 0.91}' > ${{ outputs.scores }}
    outputs: {scores: metrics}
metrics:
  pushgateway: "PUSH_URL"
  job: pipespec_test
"""


@pytest.fixture
def pushgateway(tmp_path):
    with servers.pushgateway(tmp_path) as url:
        yield url


@pytest.fixture
def prometheus_server(tmp_path, pushgateway):
    port = free_port()
    target = pushgateway.removeprefix("http://")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1s}\n"
                   "scrape_configs:\n"
                   f"  - {{job_name: pushgateway, honor_labels: true, static_configs: [{{targets: ['{target}']}}]}}\n")
    with servers.debian_server("prometheus", [f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                                              f"--storage.tsdb.path={tmp_path / 'tsdb'}"], port, tmp_path,
                               ready_s=60) as url:
        yield url


def _query(url: str, promql: str) -> list[dict]:
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def _served(url: str) -> dict[str, list]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, list] = {}
    for fam in parser.text_string_to_metric_families(text):
        for s in fam.samples:
            if s.labels.get("job") == "pipespec_test":
                out.setdefault(s.name, []).append(s)
    return out


def _run(folder: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", "run", "pipeline.yaml", "--progress", "plain", *args],
                          cwd=folder, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"})


def test_runs_pushed_to_a_real_pushgateway(tmp_path, pushgateway):
    (tmp_path / "pipeline.yaml").write_text(SPEC.replace("PUSH_URL", pushgateway))
    r = _run(tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    got = _served(pushgateway)
    (success,) = got["pipespec_run_last_success_timestamp_seconds"]
    # the Pushgateway adds an empty instance label to a group without one
    assert success.labels == {"job": "pipespec_test", "instance": "", "pipeline": "nightly", "target": "local"}
    assert abs(success.value - time.time()) < 120
    (auc,) = got["pipespec_model_metric"]
    assert auc.value == 0.91 and auc.labels["step"] == "evaluate" and auc.labels["metric"] == "auc"
    assert got["pipespec_step_attempts_total"][0].value == 1.0
    assert not any("run_id" in s.labels for samples in got.values() for s in samples)

    r = _run(tmp_path, "-p", "fail=true")
    assert r.returncode == 1 and "warning" not in r.stderr, r.stderr
    got = _served(pushgateway)
    assert [s.value for s in got["pipespec_run_success"]] == [0.0]              # replaced by the failed run
    assert [s.value for s in got["pipespec_run_last_success_timestamp_seconds"]] == [success.value]   # kept
    assert got["pipespec_step_attempts_total"][0].value == 2.0


def test_prometheus_scrapes_what_runs_pushed(tmp_path, pushgateway, prometheus_server):
    (tmp_path / "pipeline.yaml").write_text(SPEC.replace("PUSH_URL", pushgateway))
    r = _run(tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    query = 'pipespec_model_metric{job="pipespec_test",pipeline="nightly",metric="auc"}'
    deadline = time.monotonic() + 60
    while not (got := _query(prometheus_server, query)):
        assert time.monotonic() < deadline, "Prometheus never scraped the pushed metrics"
        time.sleep(0.5)
    (auc,) = got
    assert float(auc["value"][1]) == 0.91
    assert auc["metric"]["step"] == "evaluate" and auc["metric"]["target"] == "local"
    (ok,) = _query(prometheus_server, 'pipespec_run_success{job="pipespec_test"}')
    assert float(ok["value"][1]) == 1.0
    # the batch-job alert rule of the Prometheus docs works on it: seconds since the last success
    (age,) = _query(prometheus_server, 'time() - pipespec_run_last_success_timestamp_seconds{pipeline="nightly"}')
    assert 0 <= float(age["value"][1]) < 300
    # every query of the Grafana dashboard in docs/ is valid PromQL for this Prometheus, and its
    # stat panels show the run
    dash = json.loads((pathlib.Path(__file__).resolve().parents[2] / "docs" / "grafana" /
                       "pipespec-dashboard.json").read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            result = _query(prometheus_server, target["expr"].replace("$pipeline", "nightly"))
            if panel["type"] == "stat":
                assert result, panel["title"]
