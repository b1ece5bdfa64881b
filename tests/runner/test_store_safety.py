"""Files, paths and the store under attack: what a step, a planted link or a hostile run id
can make pipespec write, read or follow (issue 11, items 3, 4, 6, 8, 20)."""

from __future__ import annotations

import json
import os
import stat

import pytest

SIMPLE = """
pipespec: 1
name: simple
steps:
  make:
    run: printf 'data' > "${{ outputs.data }}"
    outputs: {data: file}
"""


# ---------------------------------------------------------------- item 8: compile -o X


def test_compile_does_not_write_through_a_planted_tmp_symlink(spec, tmp_path):
    s = spec(SIMPLE)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out" / "wf.yml"
    out.parent.mkdir()
    os.symlink(victim, str(out) + ".tmp")
    s.pipespec("compile", str(s.path), "--target", "github", "-o", str(out), check=0)
    assert victim.read_text() == "precious\n"
    assert "jobs:" in out.read_text() and not out.is_symlink()
    assert sorted(p.name for p in out.parent.iterdir()) == ["wf.yml", "wf.yml.tmp"]   # no debris
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_write_atomic_refuses_no_name_it_did_not_make(tmp_path):
    from pipespec.files import write_atomic

    target = tmp_path / "t"
    write_atomic(str(target), "one")
    write_atomic(str(target), b"two")
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["t"]


# ---------------------------------------------------------------- item 6: run ids


REAL_RUN_IDS = [
    "manual__2024-01-01T00:00:00+00:00",                 # Airflow, as given
    "scheduled__2024-01-01T00:00:00+00:00",
    "manual__2024-01-01T00_00_00_00_00",                 # Airflow, as the DAG passes it
    "dataset_triggered__2024-05-01T10:00:00.123456+00:00",
    "0b0ce6b4-9f2a-4f8e-8c41-5c4f0bb6c1a2",             # KFP pipeline_job_uuid
    "9876543210",                                        # GitHub run_id
    "20261201-213900-ab12", "exec-20261201-213900", "kfp-20261201-213900", "R1",
]
BAD_RUN_IDS = ["../../escape", "..", ".", "/abs/path", "a/b", "a/../b", ".hidden", "-rf", "",
               "a b", "a\nb", "a\0b", "x" * 251, "a..b/..", "C:\\x"]


@pytest.mark.parametrize("rid", REAL_RUN_IDS)
def test_real_run_ids_pass(rid):
    from pipespec.runtime.layout import run_id_problem

    assert run_id_problem(rid) is None


@pytest.mark.parametrize("rid", BAD_RUN_IDS)
def test_bad_run_ids_are_refused(rid):
    from pipespec.runtime.layout import LayoutError, Root, run_id_problem

    assert run_id_problem(rid)
    with pytest.raises(LayoutError):
        Root("/nonexistent-root").instance(rid, "s", None)


@pytest.mark.parametrize("rid", ["../../escape", "/ABS"])
@pytest.mark.parametrize("with_root", [True, False])
def test_exec_run_id_cannot_escape(spec, tmp_path, rid, with_root):
    s = spec(SIMPLE)
    root = tmp_path / "a" / "root"
    root.mkdir(parents=True)
    rid = rid.replace("/ABS", str(tmp_path / "abs"))
    args = ["--artifact-root", str(root)] if with_root else []
    before = set(_tree(tmp_path))
    r = s.pipespec("exec", str(s.path), "--step", "make", "--run-id", rid, *args, check=2)
    assert "run id" in r.stderr and "Traceback" not in r.stderr
    assert set(_tree(tmp_path)) == before


def test_exec_accepts_an_airflow_run_id(spec, tmp_path):
    s = spec(SIMPLE)
    root = tmp_path / "root"
    rid = "manual__2024-01-01T00:00:00+00:00"
    s.pipespec("exec", str(s.path), "--step", "make", "--run-id", rid, "--artifact-root", str(root), check=0)
    assert (root / rid / "make" / "_" / "data").read_text() == "data"


def test_runs_show_and_resume_refuse_a_path_as_run(spec):
    s = spec(SIMPLE)
    s.run(check=0)
    for cmd in (("runs", "show"), ("resume",)):
        r = s.pipespec(*cmd, "../../x", "--spec", str(s.path), check=2)
        assert "run id" in r.stderr and "Traceback" not in r.stderr


def _tree(base):
    for dirpath, dirnames, filenames in os.walk(base):
        for n in dirnames + filenames:
            yield os.path.relpath(os.path.join(dirpath, n), base)


# ---------------------------------------------------------------- item 20 / 4: the store itself


def test_store_is_private(spec):
    s = spec(SIMPLE)
    s.run(check=0)
    store = s.dir / ".pipespec"
    for d in [store] + [p for p in store.rglob("*") if p.is_dir() and not p.is_symlink()]:
        assert d.stat().st_mode & 0o077 == 0, f"{d} is {oct(d.stat().st_mode)}"
    assert (store / "runs.db").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("sub", ["runs", "objects", "logs", "tmp", "objects/sha256", "runs/RUN"])
def test_symlinked_store_folders_are_not_followed(spec, tmp_path, sub):
    s = spec(SIMPLE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = s.dir / ".pipespec"
    if sub == "runs/RUN":      # a folder of a run being resumed
        s.run(check=0)
        rid = s.latest_run()["id"]
        import shutil
        shutil.rmtree(store / "runs" / rid)
        os.symlink(elsewhere, store / "runs" / rid)
        with s.db() as c:
            c.execute("UPDATE executions SET status='failed'")
            c.execute("UPDATE runs SET status='failed'")
        r = s.pipespec("resume", rid, "--spec", str(s.path), "--progress", "plain")
    else:
        (store / sub).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(elsewhere, store / sub)
        r = s.run()
    assert r.returncode != 0, r.stdout + r.stderr
    assert "symbolic link" in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert "internal error" not in r.stdout + r.stderr
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------- item 3: symlinked outputs

LINKED = """
pipespec: 1
name: linked
steps:
  make:
    run: {cmd}
    outputs: {{out: {type}}}
"""

LINK_CASES = {
    "file-is-link": ("file", 'ln -s "$TARGET" "${{{{ outputs.out }}}}"', "out"),
    "dir-holds-link": ("dir", 'ln -s "$TARGET" "${{{{ outputs.out }}}}/x"', "out/x"),
    "dir-is-link": ("dir", 'rmdir "${{{{ outputs.out }}}}" && ln -s "$TARGET_DIR" "${{{{ outputs.out }}}}"', "out"),
    "nested-link": ("dir", 'mkdir -p "${{{{ outputs.out }}}}/a/b" && ln -s "$TARGET" "${{{{ outputs.out }}}}/a/b/y"',
                    "out/a/b/y"),
    "metrics-is-link": ("metrics", 'ln -s /dev/zero "${{{{ outputs.out }}}}"', "out"),
    "dir-holds-fifo": ("dir", 'mkfifo "${{{{ outputs.out }}}}/pipe"', "out/pipe"),
    "model-is-link": ("model", 'ln -s "$TARGET" "${{{{ outputs.out }}}}"', "out"),
}


@pytest.fixture
def target(tmp_path):
    t = tmp_path / "outside" / "precious.bin"
    t.parent.mkdir()
    t.write_bytes(b"secret content\n")
    t.chmod(0o640)
    return t


def _untouched(t):
    st = os.lstat(t)
    assert t.read_bytes() == b"secret content\n"
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_nlink == 1


@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_symlinked_output_is_refused_and_target_untouched(spec, target, case):
    typ, cmd, shown = LINK_CASES[case]
    s = spec(LINKED.format(cmd=json.dumps(cmd.format()), type=typ))
    env = {"TARGET": str(target), "TARGET_DIR": str(target.parent)}
    r = s.run(env=env, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    row = s.executions()["make"]
    assert row["status"] == "failed"
    assert f"'{shown}'" in row["error"] and ("symbolic link" in row["error"] or "FIFO" in row["error"]), row["error"]
    _untouched(target)
    store = s.dir / ".pipespec"
    links = [p for p in store.rglob("*") if p.is_symlink()]
    assert links == []
    objs = store / "objects"
    assert not objs.exists() or not any(p.is_file() for p in objs.rglob("*"))


def test_symlinked_output_is_refused_by_exec(spec, target, tmp_path):
    typ, cmd, shown = LINK_CASES["file-is-link"]
    s = spec(LINKED.format(cmd=json.dumps(cmd.format()), type=typ))
    r = s.pipespec("exec", str(s.path), "--step", "make", "--artifact-root", str(tmp_path / "root"),
                   "--run-id", "R1", env={"TARGET": str(target)}, check=1)
    assert "symbolic link" in r.stderr and "'out'" in r.stderr
    _untouched(target)
    assert not (tmp_path / "root" / "R1" / "make" / "_" / "out").exists()


def test_dir_output_with_plain_files_still_works(spec):
    s = spec(LINKED.format(cmd=json.dumps('mkdir "${{ outputs.out }}/a" && echo x > "${{ outputs.out }}/a/f"'),
                           type="dir"))
    s.run(check=0)
    s.run(check=0)
    assert s.executions()["make"]["cache_hit"] == 1


def test_object_store_never_follows_or_blocks(tmp_path, target):
    from pipespec.files import UnsafePath
    from pipespec.runner.objects import ObjectStore

    store = ObjectStore(str(tmp_path / "store"))
    link = tmp_path / "link"
    os.symlink(target, link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    os.symlink(target.parent, folder / "sub" / "dirlink")
    for p in (link, fifo, folder):
        with pytest.raises(UnsafePath):
            store.ingest(str(p))
    _untouched(target)
    digest = store.ingest(str(target))                           # a regular file is stored, made read-only
    assert store.has(digest) and len(digest) == 64
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o440


# ---------------------------------------------------------------- item 4: deps at run time

DEPS = """
pipespec: 1
name: deps
steps:
  make:
    run: echo made
    deps: [{deps}]
"""


def _deps_case(spec, tmp_path, deps, setup):
    (tmp_path / ".git").mkdir()                              # the project: this folder
    s = spec(DEPS.format(deps=deps))
    setup(s.dir)
    r = s.run(timeout=60)
    return s, r


DEP_CASES = {
    "fifo": ("pipe", lambda d: os.mkfifo(d / "pipe"), "'pipe' is a FIFO"),
    "dev-zero-link": ("zero", lambda d: os.symlink("/dev/zero", d / "zero"), "outside the project"),
    "passwd-link": ("pw", lambda d: os.symlink("/etc/passwd", d / "pw"), "outside the project"),
    "fifo-in-folder": ("data", lambda d: ((d / "data").mkdir(), os.mkfifo(d / "data" / "p")), "'data/p' is a FIFO"),
    "link-in-folder": ("data", lambda d: ((d / "data").mkdir(), os.symlink("/etc/passwd", d / "data" / "pw")),
                       "outside the project"),
    "glob-matches-root-link": ('"*"', lambda d: os.symlink("/", d / "root"), "outside the project"),
    "glob-fifo": ('"*.in"', lambda d: os.mkfifo(d / "x.in"), "'x.in' is a FIFO"),
}


@pytest.mark.parametrize("case", sorted(DEP_CASES))
def test_bad_deps_fail_the_step_without_hanging(spec, tmp_path, case):
    deps, setup, message = DEP_CASES[case]
    s, r = _deps_case(spec, tmp_path, deps, setup)
    assert r.returncode == 1, r.stdout + r.stderr
    row = s.executions()["make"]
    assert row["status"] == "failed" and message in row["error"], row["error"]
    assert "Traceback" not in r.stderr and "internal error" not in r.stdout + r.stderr
    with s.db() as c:
        assert not [p for (p,) in c.execute("SELECT path FROM stat_cache") if not p.startswith(str(s.dir))]


def test_glob_through_a_link_to_root_does_not_walk_the_filesystem(spec, tmp_path):
    """``**`` does not follow a folder link (glob did: the whole filesystem behind it)."""
    s, r = _deps_case(spec, tmp_path, '"**/*.txt"', lambda d: (os.symlink("/", d / "root"),
                                                               (d / "a.txt").write_text("a")))
    assert r.returncode == 0, r.stdout + r.stderr
    parts = json.loads(s.executions()["make"]["key_parts"])["deps"]
    assert sorted(parts) == ["a.txt"]


def test_dep_walk_is_bounded(tmp_path):
    from pipespec.runner.cachekey import DepError, dep_digests
    from pipespec.runner.objects import FileHasher
    from pipespec.runner.records import Records

    (tmp_path / "d").mkdir()
    for i in range(30):
        (tmp_path / "d" / f"{i}.txt").write_text(str(i))
    hasher = FileHasher(Records(str(tmp_path / "store")), str(tmp_path))
    assert len(dep_digests(str(tmp_path), ("d/*.txt",), hasher, limit=100)) == 30
    with pytest.raises(DepError, match="more than 20"):
        dep_digests(str(tmp_path), ("d/**",), hasher, limit=20)
    with pytest.raises(DepError, match="more than 20"):
        dep_digests(str(tmp_path), ("d",), FileHasher(hasher.records, str(tmp_path)), limit=20)


def test_deps_inside_the_project_keep_their_keys(spec, tmp_path):
    """Links inside the project, folders and globs: hashed as before (same key parts)."""
    s, r = _deps_case(spec, tmp_path, '"data/*.csv", data, link.csv',
                      lambda d: ((d / "data" / "sub").mkdir(parents=True), (d / "data" / "a.csv").write_text("1"),
                                 (d / "data" / "sub" / "b.csv").write_text("2"),
                                 os.symlink("data/a.csv", d / "link.csv")))
    assert r.returncode == 0, r.stdout + r.stderr
    parts = json.loads(s.executions()["make"]["key_parts"])["deps"]
    assert sorted(parts) == ["data", "data/a.csv", "link.csv"]
    assert parts["link.csv"] == parts["data/a.csv"] and parts["data"].startswith("dir:")


def test_call_result_is_not_written_through_a_planted_link(spec, tmp_path, target):
    """bootstrap.py wrote the returned dict to the fixed name RESULT.tmp first."""
    s = spec("""
    pipespec: 1
    name: c
    steps:
      s:
        call: mod:f
        outputs: {n: int}
    """)
    s.write("mod.py", f"""
    import json, os, sys

    def f():
        result = json.load(open(sys.argv[1]))["result"]
        os.symlink({str(target)!r}, result + ".tmp")
        return {{"n": 1}}
    """)
    s.pipespec("exec", str(s.path), "--step", "s", check=0)
    _untouched(target)


def test_exec_default_output_folder_is_not_followed(spec, tmp_path):
    s = spec(SIMPLE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (s.dir / ".pipespec").mkdir()
    os.symlink(elsewhere, s.dir / ".pipespec" / "exec")
    r = s.pipespec("exec", str(s.path), "--step", "make", "--run-id", "R1", check=2)
    assert "symbolic link" in r.stderr and list(elsewhere.iterdir()) == []


def test_publish_replaces_planted_links(spec, tmp_path, target):
    s = spec(SIMPLE)
    inst = tmp_path / "root" / "R1" / "make" / "_"
    inst.mkdir(parents=True)
    for name in ("_done", "_values.json"):
        os.symlink(target, inst / name)
    s.pipespec("exec", str(s.path), "--step", "make", "--run-id", "R1", "--artifact-root",
               str(tmp_path / "root"), check=0)
    _untouched(target)
    assert not (inst / "_done").is_symlink() and json.loads((inst / "_values.json").read_text())["step"] == "make"
