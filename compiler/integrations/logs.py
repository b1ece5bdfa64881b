"""``pipespec run --log-format json`` and ``pipespec exec --log-format json`` (or
``$PIPESPEC_LOG_FORMAT=json``, for all of a target's workers): each event as one JSON object per line, with
the Elastic Common Schema fields (elastic/ecs-logging ``spec/spec.json``): ``@timestamp``,
``log.level`` and ``ecs.version`` as dotted top-level keys, ``message``, ``event.outcome``
(success | failure | unknown), ``event.duration`` in nanoseconds, ``service.name`` and
``labels`` (pipeline, step, run_id). Filebeat, Logstash or the CloudWatch agent read it as
it is; no ECS library is needed for a handful of fixed fields.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import time

from ..runner.progress import Display

ECS_VERSION = "1.6.0"
_OUTCOME = {"done": "success", "cached": "success", "failed": "failure"}
_LEVEL = {"failed": "error", "retry": "warning", "not_run": "warning"}
_RUN_LINE = re.compile(r"^(?:run|resuming) (\S+) of ")


def record(message: str, *, level: str = "info", outcome: str | None = None, duration_s: float | None = None,
           labels: dict | None = None, action: str | None = None, now: float | None = None) -> dict:
    t = time.time() if now is None else now
    rec = {"@timestamp": _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")
           .replace("+00:00", "Z"),
           "log.level": level, "message": message, "ecs.version": ECS_VERSION,
           "service": {"name": "pipespec"}}
    event: dict = {}
    if action:
        event["action"] = action
    if outcome:
        event["outcome"] = outcome
    if duration_s is not None:
        event["duration"] = int(duration_s * 1e9)
    if event:
        rec["event"] = event
    if labels:
        rec["labels"] = {k: str(v) for k, v in labels.items() if v is not None}
    return rec


class JsonDisplay(Display):
    """The text display's events, written as ECS objects (never a TTY status line)."""

    def __init__(self, stream=None, explain: bool = False, pipeline: str = "") -> None:
        super().__init__(stream, tty=False, explain=explain)
        self.pipeline = pipeline
        self.run_id: str | None = None
        self._started: dict[str, float] = {}

    def emit(self, rec: dict) -> None:
        with self.lock:
            self.stream.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.stream.flush()

    def _labels(self, step: str | None = None) -> dict:
        return {"pipeline": self.pipeline, "step": step, "run_id": self.run_id}

    def line(self, text: str) -> None:
        m = _RUN_LINE.match(text)
        if m and self.run_id is None:
            self.run_id = m.group(1)
        level = "warning" if "warning" in text.lower() else "info"
        self.emit(record(text.strip(), level=level, labels=self._labels()))

    def started(self, key: int, label: str) -> None:
        self._started[label] = time.monotonic()
        super().started(key, label)

    def event(self, kind: str, label: str, detail: str = "", reason: str = "") -> None:
        t0 = self._started.pop(label, None) if kind != "retry" else self._started.get(label)
        msg = f"{label} {detail}".strip() + (f" — {reason}" if reason else "")
        self.emit(record(msg, level=_LEVEL.get(kind, "info"), outcome=_OUTCOME.get(kind, "unknown"),
                         duration_s=(time.monotonic() - t0) if t0 is not None and kind != "retry" else None,
                         labels=self._labels(label), action=f"step-{kind}"))

    def run_ended(self, status: str, duration_s: float, message: str, metrics: list[str] = ()) -> None:
        rec = record(message, level="error" if status != "succeeded" else "info",
                     outcome="success" if status == "succeeded" else "failure", duration_s=duration_s,
                     labels=self._labels(), action="run-end")
        if metrics:
            rec["pipespec"] = {"metrics": [m.strip() for m in metrics]}
        self.emit(rec)

    def warning(self, message: str) -> None:
        self.emit(record(message, level="warning", labels=self._labels()))


class WorkerJsonLog:
    """``pipespec exec``'s events (``runtime.worker.TextLog``'s) as the same ECS objects as
    ``pipespec run``'s: a retry (``step-retry``), the instance's end (``step-done`` |
    ``step-failed``, with its outcome and duration), warnings and errors; on standard error,
    where the text lines go, so the step's own standard output stays its own."""

    def __init__(self, pipeline, step: str | None = None, run_id: str | None = None, stream=None) -> None:
        import sys

        from ..runtime.masking import Masker

        self.pipeline, self.step, self.run_id = pipeline.name, step, run_id
        self.masker = Masker.for_pipeline(pipeline)
        self.stream = stream or sys.stderr

    def emit(self, rec: dict) -> None:
        rec["message"] = self.masker.text(rec["message"])
        self.stream.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.stream.flush()

    def _labels(self, step=None, inputs=None) -> dict:
        from ..runner.state import instance_label

        name = instance_label(step.name, inputs.index, inputs.item) if step is not None else self.step
        return {"pipeline": self.pipeline, "step": name, "run_id": inputs.run_id if inputs else self.run_id}

    def retry(self, step, inputs, n: int, delay: float, why: str) -> None:
        self.emit(record(f"attempt {n} failed ({why}); retrying in {delay:g}s", level="warning",
                         outcome="failure", labels=self._labels(step, inputs), action="step-retry"))

    def ended(self, step, inputs, res) -> None:
        label = self._labels(step, inputs)
        if res.ok:
            msg = f"{label['step']} done {res.duration_s:.2f}s"
        else:
            why = res.error or f"exit {res.exit_code}"
            msg = f"{label['step']} {res.status.upper()} after {res.attempts} attempt{'s' if res.attempts > 1 else ''}: {why}"
        rec = record(msg, level="info" if res.ok else "error", outcome="success" if res.ok else "failure",
                     duration_s=res.duration_s, labels=label, action="step-done" if res.ok else "step-failed")
        rec["pipespec"] = {"status": res.status, "exit_code": res.exit_code, "attempts": res.attempts}
        self.emit(rec)

    def warning(self, message: str) -> None:
        self.emit(record(message, level="warning", labels=self._labels()))

    def error(self, message: str) -> None:
        self.emit(record(message, level="error", outcome="failure", labels=self._labels()))
