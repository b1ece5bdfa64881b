"""Retries with the declared backoff, and timeouts that kill the step's whole process group."""

import json
import os
import signal
import time

import pytest

from pipespec.ir import Retries
from pipespec.runtime import retry_delay


def test_backoff_formula():
    r = Retries(limit=5, delay_s=2.0, backoff=3.0, max_delay_s=20.0)
    assert [retry_delay(r, n) for n in range(4)] == [2.0, 6.0, 18.0, 20.0]


def test_retries_until_success_with_delays(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: rt
        steps:
          flaky:
            run: date +%s.%N >> tries; test $(wc -l < tries) -ge 3
            retries: {limit: 4, delay: 1s, backoff: 1.5}
    """)
    r = s.run(check=0)
    stamps = [float(x) for x in (tmp_path / "tries").read_text().split()]
    assert len(stamps) == 3
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert 0.9 <= gaps[0] < 1.4 and 1.4 <= gaps[1] < 1.9        # 1s, then 1s * 1.5
    assert s.executions()["flaky"]["attempts"] == 3
    assert "attempt 1 failed" in r.stdout


def test_retries_exhausted_fail(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: rt
        steps:
          bad:
            run: echo x >> tries; exit 7
            retries: {limit: 2, delay: 0s}
    """)
    r = s.run()
    assert r.returncode == 1
    assert (tmp_path / "tries").read_text().count("x") == 3
    row = s.executions()["bad"]
    assert (row["attempts"], row["exit_code"], row["status"]) == (3, 7, "failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


@pytest.mark.parametrize("driver", ["run", "exec"])
def test_timeout_kills_grandchildren(spec, tmp_path, driver):
    """Both drivers of the attempt machine (the runner, ``pipespec exec``): at the timeout
    SIGTERM to the group, and once the leader is gone SIGKILL to what is left (a grandchild
    that ignores SIGTERM), with the timeout's status and exit code."""
    s = spec("""
        pipespec: 1
        name: to
        steps:
          hang:
            run: |
              sh -c 'trap "" TERM; sleep 60' &
              echo $! > grandchild.pid
              sleep 60
            timeout: 1s
    """)
    t0 = time.monotonic()
    if driver == "run":
        r = s.run("--kill-grace", "0.5")
        assert r.returncode == 1 and "TIMED OUT" in r.stdout
    else:
        r = s.pipespec("exec", str(s.path), "--step", "hang", "--result-json", str(tmp_path / "res.json"))
        assert r.returncode == 124 and "TIMEOUT" in r.stderr and "timed out after 1s" in r.stderr, r.stderr
    took = time.monotonic() - t0
    assert took < 5, took
    pid = int((tmp_path / "grandchild.pid").read_text())
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the grandchild (ignoring SIGTERM) survived the timeout"
    if driver == "run":
        row = s.executions()["hang"]
        assert row["status"] == "timeout" and row["exit_code"] == 124
    else:
        res = json.loads((tmp_path / "res.json").read_text())
        assert res["status"] == "timeout" and res["exit_code"] == 124


def test_interrupt_stops_steps_runs_finally_and_exits_130(spec, tmp_path):
    import subprocess
    import sys

    s = spec("""
        pipespec: 1
        name: intr
        steps:
          long: {run: "echo $$ > long.pid; sleep 60"}
          never:
            needs: [long]
            run: touch never.done
        finally:
          fin: {run: "echo ${{ run.status }} > status.txt"}
    """)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain",
                          "--kill-grace", "0.5"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / "long.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130, out + err
    assert (tmp_path / "status.txt").read_text().strip() == "failed"
    assert not (tmp_path / "never.done").exists()
    assert not _alive(int((tmp_path / "long.pid").read_text()))
    assert s.latest_run()["status"] == "interrupted"
