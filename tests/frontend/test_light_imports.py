"""The validate path runs in pre-commit on every commit: it must not import a backend, the
runner, jinja2, pandas or anything else heavy (checked with ``python -X importtime``)."""

from __future__ import annotations

import subprocess
import sys

from support import SPECS

FORBIDDEN = ("jinja2", "pandas", "numpy", "sklearn", "sqlite3", "pipespec.backends", "pipespec.runner",
             "pipespec.runtime", "pipespec.lower", "pipespec.ir", "rich", "fsspec", "hypothesis",
             "jsonschema",  # valid specs are recognised without it (schema_fast)
             "typing", "argparse", "dataclasses")  # record.named_tuple, fastargs, record


def _imported(*args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipespec", *args],
                       capture_output=True, text=True, timeout=60)
    mods = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    return mods


def test_validate_imports_nothing_heavy():
    mods = _imported("validate", "-q", str(SPECS / "churn" / "pipeline.yaml"))
    assert "pipespec.frontend" in mods  # the probe works
    bad = sorted(m for m in mods if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"validate imported {bad}"


def test_schema_command_imports_no_validator():
    mods = _imported("schema")
    assert not {m for m in mods if m.startswith(("jsonschema", "lark", "yaml"))}
