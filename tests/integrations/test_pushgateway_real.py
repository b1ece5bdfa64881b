"""The real Pushgateway (Debian's prometheus-pushgateway, unpacked into the tooling cache by
tests/tooling/debs.py, bound to 127.0.0.1): real runs push to it, and what it then serves on
/metrics, parsed with ``prometheus_client.parser``, shows pushadd semantics — a failed run
replaces its own metrics but leaves the last success of the run before."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

from servers import free_port
from tooling.debs import DebError, ensure_binary

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
    try:
        exe = ensure_binary("prometheus-pushgateway")
    except DebError as e:
        pytest.fail(f"the Pushgateway binary cannot be had: {e}")
    port = free_port()
    log = open(tmp_path / "pushgateway.log", "w")
    proc = subprocess.Popen([str(exe), f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the Pushgateway did not become ready: " + (tmp_path / "pushgateway.log").read_text())
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


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
