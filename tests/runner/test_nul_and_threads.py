"""Issue 11 item 2: a NUL byte in a param value, and a helper thread that dies, never hang the runner."""

import os
import json
import subprocess
import sys
import threading

import pytest

from pipespec.runner.workers import Workers
from pipespec.runtime.attempt import NoRetry, Status

NUL_SPEC = """
pipespec: 1
name: nul
params:
  p: {type: string, default: x}
steps:
  slow:
    run: sleep 5
  reads:
    env: {P: "${{ params.p }}"}
    run: echo "$P"
"""


def test_nul_in_params_json_is_refused_up_front(spec):
    s = spec(NUL_SPEC)
    # the reproduction: before the fix this hung forever (a thread died with
    # "ValueError: embedded null byte", and SIGTERM/SIGINT were ignored): the timeout bounds it
    r = s.run("--params-json", json.dumps({"p": "a\u0000b"}), timeout=20)
    assert r.returncode == 2, r.stderr
    assert "param 'p' (string)" in r.stderr and "NUL" in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert not (s.dir / ".pipespec" / "runs.db").exists()         # refused before anything ran


@pytest.mark.parametrize("args", [
    ["--params-json", json.dumps({"p": "a\u0000b"})],
    ["--params-json", json.dumps({"l": ["ok", "a\u0000b"]})],
    ["--params-json", json.dumps({"m": {"k": {"x": "a\u0000b"}}})],
    ["--params-json", json.dumps({"m": {"a\u0000b": 1}})],
    # argv cannot hold a NUL, but JSON text given to -p can spell one
    ["-p", 'l=["a\\u0000b"]'],
    ["-p", 'm={"k": "a\\u0000b"}'],
], ids=["json-string", "json-list-item", "json-map-value", "json-map-key", "p-list", "p-map"])
def test_nul_refused_by_the_params_parser_for_run_and_exec(spec, args):
    s = spec("""
        pipespec: 1
        name: nul2
        params:
          p: {type: string, default: x}
          l: {type: list, items: string, default: []}
          m: {type: map, default: {}}
        steps:
          a:
            env: {P: "${{ params.p }}", L: "${{ params.l }}", M: "${{ params.m }}"}
            run: echo "$P $L $M"
    """)
    for cmd in (["run", str(s.path), "--progress", "plain"], ["exec", str(s.path), "--step", "a"]):
        r = s.pipespec(*cmd, *args, timeout=20)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert "NUL" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_spawn_that_raises_is_that_steps_failure_not_a_hang(spec, tmp_path):
    """Any exception on a helper thread becomes the step's failure: the run ends, the other
    step is not waited on forever, and the run is recorded failed."""
    s = spec("""
        pipespec: 1
        name: boom
        steps:
          slow:
            run: sleep 1
          bad:
            env: {X: "${{ env.POISON }}"}
            run: echo "$X"
    """)
    # an inherited variable holding NUL cannot exist, so poison the env through the runner's
    # own test hook: a sitecustomize that makes posix_spawn raise for the 'bad' step
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n_real = os.posix_spawnp\n_real2 = os.posix_spawn\n"
        "def _boom(f, real):\n"
        "    def spawn(exe, argv, env, **kw):\n"
        "        if env.get('PIPESPEC_STEP') == 'bad':\n"
        "            raise RuntimeError('injected failure in a helper thread')\n"
        "        return real(exe, argv, env, **kw)\n"
        "    return spawn\n"
        "os.posix_spawnp = _boom(None, _real)\nos.posix_spawn = _boom(None, _real2)\n")
    env = {"PYTHONPATH": str(tmp_path) + ":" + ":".join(p for p in sys.path if p)}
    r = s.run("-j", "2", timeout=30, env=env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "injected failure in a helper thread" in r.stdout
    ex = s.executions()
    assert ex["bad"]["status"] == "failed" and ex["slow"]["status"] == "succeeded"
    assert s.latest_run()["status"] == "failed"


def test_workers_deliver_an_exception_as_a_result():
    woke = threading.Event()
    w = Workers(1, woke.set)
    try:
        def explode(inst):
            raise ValueError("embedded null byte")
        w.submit(explode, "inst", lambda inst, res: None)
        on_done, inst, res = w.results.get(timeout=5)
        assert inst == "inst" and res.status is Status.FAILED and "embedded null byte" in res.error
        assert res.no_retry is NoRetry.INTERNAL
        assert woke.wait(5)
    finally:
        w.close()


def test_sigterm_still_stops_a_run(spec):
    s = spec("""
        pipespec: 1
        name: term
        steps:
          a:
            run: sleep 30
    """)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain",
                          "--kill-grace", "0.5"], cwd=s.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (s.dir / ".pipespec" / "logs").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        p.terminate()
        assert p.wait(timeout=15) == 143
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_helper_thread_that_dies_fails_the_run_instead_of_waiting_forever(spec, tmp_path):
    """Defence in depth: should a helper thread ever die with a job (a bug: they catch
    everything), the scheduler notices and fails the run (recorded failed), exit 70."""
    s = spec("""
        pipespec: 1
        name: lost
        steps:
          a:
            run: 'printf x > "${{ outputs.f }}"'
            outputs: {f: file}
    """)
    (tmp_path / "sitecustomize.py").write_text(
        "from pipespec.runner import workers\n"
        "def die(fn, inst):\n"
        "    raise SystemExit  # ends the helper thread without a word, its result lost\n"
        "workers.guarded = die\n")
    env = {"PYTHONPATH": str(tmp_path) + ":" + ":".join(p for p in sys.path if p)}
    r = s.run(timeout=30, env=env)
    assert r.returncode == 70, (r.stdout, r.stderr)
    assert "internal error" in r.stderr and "lost track" in r.stderr
    assert s.latest_run()["status"] == "failed"


def test_exec_reports_a_command_that_cannot_be_started_for_a_nul():
    """The executor of every backend: a NUL that reaches exec (whatever let it through) is that
    step's failure with the reason, not an internal error."""
    from pipespec.runtime.execute import EXIT_OUTPUTS, Invocation, start

    inv = Invocation(step=None, argv=["/bin/echo", "a\0b"], env={}, cwd="/", final_paths={}, temp_paths={},
                     temp_dirs=[], value_file=None, result_file=None, job_file=None)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        got = start(inv, null, null, null)
    finally:
        os.close(null)
    assert (got.status, got.exit_code) == (Status.FAILED, EXIT_OUTPUTS) and "null byte" in got.error
    assert got.no_retry is NoRetry.CANNOT_EXEC          # the same command line again: the same NUL
