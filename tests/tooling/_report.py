"""Shared by the verifier scripts (imported from the script's own dir, inside any env).

`json_stdout()` keeps the JSON report clean: it moves fd 1 to a private fd and points fd 1 (and
sys.stdout) at stderr, so prints from DAG code, kfp.local task logs, Airflow logging or child
processes cannot corrupt the report. Write the report to the returned stream only.
"""
from __future__ import annotations

import json
import os
import sys


def json_stdout():
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(saved, "w")


def emit(stream, report: dict) -> int:
    stream.write(json.dumps(report, indent=1, default=repr) + "\n")
    stream.flush()
    return 0 if report.get("ok") else 1
