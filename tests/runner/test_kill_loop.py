"""Issue 11, "prove it stays fixed": kill -9 the runner at random points (during a step, an
artifact write, a commit), resume each time; at the end the run has completed, every artifact
matches its recorded hash, the database is sound, and no step ever ran twice at once."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

# Each step instance: flock(1) on its own file (a second live copy would print OVERLAP: the
# kernel drops the lock only when the holder dies), start/end lines appended with O_APPEND.
STEP = ('exec 9>>"locks/$PIPESPEC_STEP.${PIPESPEC_ITEM_INDEX:-_}"; '
        'flock -n 9 || echo "OVERLAP $PIPESPEC_STEP.${PIPESPEC_ITEM_INDEX:-_} $$" >> intervals; '
        'echo "start $PIPESPEC_STEP.${PIPESPEC_ITEM_INDEX:-_} $$ $(date +%s.%N)" >> intervals; ')
END = '; echo "end $PIPESPEC_STEP.${PIPESPEC_ITEM_INDEX:-_} $$ $(date +%s.%N)" >> intervals'

SPEC = f"""
pipespec: 1
name: loop
steps:
  gen:
    foreach: [0, 1, 2]
    run: '{STEP}dd if=/dev/urandom of="${{{{ outputs.blob }}}}" bs=64k count=48 2>/dev/null; sleep 0.8{END}'
    outputs: {{blob: file}}
  join:
    env: {{BLOBS: "${{{{ steps.gen.outputs.blob }}}}"}}
    run: '{STEP}printf "%s" "$BLOBS" > "${{{{ outputs.all }}}}"; sleep 0.8{END}'
    outputs: {{all: file}}
  c1:
    run: '{STEP}sha256sum "${{{{ steps.join.outputs.all }}}}" > "${{{{ outputs.h }}}}"; sleep 0.8{END}'
    outputs: {{h: file}}
  c2:
    cache: false
    run: '{STEP}mkdir -p "${{{{ outputs.d }}}}"; cp "${{{{ steps.c1.outputs.h }}}}" "${{{{ outputs.d }}}}/h"; sleep 0.8{END}'
    outputs: {{d: dir}}
  c3:
    run: '{STEP}ls "${{{{ steps.c2.outputs.d }}}}" > "${{{{ outputs.l }}}}"; sleep 0.8{END}'
    outputs: {{l: file}}
"""


def _start(s, *args, env=None):
    return subprocess.Popen([sys.executable, "-m", "pipespec", *args, "--progress", "plain", "-j", "2"],
                            cwd=s.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **(env or {})))


def _digest(path: str) -> str:
    if os.path.isdir(path):
        return ""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("env", [pytest.param({}, id="cgroup"),
                                 pytest.param({"PIPESPEC_NO_CGROUP": "1"}, id="pgroup")])
def test_kill_9_loop_then_resume(spec, env):
    s = spec(SPEC)
    (s.dir / "locks").mkdir()
    rng = random.Random(11)
    pids: set[int] = set()
    kills = 0
    try:
        p = _start(s, "run", str(s.path), env=env)
        rid = None
        for _ in range(8):
            time.sleep(rng.uniform(0.05, 1.2))
            if rid is None and (s.dir / ".pipespec" / "runs.db").exists():
                try:
                    rid = s.latest_run()["id"]
                except Exception:              # not yet written: this kill comes before it
                    pass
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)   # the runner only: its steps live on, orphaned
                kills += 1
            p.wait(timeout=10)
            if rid is None:
                p = _start(s, "run", str(s.path), env=env)
            else:
                p = _start(s, "resume", rid, env=env)
        assert p.wait(timeout=60) == 0
        rid = rid or s.latest_run()["id"]
        r = s.pipespec("resume", rid, "--progress", "plain", timeout=60, env=env)   # complete: a no-op
        assert r.returncode == 0, r.stdout + r.stderr
        assert kills >= 5

        lines = (s.dir / "intervals").read_text().splitlines()
        pids = {int(ln.split()[2]) for ln in lines}
        assert not [ln for ln in lines if ln.startswith("OVERLAP")], lines
        # completed copies of one instance never overlap in time
        spans: dict[str, dict[int, list[float]]] = {}
        for ln in lines:
            kind, label, pid, t = ln.split()
            spans.setdefault(label, {}).setdefault(int(pid), []).append(float(t))
        for label, by_pid in spans.items():
            done = sorted(ts for ts in by_pid.values() if len(ts) == 2)
            for (a0, a1), (b0, b1) in zip(done, done[1:]):
                assert a1 <= b0, (label, done)

        run = s.latest_run()
        assert run["id"] == rid and run["status"] == "succeeded"
        with s.db() as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            rows = c.execute("SELECT * FROM executions WHERE run_id=?", (rid,)).fetchall()
        assert {r["step"] for r in rows if r["status"] == "succeeded"} == {"gen", "join", "c1", "c2", "c3"}
        objects = s.dir / ".pipespec" / "objects" / "sha256"
        for r in rows:
            hashes, paths = json.loads(r["output_hashes"] or "{}"), json.loads(r["output_paths"] or "{}")
            for name, digest in hashes.items():
                obj = objects / digest.removeprefix("dir:")[:2] / digest.removeprefix("dir:")[2:]
                assert _digest(str(obj)) == digest.removeprefix("dir:"), (r["step"], name)
                if not digest.startswith("dir:"):
                    assert _digest(paths[name]) == digest, (r["step"], name)
        # nothing left behind: no debris, no lock, no scratch, no process
        store = s.dir / ".pipespec"
        for dirpath, dirs, files in os.walk(store / "runs" / rid):
            assert not [n for n in dirs + files if ".restore-" in n or n.startswith(".pipespec-tmp-")]
        assert not (store / "tmp" / rid).exists() and os.listdir(store / "locks") == []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    assert f.read().rsplit(b")", 1)[1].split()[0] == b"Z", pid
            except FileNotFoundError:
                pass
    finally:
        if p.poll() is None:
            p.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
