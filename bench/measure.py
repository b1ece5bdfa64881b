"""Timing whole processes: wall time and peak RSS of one command, medians over repeats."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


_PIPESPEC_BIN: Path | None = None


def install_pipespec(work: Path) -> None:
    """Install this checkout into a fresh venv the way users get it (a wheel, not the editable
    install of the development venv, whose import hook costs ~10 ms per process)."""
    global _PIPESPEC_BIN
    venv = work / "pipespec-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(ROOT)], check=True, timeout=900)
    _PIPESPEC_BIN = venv / "bin"


def tool(name: str) -> str:
    """pipespec or python of the benchmarked install (see install_pipespec)."""
    p = (_PIPESPEC_BIN or BIN) / name
    return str(p) if p.exists() else (shutil.which(name) or name)


@dataclass
class Sample:
    seconds: float
    max_rss_kb: int


class CommandFailed(RuntimeError):
    pass


def run_once(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
             prepare=None, timeout: float = 3600, accept: tuple[int, ...] = (0,)) -> Sample:
    """Run ``cmd`` to completion; ``prepare()`` (untimed) runs first, e.g. to reset state."""
    if prepare:
        prepare()
    full_env = {**os.environ, **(env or {})}
    # users' interpreters write and reuse .pyc files; a session that disables them would
    # measure the byte-compiler instead of the tools
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)   # wait4: this child's own peak RSS
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in accept:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise CommandFailed(f"exit {p.returncode}: {' '.join(map(str, cmd))}\n{tail}")
    return Sample(elapsed, ru.ru_maxrss)


@dataclass
class Result:
    case: str
    subject: str
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return max(s.max_rss_kb for s in self.samples) / 1024


def measure(case: str, subject: str, cmd, *, repeat: int, warmup: int = 1, **kw) -> Result:
    r = Result(case, subject)
    for _ in range(warmup):
        run_once(cmd, **kw)
    for _ in range(repeat):
        r.samples.append(run_once(cmd, **kw))
    return r
