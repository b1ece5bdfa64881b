"""The benchmark harness cannot rot: ``python -m bench --quick`` runs every case once on tiny
sizes, with the real peers in their venvs, and prints a row for each case."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT

pytestmark = pytest.mark.slow


def test_bench_quick_runs_every_case():
    r = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and not line.startswith("| case")]
    cases = {line.split("|")[1].strip().split()[0] for line in rows}
    assert cases == {"1", "2", "3", "4", "5", "6", "7", "8", "9"}, cases
    assert all(line.split("|")[-2].strip() == "" for line in rows)   # no verdicts at smoke sizes
    # the quick mode never rewrites the committed results
    assert not subprocess.run(["git", "diff", "--quiet", "--", "docs/performance.md"], cwd=ROOT).returncode
