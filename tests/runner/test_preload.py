"""``pipespec run --preload``: call: steps forked from a Python that has imported their
libraries. Each attempt must still be its own process as a spawned step is: own pid, session
and process group, the step's env and cwd, its stdout/stderr in its logs, its exit status,
timeouts and Ctrl-C killing its whole group; results the same as without --preload."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="--preload forks only where pidfds exist")

# colorsys: a standard-library module nothing else imports, so "already in sys.modules when the
# step's module starts" means the server preloaded it and the step was forked from it
STEPS = """
import os, sys
PRELOADED = "colorsys" in sys.modules
import colorsys
import numpy as np


def probe(tag, out):
    state = getattr(colorsys, "_touched_by", None)   # set by an earlier step in its own process
    colorsys._touched_by = tag
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        parent = f.read().replace(b"\\0", b" ").decode()
    print(f"stdout of {tag}")
    print(f"stderr of {tag}", file=sys.stderr)
    with open(out, "w") as f:
        json.dump({"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0), "cwd": os.getcwd(),
                   "step": os.environ.get("PIPESPEC_STEP"), "item": os.environ.get("PIPESPEC_ITEM"),
                   "mine": os.environ.get("MINE"), "secret": os.environ.get("TOKEN"),
                   "preloaded": PRELOADED, "parent": parent, "state": state,
                   "random": float(np.random.rand())}, f)
    return {"tag": tag}


def exits(code):
    sys.exit(code)


def sleeps(pidfile):
    import subprocess
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60"])
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    import time
    time.sleep(60)


import json
"""

SPEC = """
pipespec: 1
name: pre
secrets:
  token: {env: TOKEN}
env: {MINE: "yes"}
steps:
  first:
    call: steps:probe
    with: {tag: first}
    outputs: {out: file, tag: string}
  fan:
    needs: [first]
    foreach: [a, b]
    call: steps:probe
    with: {tag: "${{ item }}"}
    env: {TOKEN: "${{ secrets.token }}"}
    outputs: {out: file, tag: string}
"""


def _probe(s, run_id_dir, step, index="_"):
    return json.loads((run_id_dir / step / index / "out").read_text())


def _run_dir(s):
    runs = sorted((s.dir / ".pipespec" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return runs[-1]


def test_forked_steps_are_their_own_processes(spec, tmp_path):
    s = spec(SPEC)
    s.write("steps.py", STEPS)
    r = s.run("--preload", "-j", "2", env={"TOKEN": "t0k"}, check=0)
    assert "--preload:" not in r.stdout, r.stdout          # no fall-back
    d = _run_dir(s)
    got = [_probe(s, d, "first"), _probe(s, d, "fan", "0"), _probe(s, d, "fan", "1")]
    for p, step in zip(got, ("first", "fan", "fan")):
        assert p["preloaded"] is True, p                   # forked from the server ...
        assert "forkserver.py" in p["parent"], p
        assert p["pgid"] == p["pid"] == p["sid"], p        # ... in a session of its own
        assert p["cwd"] == str(s.dir) and p["step"] == step and p["mine"] == "yes"
        assert p["state"] is None, p                       # no module state from an earlier step
    assert [got[1]["item"], got[2]["item"]] == ['"a"', '"b"']
    assert got[0]["secret"] is None and got[1]["secret"] == got[2]["secret"] == "t0k"
    assert len({p["pid"] for p in got}) == 3
    assert got[1]["random"] != got[2]["random"]           # numpy re-seeded in each child
    logs = next((s.dir / ".pipespec" / "logs").iterdir())
    assert (logs / "fan.1.out").read_text() == "stdout of b\n"
    assert (logs / "fan.1.err").read_text() == "stderr of b\n"
    assert {k: json.loads(s.executions()[k]["values_json"]) for k in ("fan[0]", "fan[1]")} == {
        "fan[0]": {"tag": "a"}, "fan[1]": {"tag": "b"}}


def test_without_preload_the_same_spec_spawns(spec, tmp_path):
    s = spec(SPEC)
    s.write("steps.py", STEPS)
    s.run("-j", "2", check=0)
    p = _probe(s, _run_dir(s), "fan", "1")
    assert p["preloaded"] is False and "forkserver.py" not in p["parent"], p


def test_exit_status_and_failure_as_spawned(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: ex
        steps:
          five: {call: "steps:exits", with: {code: 5}}
    """)
    s.write("steps.py", STEPS)
    for args in ((), ("--preload",)):
        r = s.run(*args)
        assert r.returncode == 1, r.stdout + r.stderr
        row = s.executions()["five"]
        assert (row["status"], row["exit_code"]) == ("failed", 5), args


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_timeout_kills_the_forked_group(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: to
        steps:
          hang:
            call: steps:sleeps
            with: {pidfile: pids}
            timeout: 1s
    """)
    s.write("steps.py", STEPS)
    t0 = time.monotonic()
    r = s.run("--preload", "--kill-grace", "0.5")
    assert r.returncode == 1 and "TIMED OUT" in r.stdout, r.stdout + r.stderr
    assert time.monotonic() - t0 < 15
    step_pid, grandchild = map(int, (tmp_path / "pids").read_text().split())
    assert _wait_dead(step_pid) and _wait_dead(grandchild), "the forked step's group survived its timeout"
    row = s.executions()["hang"]
    assert (row["status"], row["exit_code"]) == ("timeout", 124)


def test_ctrl_c_stops_forked_steps_and_the_server(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: intr
        steps:
          long: {call: "steps:sleeps", with: {pidfile: pids}}
        finally:
          fin: {run: "echo ${{ run.status }} > status.txt"}
    """)
    s.write("steps.py", STEPS)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain",
                          "--kill-grace", "0.5", "--preload"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        step_pid, grandchild = map(int, (tmp_path / "pids").read_text().split())
        with open(f"/proc/{step_pid}/stat") as f:
            server = int(f.read().rsplit(")", 1)[1].split()[1])     # the step's parent
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, out + err
    assert (tmp_path / "status.txt").read_text().strip() == "failed"
    assert _wait_dead(step_pid) and _wait_dead(grandchild)
    assert _wait_dead(server), "the Python server outlived its run"
    assert s.latest_run()["status"] == "interrupted"


def test_python_threads_at_import_fall_back_to_spawning(spec, tmp_path):
    """A library that starts a thread when imported: a fork would not have that thread, so the
    runner says so and spawns the steps as without --preload."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "threadylib.py").write_text("import threading, time\n"
                                      "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n")
    s = spec("""
        pipespec: 1
        name: th
        steps:
          one: {call: "tsteps:go", outputs: {preloaded: bool}}
    """)
    s.write("tsteps.py", "import sys\nP = 'threadylib' in sys.modules\nimport threadylib\n\n"
                         "def go():\n    return {'preloaded': P}\n")
    r = s.run("--preload", env={"PYTHONPATH": str(lib)}, check=0)
    assert "started Python threads" in r.stdout, r.stdout
    assert json.loads(s.executions()["one"]["values_json"]) == {"preloaded": False}


@pytest.mark.parametrize("env", [pytest.param({}, id="cgroup"), pytest.param({"PIPESPEC_NO_CGROUP": "1"}, id="pgroup")])
def test_after_kill_9_the_server_exits_and_resume_kills_the_orphaned_step(spec, tmp_path, env):
    """The runner killed with SIGKILL: its server sees the end of its socket and exits; the
    forked step lives on (as a spawned one would) until resume kills it before running it again."""
    s = spec("""
        pipespec: 1
        name: k9
        steps:
          long: {call: "steps:sleeps", with: {pidfile: pids}}
    """)
    s.write("steps.py", STEPS)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain", "--preload"],
                         cwd=tmp_path, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    pids = []
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = list(map(int, (tmp_path / "pids").read_text().split()))
        with open(f"/proc/{pids[0]}/stat") as f:
            server = int(f.read().rsplit(")", 1)[1].split()[1])
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert _wait_dead(server, 10), "the Python server outlived its killed runner"
        assert _alive(pids[0])                              # the step itself is an orphan now
        (tmp_path / "pids").unlink()
        s.write("steps.py", STEPS.replace("time.sleep(60)", "time.sleep(0)"))
        r = s.pipespec("resume", s.latest_run()["id"], "--progress", "plain", "--preload", timeout=60, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "killed" in r.stdout and str(pids[0]) in r.stdout, r.stdout
        assert _wait_dead(pids[0]) and _wait_dead(pids[1])
    finally:
        for pid in pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_nul_byte_in_the_environment_fails_as_without_preload(spec):
    """An upstream value holding a NUL byte, put in a call: step's env: no process can receive
    it; the step fails the same way with --preload (spawned, not retried), never a crash in a fork."""
    s = spec("""
        pipespec: 1
        name: nul
        steps:
          make: {call: "nsteps:make", outputs: {v: string}}
          use:
            call: nsteps:use
            env: {V: "${{ steps.make.outputs.v }}"}
            retries: {limit: 2, delay: 0s}
    """)
    s.write("nsteps.py", "def make():\n    return {'v': 'a' + chr(0) + 'b'}\n\ndef use():\n    pass\n")
    got = []
    for args in ((), ("--preload",)):
        s.run(*args, "--no-cache")
        row = s.executions()["use"]
        got.append((row["status"], row["attempts"], row["exit_code"], row["error"]))
    assert got[0] == got[1] and got[0][0] == "failed" and got[0][1] == 1, got
