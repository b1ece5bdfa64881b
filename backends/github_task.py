"""Inside a GitHub Actions job: what ``pipespec exec`` hands back besides the artifact root.

``pipespec exec`` adds ``GithubOutputSink`` to its result sinks when the job's environment has
``$GITHUB_OUTPUT`` (declared by ``github_options.OPTIONS.worker_sinks``, so the core names no
target): the job step's outputs, which the compiled workflow's ``outputs:`` and conditions read.
"""

from __future__ import annotations

import uuid

from pipespec import ir


class GithubOutputSink:
    """Value outputs, and metrics as JSON, as the job step's outputs (``name<<DELIM`` blocks)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, step: ir.Step, result) -> None:
        if not result.ok:
            return
        from pipespec.expr import to_text

        with open(self.path, "a", encoding="utf-8") as f:
            for name, value in list(result.values.items()) + list(result.metrics.items()):
                delim = f"ghadelimiter_{uuid.uuid4().hex}"
                f.write(f"{name}<<{delim}\n{to_text(value)}\n{delim}\n")
