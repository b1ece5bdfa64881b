"""Issue 11 items 14 and 16: a full or read-only store says so and leaves the run failed and
resumable; resumes and killed runs leave no debris; ``pipespec gc`` checks and cleans the store."""

import hashlib
import json
import os
import sqlite3
import signal
import subprocess
import sys
import time

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def mounted(tmp_path):
    """Mount points made by the test, unmounted afterwards whatever happens."""
    made = []

    def mount(*args):
        r = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            pytest.skip(f"cannot mount here: {r.stderr.strip()}")
        made.append(args[-1])
    yield mount
    for m in reversed(made):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=10)


FULL = """
pipespec: 1
name: full
steps:
  fill:
    run: test -e nofill || dd if=/dev/zero of=store/fill bs=64k 2>/dev/null; true
  s1:
    needs: [fill]
    run: sleep 0.1
  s2:
    needs: [s1]
    run: sleep 0.1
"""


@needs_root
def test_a_full_disk_says_so_and_leaves_the_run_failed_and_resumable(spec, mounted):
    s = spec(FULL)
    store = s.dir / "store"
    store.mkdir()
    mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(store))
    r = s.run("--store", "store", timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "database or disk is full" in r.stderr and "internal error" not in r.stderr, r.stderr
    assert "pipespec resume" in r.stderr
    runs = s.pipespec("runs", "--store", "store", check=0).stdout
    assert " failed " in runs, runs                                 # not 'running'
    (store / "fill").unlink()
    (s.dir / "nofill").touch()
    rid = runs.splitlines()[1].split()[0]
    r = s.pipespec("resume", rid, "--store", "store", "--progress", "plain", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "succeeded" in s.pipespec("runs", "--store", "store", check=0).stdout


@needs_root
def test_a_read_only_store_says_so(spec, mounted):
    s = spec(FULL)
    (s.dir / "nofill").touch()
    s.run(check=0, timeout=60)
    rid = s.latest_run()["id"]
    store = str(s.dir / ".pipespec")
    os.makedirs(os.path.join(store, "tmp", "20200101-000000-dead"))    # for gc to fail to remove
    # the last connection gone, SQLite removes runs.db-wal and -shm: a WAL database then cannot
    # be opened at all in a read-only folder (resume said "internal error" when it was so)
    db = sqlite3.connect(os.path.join(store, "runs.db"))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for extra in ("runs.db-wal", "runs.db-shm"):      # checkpointed: nothing in them is lost
        if os.path.exists(os.path.join(store, extra)):
            os.remove(os.path.join(store, extra))
    mounted("--bind", store, store)
    mounted("-o", "remount,ro,bind", store)
    for args in (["run", str(s.path), "--progress", "plain", "--no-cache"],
                 ["resume", rid, "--progress", "plain"]):
        r = s.pipespec(*args, timeout=60)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "cannot be written" in r.stderr and "Read-only file system" in r.stderr, r.stderr
        assert "internal error" not in r.stderr
    r = s.pipespec("gc", timeout=60)
    assert r.returncode == 2 and "cannot be cleaned" in r.stderr and "Read-only file system" in r.stderr, r.stderr


ART = """
pipespec: 1
name: art
steps:
  make:
    run: printf hello > "${{ outputs.f }}"; mkdir -p "${{ outputs.d }}"; printf x > "${{ outputs.d }}/x"
    outputs: {f: file, d: dir}
  use:
    run: cat "${{ steps.make.outputs.f }}"; test -e ok
"""


def _debris(store) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(store):
        for n in dirs + files:
            if ".restore-" in n or n.startswith(".pipespec-tmp-") or ".lnk-" in n or ".tmp-" in n:
                out.append(os.path.join(dirpath, n))
    return out


def test_resume_leaves_no_restore_debris(spec):
    s = spec(ART)
    assert s.run(timeout=30).returncode == 1
    rid = s.latest_run()["id"]
    for _ in range(2):
        s.pipespec("resume", rid, "--progress", "plain", timeout=30)      # 'make' is reused each time
    (s.dir / "ok").touch()
    s.pipespec("resume", rid, "--progress", "plain", timeout=30, check=0)
    assert _debris(s.dir / ".pipespec") == []
    assert not (s.dir / ".pipespec" / "tmp" / rid).exists()


SLOW_WRITE = """
pipespec: 1
name: slow
steps:
  w:
    run: echo started > started; printf part > "${{ outputs.f }}"; sleep 30
    outputs: {f: file}
"""


def test_a_killed_run_leaves_debris_that_resume_and_gc_clear(spec):
    s = spec(SLOW_WRITE)
    store = s.dir / ".pipespec"
    runs = []
    for _ in range(2):
        p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain"],
                             cwd=s.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while not (s.dir / "started").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)
        finally:
            os.killpg(p.pid, signal.SIGKILL)          # the runner; the step is in its own session
            p.wait(timeout=10)
        (s.dir / "started").unlink()
        runs.append(s.latest_run()["id"])
    assert any(f"/runs/{runs[0]}/" in d for d in _debris(store)), _debris(store)
    assert (store / "tmp" / runs[0]).exists()
    # gc: the second run's debris (no live runner owns it) goes, and its orphaned step is killed
    dry = s.pipespec("gc", "--dry-run", check=0)
    assert "would remove" in dry.stdout and _debris(store)
    r = s.pipespec("gc", timeout=30, check=0)
    assert "killed" in r.stdout, r.stdout
    assert _debris(store) == [] and not (store / "tmp" / runs[1]).exists(), r.stdout
    # resume of the first clears its own too (nothing left by now), and kills its orphan (gc did)
    s.write("pipeline.yaml", SLOW_WRITE.replace("sleep 30", "true"))
    s.pipespec("resume", runs[0], "--progress", "plain", timeout=30, check=0)
    assert _debris(store) == [] and not (store / "tmp" / runs[0]).exists()


def test_gc_checks_integrity_and_removes_unreachable_objects(spec):
    s = spec(ART)
    (s.dir / "ok").touch()
    s.run(check=0, timeout=30)
    store = s.dir / ".pipespec"
    objects = store / "objects" / "sha256"
    stray = objects / "ff" / ("0" * 62)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("nobody's")
    half = objects / "ff" / (("1" * 62) + ".tmp-deadbeef")
    half.write_text("half")
    time.sleep(0.2)                          # gc leaves alone what was stored after it started
    r = s.pipespec("gc", "--dry-run", check=0)
    assert "store ok" in r.stdout and stray.name in r.stdout and stray.exists() and half.exists()
    r = s.pipespec("gc", check=0)
    assert not stray.exists() and not half.exists()
    # every recorded object is still there and sound
    ex = s.executions()
    digest = json.loads(ex["make"]["output_hashes"])["f"]
    obj = objects / digest[:2] / digest[2:]
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == digest
    # corrupt it: gc reports it (exit 1) and removes it, so the next run makes it again
    os.chmod(obj, 0o644)
    obj.write_text("tampered")
    r = s.pipespec("gc")
    assert r.returncode == 1 and "corrupt" in r.stdout and "make.f" in r.stdout, r.stdout
    assert not obj.exists()
    r = s.run(check=0, timeout=30)
    assert s.executions()["make"]["cache_hit"] == 0
    assert s.pipespec("gc").returncode == 0


def test_gc_leaves_a_live_run_alone(spec):
    s = spec("""
        pipespec: 1
        name: live
        steps:
          w:
            run: echo $$ > pid; printf part > "${{ outputs.f }}"; sleep 3
            outputs: {f: file}
    """)
    p = subprocess.Popen([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain"],
                         cwd=s.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not (s.dir / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        rid = s.latest_run()["id"]
        store = s.dir / ".pipespec"
        before = _debris(store)
        assert before and (store / "tmp" / rid).exists()        # the step is writing
        r = s.pipespec("gc", check=0)
        assert "killed" not in r.stdout and rid not in r.stdout, r.stdout
        assert _debris(store) == before and (store / "tmp" / rid).exists()
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, out + err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert s.pipespec("gc", check=0).stdout.startswith("store ok")
