"""Helpers for the runner tests: write a spec into tmp_path, run the real CLI in a subprocess.

(A module of its own: ``from conftest import`` is ambiguous beside tests/conftest.py.)
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path


class Spec:
    def __init__(self, folder: Path, text: str, name: str = "pipeline.yaml") -> None:
        self.dir = folder
        self.path = folder / name
        self.path.write_text(textwrap.dedent(text).lstrip())

    def write(self, rel: str, text: str) -> Path:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())
        return p

    def pipespec(self, *args: str, timeout: float = 60, env: dict | None = None,
                 check: int | None = None) -> subprocess.CompletedProcess:
        e = dict(os.environ)
        e.pop("GITHUB_OUTPUT", None)
        e.update(env or {})
        r = subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=self.dir, env=e,
                           capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert r.returncode == check, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
        return r

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.pipespec("run", str(self.path), "--progress", "plain", *args, **kw)

    def db(self) -> sqlite3.Connection:
        c = sqlite3.connect(self.dir / ".pipespec" / "runs.db")
        c.row_factory = sqlite3.Row
        return c

    def executions(self, run_id: str | None = None) -> dict[str, sqlite3.Row]:
        """{label: row} of the latest run (or ``run_id``); label = step or step[i]."""
        with self.db() as c:
            rid = run_id or c.execute("SELECT id FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0]
            rows = c.execute("SELECT * FROM executions WHERE run_id=?", (rid,)).fetchall()
        return {r["step"] + (f"[{r['item_index']}]" if r["item_index"] >= 0 else ""): r for r in rows}

    def latest_run(self) -> sqlite3.Row:
        with self.db() as c:
            return c.execute("SELECT * FROM runs ORDER BY started DESC LIMIT 1").fetchone()



def values(row) -> dict:
    return json.loads(row["values_json"] or "{}")
