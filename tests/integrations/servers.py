"""Real servers on 127.0.0.1 for the integration tests: an HTTP server that records every
request (Slack, webhooks, PagerDuty, a Pushgateway's push API), and an SMTP server (aiosmtpd).
Each binds a free port and is stopped by its fixture."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Recorder:
    """``url`` is its base; ``requests`` what arrived; ``status`` per path prefix the answer
    (default 200; PagerDuty's /v2/enqueue answers 202 with the dedup_key, as the real one)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status: dict[str, int] = {}
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with rec.lock:
                    rec.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
                code = next((c for p, c in rec.status.items() if self.path.startswith(p)), None)
                answer = b"ok"
                if code is None and self.path.startswith("/v2/enqueue"):
                    code = 202
                    dedup = json.loads(body or b"{}").get("dedup_key", "")
                    answer = json.dumps({"status": "success", "message": "Event processed",
                                         "dedup_key": dedup}).encode()
                self.send_response(code or 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = do_GET = _serve

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Recorder":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def at(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """A real SMTP server (aiosmtpd's Controller) on 127.0.0.1; ``messages`` as received."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, list[str], bytes]] = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                return "250 Message accepted for delivery"

        self.port = free_port()            # aiosmtpd's start-up probe cannot follow a port 0
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.url = f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "Mailbox":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
