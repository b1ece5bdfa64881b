"""Alerts to the four channel types of ``notify:``, each in its published format: a Slack
incoming webhook (``text`` + ``blocks``), a generic JSON webhook, email over SMTP, and the
PagerDuty Events API v2 (``routing_key``, ``event_action``, ``dedup_key``, ``payload``).

``send(channel, secret, event)`` sends one alert or raises ``AlertError`` with a message that
never holds the secret (a URL, a key or a password). Standard library only, every call with a
time-out.
"""

from __future__ import annotations

import datetime as _dt
import json
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass, field
from email.message import EmailMessage

from .http import DeliveryError, post

TIMEOUT_S = 10.0
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


class AlertError(DeliveryError):
    """An alert could not be sent; the message names no secret."""


@dataclass(frozen=True)
class Event:
    """What happened: ``kind`` is failure | success | recovery | condition."""

    pipeline: str
    kind: str
    status: str                        # the run's: succeeded | failed | interrupted
    run_id: str
    target: str = "local"
    message: str = ""
    failed_steps: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    dedup_key: str = ""
    extra: dict = field(default_factory=dict)
    step: str | None = None            # an alert of notify.steps: the step it is about

    @property
    def title(self) -> str:
        what = {"failure": "FAILED", "success": "succeeded", "recovery": "recovered",
                "condition": "alert"}.get(self.kind, self.kind)
        about = f"{self.pipeline} step {self.step}" if self.step else self.pipeline
        return f"pipespec: {about} {what}"

    @property
    def text(self) -> str:
        parts = [f"{self.title} (run {self.run_id}, target {self.target})"]
        if self.failed_steps:
            parts.append("failed steps: " + ", ".join(self.failed_steps))
        if self.message:
            parts.append(self.message)
        return "\n".join(parts)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# ------------------------------------------------------------------ payloads (pure, tested field by field)

def slack_payload(ev: Event) -> dict:
    """Slack incoming webhook: ``text`` is the fallback (notifications), ``blocks`` the body."""
    fields = [{"type": "mrkdwn", "text": f"*Run*\n{ev.run_id}"},
              {"type": "mrkdwn", "text": f"*Target*\n{ev.target}"},
              {"type": "mrkdwn", "text": f"*Status*\n{ev.status}"}]
    if ev.failed_steps:
        fields.append({"type": "mrkdwn", "text": "*Failed steps*\n" + ", ".join(ev.failed_steps)})
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": ev.title[:150]}},
              {"type": "section", "fields": fields}]
    if ev.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": ev.message[:3000]}})
    return {"text": ev.text, "blocks": blocks}


def webhook_payload(ev: Event) -> dict:
    return {"pipeline": ev.pipeline, "step": ev.step, "event": ev.kind, "status": ev.status, "run_id": ev.run_id,
            "target": ev.target, "message": ev.message or ev.title, "failed_steps": list(ev.failed_steps),
            "started": _iso(ev.started), "ended": _iso(ev.ended)}


def pagerduty_payload(routing_key: str, ev: Event, severity: str) -> dict:
    """Events API v2: ``trigger`` for a failure or a condition, ``resolve`` for a success or a
    recovery, one ``dedup_key`` per pipeline (and per condition) so retries page once."""
    action = "trigger" if ev.kind in ("failure", "condition") else "resolve"
    body = {"routing_key": routing_key, "event_action": action, "dedup_key": ev.dedup_key[:255]}
    if action == "trigger":
        body["payload"] = {
            "summary": ev.text.replace("\n", "; ")[:1024],
            "source": f"pipespec/{ev.target}",
            "severity": severity,
            "timestamp": _iso(ev.ended),
            "component": ev.pipeline,
            "group": "pipespec",
            "class": ev.kind,
            "custom_details": {"run_id": ev.run_id, "status": ev.status, "step": ev.step,
                               "failed_steps": list(ev.failed_steps), **ev.extra},
        }
    return body


def email_message(ev: Event, sender: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = ev.title
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Pipespec-Event"] = ev.kind
    msg.set_content(ev.text + "\n")
    return msg


# ------------------------------------------------------------------ transports

def post_json(url: str, body: dict, timeout: float = TIMEOUT_S) -> int:
    """POST ``body`` as JSON; the HTTP status. Errors name the host, never the URL (a webhook
    URL is its own credential)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertError("the channel's secret is not an http(s) URL")
    return post(url, json.dumps(body).encode("utf-8"), "application/json", parts.hostname, timeout, AlertError)


def send_email(smtp_url: str, msg: EmailMessage, timeout: float = TIMEOUT_S) -> None:
    """Over ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it) or
    ``smtps://`` (TLS from the start)."""
    parts = urllib.parse.urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise AlertError("the channel's secret is not an smtp:// or smtps:// URL")
    host = parts.hostname
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise AlertError("the channel's secret has a bad port") from None
    try:
        if parts.scheme == "smtps":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            server.ehlo()
            tls = parts.scheme == "smtps"
            if not tls and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
                tls = True
            if parts.username and not tls:
                raise AlertError(f"SMTP server {host}:{port} offers no STARTTLS: the password is not sent "
                                 "in the clear (use smtps://, or a server with STARTTLS)")
            if parts.username:
                server.login(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
            server.send_message(msg)
    except smtplib.SMTPException as e:
        raise AlertError(f"SMTP server {host}:{port}: {type(e).__name__}") from None
    except OSError as e:
        raise AlertError(f"SMTP server {host}:{port}: {e.strerror or type(e).__name__}") from None


def send(channel, secret: str, ev: Event, timeout: float = TIMEOUT_S) -> None:
    """Send ``ev`` to one ``ir.Channel`` whose secret's value is ``secret``."""
    if not secret:
        raise AlertError(f"its secret '{channel.secret}' is not set")
    if channel.type == "slack":
        post_json(secret, slack_payload(ev), timeout)
    elif channel.type == "webhook":
        post_json(secret, webhook_payload(ev), timeout)
    elif channel.type == "pagerduty":
        post_json(channel.url or PAGERDUTY_URL, pagerduty_payload(secret, ev, channel.severity), timeout)
    elif channel.type == "email":
        send_email(secret, email_message(ev, channel.sender or "", channel.to), timeout)
    else:
        raise AlertError(f"unknown channel type {channel.type!r}")
