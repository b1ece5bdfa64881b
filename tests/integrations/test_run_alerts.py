"""``pipespec run`` sends a spec's alerts itself, to real servers on 127.0.0.1: a failure,
then the recovery (PagerDuty trigger, then resolve with the same dedup_key), a success, and
a metric condition; a channel that cannot be reached is a warning and the run's result is
unchanged; no secret value appears in what pipespec prints or records."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import time

from observe_support import PD_KEY, SLACK_TOKEN

HOOK_TOKEN = "T0KEN-h00k-5ecret-b1d7"

SPEC = """\
pipespec: 1
name: churn
params:
  fail: {type: bool, default: false}
  auc: {type: float, default: 0.7}
secrets:
  slack_hook: {env: SLACK_HOOK}
  hook: {env: AUDIT_HOOK}
  pd_key: {env: PD_KEY}
  smtp_url: {env: SMTP_URL}
steps:
  evaluate:
    run: |
      test ${{ params.fail }} = false || exit 1
      printf '{"auc": %s}' ${{ params.auc }} > ${{ outputs.scores }}
    outputs: {scores: metrics}
notify:
  channels:
    team: {type: slack, secret: slack_hook}
    audit: {type: webhook, secret: hook}
    oncall: {type: pagerduty, secret: pd_key, severity: critical, url: "PD_URL"}
    mail: {type: email, secret: smtp_url, to: [ml@example.com], from: pipespec@example.com}
  on_failure: [oncall, team, mail]
  on_recovery: [oncall, team]
  on_success: [team, audit]
  when:
    - if: ${{ steps.evaluate.outputs.scores.auc < 0.8 }}
      send: [team]
      message: churn AUC below 0.8
"""


def _setup(tmp_path: pathlib.Path, http, smtp) -> tuple[pathlib.Path, dict]:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC.replace("PD_URL", http.url + "/v2/enqueue"))
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_OUTPUT",)}
    env.update(SLACK_HOOK=f"{http.url}/services/{SLACK_TOKEN}", AUDIT_HOOK=f"{http.url}/audit/{HOOK_TOKEN}",
               PD_KEY=PD_KEY, SMTP_URL=smtp.url)
    return spec, env


def _run(spec: pathlib.Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", "run", str(spec), "--progress", "plain", *args],
                          cwd=spec.parent, env=env, capture_output=True, text=True, timeout=120)


def _wait_mail(smtp, n: int) -> None:
    for _ in range(100):
        if len(smtp.messages) >= n:
            return
        time.sleep(0.05)


def test_failure_then_recovery_then_success(tmp_path, http, smtp):
    spec, env = _setup(tmp_path, http, smtp)

    r = _run(spec, env, "-p", "fail=true")
    assert r.returncode == 1, r.stderr
    assert "warning" not in r.stderr, r.stderr
    (trigger,) = [q.json() for q in http.at("/v2/enqueue")]
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "pipespec/churn"
    assert trigger["routing_key"] == PD_KEY and trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["custom_details"]["failed_steps"] == ["evaluate"]
    (slack,) = [q.json() for q in http.at("/services/")]
    assert slack["text"].startswith("pipespec: churn FAILED")
    assert not http.at("/audit/")                     # on_success only
    _wait_mail(smtp, 1)
    assert len(smtp.messages) == 1 and b"Subject: pipespec: churn FAILED" in smtp.messages[0][2]
    # the condition reads a step that failed: skipped, without a warning
    assert not any("AUC" in q.json().get("text", "") for q in http.at("/services/"))

    http.requests.clear()
    r = _run(spec, env)
    assert r.returncode == 0, r.stderr
    (resolve,) = [q.json() for q in http.at("/v2/enqueue")]
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/churn"}
    texts = [q.json()["text"] for q in http.at("/services/")]
    # team is in on_success and on_recovery: told once, of the recovery; then the condition
    assert [t.splitlines()[0] for t in texts] == [
        f"pipespec: churn recovered (run {_latest(spec)}, target local)",
        f"pipespec: churn alert (run {_latest(spec)}, target local)"]
    assert texts[1].splitlines()[-1] == "churn AUC below 0.8"
    (audit,) = [q.json() for q in http.at("/audit/")]
    assert audit["event"] == "success" and audit["status"] == "succeeded" and audit["pipeline"] == "churn"

    http.requests.clear()
    r = _run(spec, env, "-p", "auc=0.9")
    assert r.returncode == 0, r.stderr
    assert not http.at("/v2/enqueue")                  # no failure, no recovery: PagerDuty is not told
    assert [q.json()["text"].split(" (")[0] for q in http.at("/services/")] == ["pipespec: churn succeeded"]
    _wait_mail(smtp, 2)
    assert len(smtp.messages) == 1                     # mail is on_failure only

    _assert_no_secret(spec.parent, [r.stdout, r.stderr])


def test_an_alert_that_fails_is_a_warning_and_never_the_result(tmp_path, http, smtp):
    spec, env = _setup(tmp_path, http, smtp)
    http.status["/services/"] = 500
    r = _run(spec, env, "-p", "auc=0.9")
    assert r.returncode == 0
    assert ("pipespec: warning: the success alert to channel 'team' (slack) was not sent: "
            "127.0.0.1 answered HTTP 500") in r.stderr
    assert len(http.at("/audit/")) == 1                # the other channel still heard
    r = _run(spec, env, "-p", "fail=true")
    assert r.returncode == 1                           # and a failed run stays failed
    assert "the failure alert to channel 'team' (slack) was not sent" in r.stderr
    _assert_no_secret(spec.parent, [r.stdout, r.stderr])


def _latest(spec: pathlib.Path) -> str:
    import sqlite3

    with sqlite3.connect(spec.parent / ".pipespec" / "runs.db") as c:
        return c.execute("SELECT id FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0]


def _assert_no_secret(folder: pathlib.Path, texts: list[str]) -> None:
    needles = (HOOK_TOKEN, SLACK_TOKEN, PD_KEY)
    for t in texts:
        assert not any(n in t for n in needles), t
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n.encode() in data for n in needles), p


def test_a_condition_that_cannot_be_evaluated_is_a_warning(tmp_path, http, smtp):
    spec, env = _setup(tmp_path, http, smtp)
    spec.write_text(spec.read_text().replace("scores.auc < 0.8", "scores.f1 < 0.8"))   # no f1 in the file
    r = _run(spec, env, "-p", "auc=0.9")
    assert r.returncode == 0
    assert ("pipespec: warning: notify.when #1 (churn AUC below 0.8) was not evaluated: no value for "
            "'steps.evaluate.outputs.scores.f1'" in r.stderr), r.stderr
    assert [q.json()["text"].split(" (")[0] for q in http.at("/services/")] == ["pipespec: churn succeeded"]


STEP_SPEC = """\
pipespec: 1
name: churn
params:
  fail: {type: bool, default: false}
secrets:
  pd_key: {env: PD_KEY}
  hook: {env: AUDIT_HOOK}
steps:
  prepare:
    run: echo prepared
  train:
    run: test ${{ params.fail }} = false
    needs: [prepare]
  deploy:
    run: echo deployed
    needs: [train]
notify:
  channels:
    oncall: {type: pagerduty, secret: pd_key, url: "PD_URL"}
    audit: {type: webhook, secret: hook}
  steps:
    train: {on_failure: [oncall], on_recovery: [oncall]}
    deploy: {on_success: [audit], on_failure: [audit]}
"""


def test_step_alerts_page_once_per_step_and_resolve(tmp_path, http, smtp):
    spec, env = _setup(tmp_path, http, smtp)
    spec.write_text(STEP_SPEC.replace("PD_URL", http.url + "/v2/enqueue"))

    r = _run(spec, env, "-p", "fail=true")
    assert r.returncode == 1 and "warning" not in r.stderr, r.stderr
    (trigger,) = [q.json() for q in http.at("/v2/enqueue")]
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "pipespec/churn/train"
    assert trigger["payload"]["summary"].startswith("pipespec: churn step train FAILED")
    assert trigger["payload"]["custom_details"]["step"] == "train"
    assert not http.at("/audit/")                     # deploy did not run: nothing to tell of it

    http.requests.clear()
    r = _run(spec, env)
    assert r.returncode == 0, r.stderr
    (resolve,) = [q.json() for q in http.at("/v2/enqueue")]
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "pipespec/churn/train"}
    (audit,) = [q.json() for q in http.at("/audit/")]
    assert (audit["step"], audit["event"], audit["message"]) == ("deploy", "success",
                                                                 "pipespec: churn step deploy succeeded")

    http.requests.clear()
    r = _run(spec, env)                               # all cached and succeeding: train has nothing to resolve
    assert r.returncode == 0
    assert not http.at("/v2/enqueue") and len(http.at("/audit/")) == 1
