"""What the container tests share (imported by name: a conftest is no module to import)."""

from __future__ import annotations

import subprocess
import sys

BUILD_TIMES: dict[str, float] = {}          # what the session measured, printed at its end


def pipespec(*args: str, timeout: float = 900, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipespec", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)
