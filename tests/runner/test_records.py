"""SQLite records, runs/show/metrics, resume after a failure, kill -9 + resume, concurrent runs."""

import json
import os
import signal
import subprocess
import sys
import time

from runner_support import values

FLAKY = """
pipespec: 1
name: rec
params:
  n: {type: int, default: 2}
steps:
  first:
    run: |
      echo first >> log
      echo '{"acc": 0.5, "n": ${{ params.n }}}' > "${{ outputs.m }}"
      echo "v=${{ params.n }}" >> $PIPESPEC_OUTPUT
    outputs: {m: metrics, v: int}
  side:
    cache: false
    run: echo side >> log
  second:
    run: echo second >> log; test -e ok
    needs: [first]
  third:
    needs: [second, side]
    run: echo third >> log
"""


def test_records_and_views(spec):
    s = spec(FLAKY)
    (s.dir / "ok").touch()
    s.run(check=0)
    run = s.latest_run()
    assert run["status"] == "succeeded" and json.loads(run["params"]) == {"n": 2}
    assert run["spec_digest"] and run["ended"] >= run["started"]
    ex = s.executions()
    assert values(ex["first"]) == {"v": 2}
    assert json.loads(ex["first"]["metrics_json"]) == {"m": {"acc": 0.5, "n": 2}}
    assert ex["first"]["cache_key"] and json.loads(ex["first"]["output_hashes"])["m"]
    assert os.path.exists(ex["first"]["stdout_path"]) and ex["first"]["attempts"] == 1
    s.run("-p", "n=3", check=0)
    r = s.pipespec("runs", check=0)
    assert r.stdout.count("succeeded") == 2
    r = s.pipespec("runs", "show", "latest", check=0)
    assert "first.v = 3" in r.stdout and "acc=0.5" in r.stdout
    assert "read by" in r.stdout and "first.m  sha256:" in r.stdout
    prefix = run["id"][:-2]
    r = s.pipespec("runs", "show", prefix, check=0)
    assert run["id"] in r.stdout
    r = s.pipespec("metrics", check=0)
    lines = r.stdout.splitlines()
    assert "first.acc" in lines[0] and "first.n" in lines[0] and len(lines) == 3
    r = s.pipespec("runs", "show", "zzz")
    assert r.returncode == 2 and "no run matches 'zzz'" in r.stderr


def test_resume_after_failure(spec, tmp_path):
    s = spec(FLAKY)
    r = s.run()
    assert r.returncode == 1
    rid = s.latest_run()["id"]
    assert (tmp_path / "log").read_text().split().count("first") == 1
    (tmp_path / "ok").touch()
    s.pipespec("resume", rid, "--progress", "plain", check=0)
    log = (tmp_path / "log").read_text().split()
    assert log.count("first") == 1 and log.count("side") == 1      # cache: false reused too
    assert log.count("second") == 2 and log.count("third") == 1
    run = s.latest_run()
    assert run["id"] == rid and run["status"] == "succeeded"
    ex = s.executions(rid)
    assert ex["first"]["reused_from"] == rid and ex["third"]["status"] == "succeeded"


CHAIN = """
pipespec: 1
name: kill
steps:
""" + "".join(f"""
  s{i}:
    run: echo s{i} >> log; sleep 0.25
""" + (f"    needs: [s{i-1}]\n" if i else "") for i in range(10))


def test_kill_9_then_resume_loses_nothing(spec, tmp_path):
    s = spec(CHAIN)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = (tmp_path / "log").read_text().split() if (tmp_path / "log").exists() else []
        if len(log) >= 4:
            break
        time.sleep(0.02)
    time.sleep(0.1)
    os.killpg(p.pid, signal.SIGKILL)                  # the runner and its running step, no goodbye
    p.wait()
    done_before = (tmp_path / "log").read_text().split()
    rid = s.latest_run()["id"]
    r = s.pipespec("runs", check=0)
    assert "died" in r.stdout
    s.pipespec("resume", rid, "--progress", "plain", check=0)
    log = (tmp_path / "log").read_text().split()
    # every step ran; only the one that was running at the kill ran twice
    assert sorted(set(log)) == sorted(f"s{i}" for i in range(10))
    assert len(log) - 10 <= 1, log
    committed = [x for x in done_before if log.count(x) == 1]
    assert len(committed) >= len(done_before) - 1
    assert s.latest_run()["status"] == "succeeded"


def test_two_concurrent_runs_of_the_same_spec(spec, tmp_path):
    text = "pipespec: 1\nname: conc\nparams:\n  tag: {type: string, default: x}\nsteps:\n" + "".join(
        f"  s{i}:\n    run: echo ${{{{ params.tag }}}}-{i} > \"${{{{ outputs.o }}}}\"\n    outputs: {{o: file}}\n"
        for i in range(30))
    s = spec(text)
    procs = [subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain",
                               "-p", f"tag={t}", "-j", "2"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for t in ("a", "b")]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with s.db() as c:
        runs = c.execute("SELECT id, params FROM runs").fetchall()
        assert len(runs) == 2
        for rid, params in runs:
            tag = json.loads(params)["tag"]
            rows = c.execute("SELECT output_paths FROM executions WHERE run_id=? AND status='succeeded'",
                             (rid,)).fetchall()
            assert len(rows) == 30
            for (paths,) in rows:
                p = json.loads(paths)["o"]
                assert open(p).read().startswith(tag + "-")
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
