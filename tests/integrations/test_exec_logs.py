"""``pipespec exec --log-format json`` (and ``$PIPESPEC_LOG_FORMAT=json``, how a target turns it
on for all its workers): what exec says is the same ECS objects as ``pipespec run
--log-format json`` (one module, ``integrations/logs.py``), on standard error, checked field by
field; the step's own output stays as it is; secrets are masked."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys

SPEC = """\
pipespec: 1
name: logs
secrets:
  token: {env: TOKEN}
steps:
  prepare:
    run: sleep 0.2; echo prepared
  train:
    foreach: [a, b]
    run: test ${{ item }} = b
  flaky:
    run: test -e marker || { touch marker; exit 4; }
    retries: {limit: 1, delay: 0s}
  boom:
    call: steps:boom
    env: {T: "${{ secrets.token }}"}
"""

STEPS = """\
import os


def boom():
    raise RuntimeError("bad token " + os.environ["T"])
"""

SECRET = "s3cr3t-Value-9"


def _exec(tmp_path, step, *args, env_extra=None):
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    (tmp_path / "steps.py").write_text(STEPS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPESPEC_", "MLFLOW_")) and k != "GITHUB_OUTPUT"}
    env.update({"TOKEN": SECRET, **(env_extra or {})})
    return subprocess.run([sys.executable, "-m", "pipespec", "exec", "pipeline.yaml", "--step", step,
                           "--run-id", "r-7", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)


def _records(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _ecs(rec: dict) -> None:
    assert {"@timestamp", "log.level", "message", "ecs.version"} <= set(rec)
    assert rec["ecs.version"] == "1.6.0" and rec["service"] == {"name": "pipespec"}
    ts = _dt.datetime.fromisoformat(rec["@timestamp"].replace("Z", "+00:00"))
    assert rec["@timestamp"].endswith("Z") and ts.tzinfo is not None
    assert abs((_dt.datetime.now(_dt.timezone.utc) - ts).total_seconds()) < 120


def test_a_step_done_is_one_ecs_record_field_by_field(tmp_path):
    r = _exec(tmp_path, "prepare", "--log-format", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "prepared\n"                  # the step's own output, untouched
    [rec] = _records(r.stderr)
    assert r.stderr.count("\n") == 1                 # nothing else said, as text
    _ecs(rec)
    assert rec["log.level"] == "info"
    assert rec["labels"] == {"pipeline": "logs", "step": "prepare", "run_id": "r-7"}
    assert rec["event"]["action"] == "step-done" and rec["event"]["outcome"] == "success"
    assert isinstance(rec["event"]["duration"], int) and 200_000_000 <= rec["event"]["duration"] < 30 * 10**9
    assert rec["message"].startswith("prepare done ")
    assert rec["pipespec"] == {"status": "succeeded", "exit_code": 0, "attempts": 1}


def test_the_environment_switches_it_on_and_a_leg_is_named_by_item(tmp_path):
    r = _exec(tmp_path, "train", "--item-index", "0", env_extra={"PIPESPEC_LOG_FORMAT": "json"})
    assert r.returncode == 1
    [rec] = _records(r.stderr)
    _ecs(rec)
    assert rec["labels"] == {"pipeline": "logs", "step": "train[a]", "run_id": "r-7"}
    assert rec["log.level"] == "error" and rec["event"]["outcome"] == "failure"
    assert rec["event"]["action"] == "step-failed" and rec["pipespec"]["exit_code"] == 1
    assert rec["message"] == "train[a] FAILED after 1 attempt: exit 1"
    # the flag wins over the environment
    r = _exec(tmp_path, "train", "--item-index", "1", "--log-format", "text", env_extra={"PIPESPEC_LOG_FORMAT": "json"})
    assert r.returncode == 0 and _records(r.stderr) == [] and "pipespec exec: train[1] succeeded" in r.stderr


def test_a_retry_is_a_warning_record_before_the_end(tmp_path):
    r = _exec(tmp_path, "flaky", "--retries-by-executor", "--log-format", "json")
    assert r.returncode == 0, r.stderr
    retry, done = _records(r.stderr)
    for rec in (retry, done):
        _ecs(rec)
        assert rec["labels"] == {"pipeline": "logs", "step": "flaky", "run_id": "r-7"}
    assert retry["log.level"] == "warning" and retry["event"] == {"action": "step-retry", "outcome": "failure"}
    assert retry["message"] == "attempt 1 failed (exit 4); retrying in 0s"
    assert done["event"]["outcome"] == "success" and done["pipespec"]["attempts"] == 2


def test_secrets_are_masked_and_a_usage_error_is_a_record(tmp_path):
    r = _exec(tmp_path, "boom", "--log-format", "json")
    assert r.returncode == 1
    assert SECRET not in r.stderr and SECRET not in r.stdout
    assert "bad token ***" in r.stderr               # the step's traceback, masked
    [rec] = _records(r.stderr)
    _ecs(rec)
    assert rec["event"]["outcome"] == "failure" and rec["labels"]["step"] == "boom"
    r = _exec(tmp_path, "train", "--item-index", "9", "--log-format", "json")
    assert r.returncode == 2
    [rec] = _records(r.stderr)
    _ecs(rec)
    assert rec["log.level"] == "error" and rec["event"] == {"outcome": "failure"}
    assert rec["message"] == "--item-index 9 is out of range: the foreach of 'train' has 2 items"
    assert rec["labels"] == {"pipeline": "logs", "step": "train", "run_id": "r-7"}


def test_a_bad_log_format_in_the_environment_is_a_usage_error(tmp_path):
    r = _exec(tmp_path, "prepare", env_extra={"PIPESPEC_LOG_FORMAT": "xml"})
    assert r.returncode == 2 and "PIPESPEC_LOG_FORMAT: expected text or json, not 'xml'" in r.stderr
    assert "Traceback" not in r.stderr
