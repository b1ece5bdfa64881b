"""Real servers on 127.0.0.1 for the integration tests: an HTTP server that records every
request (Slack, webhooks, PagerDuty, a Pushgateway's push API), an SMTP server (aiosmtpd), the
real Pushgateway and Prometheus binaries (Debian's packages, tests/tooling/debs.py) and a real
``mlflow server`` (the tooling env ``mlflow``). Each binds a free port and is stopped, by its
PID, when its fixture or ``with`` block ends; every wait is bounded. Used by tests/integrations
and by the targets' observe tests (tests/backends/test_*_observe.py)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support import stop_group


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


def _wait_ready(url: str, proc: subprocess.Popen, log: pathlib.Path, what: str, ready_s: float) -> None:
    deadline = time.monotonic() + ready_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not become ready:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


@contextlib.contextmanager
def debian_server(name: str, args: list[str], port: int, cwd: pathlib.Path, ready_s: float = 30):
    """A server binary from a Debian package (``prometheus-pushgateway``, ``prometheus``) on
    ``port``; its URL once ``/-/ready`` answers."""
    from tooling.debs import DebError, ensure_binary

    try:
        exe = ensure_binary(name)
    except DebError as e:
        raise AssertionError(f"{name} cannot be had: {e}") from e
    log_path = pathlib.Path(cwd) / f"{name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(exe), *args], stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + "/-/ready", proc, log_path, name, ready_s)
        yield url
    finally:
        stop_group(proc)


@contextlib.contextmanager
def pushgateway(cwd: pathlib.Path):
    """The real Pushgateway on a free port of 127.0.0.1; its URL."""
    port = free_port()
    with debian_server("prometheus-pushgateway", [f"--web.listen-address=127.0.0.1:{port}"], port, cwd) as url:
        yield url


def pushed(url: str) -> dict:
    """What a Pushgateway serves on /metrics, the pipespec_* samples: {(name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith("pipespec_")}


@contextlib.contextmanager
def mlflow_server(d: pathlib.Path, ready_s: float = 180):
    """A real ``mlflow server`` (the full package, tooling env ``mlflow``) on a free port of
    127.0.0.1, its SQLite store and artifacts under ``d``; its URL. Its own process group."""
    from tooling.envs import EnvError, ensure, env_bin

    try:
        env = ensure("mlflow")
    except EnvError as e:
        raise AssertionError(f"the mlflow tool env cannot be built: {e}") from e
    port = free_port()
    log_path = pathlib.Path(d) / "server.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(env_bin(env, "mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1", "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}",
                                 "--artifacts-destination", str(d / "artifacts")],
                                stdout=log, stderr=subprocess.STDOUT, cwd=d, env=clean, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + "/health", proc, log_path, "mlflow server", ready_s)  # the first start migrates (~20 s)
        yield url
    finally:
        stop_group(proc)
