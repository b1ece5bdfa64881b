"""Each channel type sends its published format to a real server on 127.0.0.1: Slack's
incoming webhook, a JSON webhook and PagerDuty Events API v2 to an HTTP server, email to an
SMTP server (aiosmtpd). Payloads are checked field by field."""

from __future__ import annotations

import email
import email.policy
import time

import pytest

from pipespec import ir
from pipespec.integrations import alerts
from pipespec.span import Span
from servers import free_port

SPAN = Span("t.yaml", 1, 1, 1, 2)
KEY = "R0UT1NGKEY0123456789abcdefABCDEF"          # 32 characters, as PagerDuty's


def channel(kind: str, **kw) -> ir.Channel:
    base = dict(name=kind, type=kind, secret="s", to=(), sender=None, severity="error", url=None, span=SPAN)
    base.update(kw)
    return ir.Channel(**base)


def event(kind: str = "failure", **kw) -> alerts.Event:
    base = dict(pipeline="churn", kind=kind, status="failed" if kind == "failure" else "succeeded",
                run_id="20261202-001500-abcd", failed_steps=("train",) if kind == "failure" else (),
                started=1796170000.0, ended=1796170042.0, dedup_key="pipespec/churn")
    base.update(kw)
    return alerts.Event(**base)


def test_slack_incoming_webhook_gets_text_and_blocks(http):
    alerts.send(channel("slack"), http.url + "/services/T000/B000/XXXX", event())
    (req,) = http.requests
    assert req.method == "POST" and req.path == "/services/T000/B000/XXXX"
    assert req.headers["Content-Type"] == "application/json"
    body = req.json()
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("pipespec: churn FAILED (run 20261202-001500-abcd, target local)")
    assert "failed steps: train" in body["text"]
    header, section = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "pipespec: churn FAILED"}}
    assert section["type"] == "section"
    assert [f["type"] for f in section["fields"]] == ["mrkdwn"] * 4
    assert section["fields"][0]["text"] == "*Run*\n20261202-001500-abcd"
    assert section["fields"][3]["text"] == "*Failed steps*\ntrain"


def test_webhook_gets_the_documented_fields(http):
    alerts.send(channel("webhook"), http.url + "/hook", event("recovery"))
    body = http.requests[0].json()
    assert body == {"pipeline": "churn", "step": None, "event": "recovery", "status": "succeeded",
                    "run_id": "20261202-001500-abcd", "target": "local",
                    "message": "pipespec: churn recovered", "failed_steps": [],
                    "started": "2026-12-02T00:06:40Z", "ended": "2026-12-02T00:07:22Z"}


def test_pagerduty_triggers_then_resolves_with_one_dedup_key(http):
    pd = channel("pagerduty", severity="critical", url=http.url + "/v2/enqueue")
    alerts.send(pd, KEY, event("failure"))
    alerts.send(pd, KEY, event("recovery"))
    trigger, resolve = (r.json() for r in http.at("/v2/enqueue"))
    assert trigger["routing_key"] == KEY and len(KEY) == 32
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "pipespec/churn"
    p = trigger["payload"]
    assert p["summary"].startswith("pipespec: churn FAILED (run 20261202-001500-abcd")
    assert len(p["summary"]) <= 1024
    assert p["source"] == "pipespec/local"
    assert p["severity"] == "critical"
    assert p["timestamp"] == "2026-12-02T00:07:22Z"
    assert p["component"] == "churn" and p["class"] == "failure"
    assert p["custom_details"]["failed_steps"] == ["train"]
    assert resolve == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "pipespec/churn"}


def test_email_over_a_real_smtp_server(smtp):
    mail = channel("email", to=("ml@example.com", "ops@example.com"), sender="pipespec@example.com")
    alerts.send(mail, smtp.url, event())
    for _ in range(100):                   # the server hands the message over on its own thread
        if smtp.messages:
            break
        time.sleep(0.05)
    (mail_from, rcpt, content), = smtp.messages
    assert mail_from == "pipespec@example.com"
    assert rcpt == ["ml@example.com", "ops@example.com"]
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg["Subject"] == "pipespec: churn FAILED"
    assert msg["To"] == "ml@example.com, ops@example.com"
    assert msg["X-Pipespec-Event"] == "failure"
    assert "failed steps: train" in msg.get_content()


def test_an_error_answer_names_the_host_never_the_url(http):
    http.status["/hook"] = 500
    secret_url = http.url + "/hook/T0P-S3CRET-token"
    with pytest.raises(alerts.AlertError) as e:
        alerts.send(channel("webhook"), secret_url, event())
    assert str(e.value) == "127.0.0.1 answered HTTP 500"


def test_unreachable_servers_and_bad_secrets_are_alert_errors():
    port = free_port()                    # nothing listens there
    with pytest.raises(alerts.AlertError, match=f"SMTP server 127.0.0.1:{port}: ") as e:
        alerts.send(channel("email", to=("a@b.c",), sender="x@y.z"), f"smtp://u:pw0rd@127.0.0.1:{port}",
                    event(), timeout=2)
    assert "pw0rd" not in str(e.value)
    with pytest.raises(alerts.AlertError, match="ConnectionRefused") as e:
        alerts.send(channel("webhook"), f"http://127.0.0.1:{port}/T0P-S3CRET", event(), timeout=2)
    assert "S3CRET" not in str(e.value)
    with pytest.raises(alerts.AlertError, match="not an http"):
        alerts.send(channel("slack"), "not a url", event())
    with pytest.raises(alerts.AlertError, match="not set"):
        alerts.send(channel("slack"), "", event())


def test_a_password_is_never_sent_without_tls(smtp):
    mail = channel("email", to=("ml@example.com",), sender="pipespec@example.com")
    with pytest.raises(alerts.AlertError, match="offers no STARTTLS: the password is not sent in the clear") as e:
        alerts.send(mail, f"smtp://user:pw0rd@127.0.0.1:{smtp.port}", event())
    assert "pw0rd" not in str(e.value)
    assert not smtp.messages
