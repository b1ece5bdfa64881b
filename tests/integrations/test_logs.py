"""``pipespec run --log-format json``: every line of standard output is one ECS object with the
required fields (elastic/ecs-logging spec: ``@timestamp``, ``log.level``, ``message``,
``ecs.version``), the event's outcome and duration in nanoseconds, and the labels."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys

SPEC = """\
pipespec: 1
name: logs
params:
  fail: {type: bool, default: false}
steps:
  prepare:
    run: sleep 0.2
  train:
    run: test ${{ params.fail }} = false
    needs: [prepare]
"""


def _run(tmp_path, *args):
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    return subprocess.run([sys.executable, "-m", "pipespec", "run", "pipeline.yaml", "--log-format", "json", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"})


def test_every_line_is_an_ecs_object(tmp_path):
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 4                          # run start, two steps, run end
    for rec in recs:
        assert {"@timestamp", "log.level", "message", "ecs.version"} <= set(rec)
        assert rec["ecs.version"] == "1.6.0" and rec["service"] == {"name": "pipespec"}
        ts = _dt.datetime.fromisoformat(rec["@timestamp"].replace("Z", "+00:00"))
        assert ts.tzinfo is not None and rec["@timestamp"].endswith("Z")
        assert rec["labels"]["pipeline"] == "logs"
    run_id = recs[0]["labels"]["run_id"]
    assert all(rec["labels"]["run_id"] == run_id for rec in recs)
    prepare = next(r for r in recs if r["labels"].get("step") == "prepare")
    assert prepare["event"]["outcome"] == "success" and prepare["event"]["action"] == "step-done"
    assert isinstance(prepare["event"]["duration"], int) and prepare["event"]["duration"] >= 200_000_000
    end = recs[-1]
    assert end["event"]["action"] == "run-end" and end["event"]["outcome"] == "success"
    assert end["event"]["duration"] >= prepare["event"]["duration"]
    assert end["message"].startswith(f"run {run_id} succeeded in ")


def test_a_failure_is_an_error_with_outcome_failure(tmp_path):
    r = _run(tmp_path, "-p", "fail=true")
    assert r.returncode == 1
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    train = next(r for r in recs if r["labels"].get("step") == "train")
    assert train["log.level"] == "error" and train["event"]["outcome"] == "failure"
    assert recs[-1]["event"]["outcome"] == "failure" and recs[-1]["log.level"] == "error"
