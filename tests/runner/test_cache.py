"""Cache keys: every ingredient changes the key, an unrelated file does not; --explain names it."""

import os
import time

import pytest

from pipespec.runner.objects import FileHasher
from pipespec.runner.records import Records

SPEC = """
pipespec: 1
name: ck
params:
  a: {type: int, default: 1}
  b: {type: int, default: 1}
  xs: {type: list, items: string, default: [p, q]}
steps:
  make:
    run: echo ${{ params.a }} > "${{ outputs.o }}"; cat data.txt >> "${{ outputs.o }}"
    deps: [data.txt]
    outputs: {o: file}
  use:
    call: lib:use
    with:
      src: ${{ steps.make.outputs.o }}
    outputs: {n: int}
  each:
    foreach: ${{ params.xs }}
    run: echo ${{ item }}
  other:
    run: echo ${{ params.b }}
"""

LIB = """
from helpers import twice

def use(src):
    return {"n": twice(len(open(src).read()))}
"""


@pytest.fixture
def s(spec):
    s = spec(SPEC)
    s.write("data.txt", "d1\n")
    s.write("lib.py", LIB)
    s.write("helpers.py", "def twice(x):\n    return 2 * x\n")
    s.write("unrelated.py", "X = 1\n")
    s.run(check=0)
    return s


def ran(s, *args):
    r = s.run("--explain", *args, check=0)
    ex = s.executions()
    return {k for k, v in ex.items() if v["status"] == "succeeded" and not v["cache_hit"]}, r.stdout


def test_nothing_changed_is_fully_cached(s):
    assert ran(s)[0] == set()


def test_unrelated_file_does_not_change_keys(s):
    time.sleep(0.01)
    s.write("unrelated.py", "X = 2\n")
    (s.dir / "new.txt").write_text("x")
    assert ran(s)[0] == set()


def test_param_reruns_only_readers(s):
    got, out = ran(s, "-p", "b=2")
    assert got == {"other"}
    assert "param b changed (1 -> 2)" in out


def test_param_change_flows_through_input_artifact(s):
    got, out = ran(s, "-p", "a=2")
    assert got == {"make", "use"}
    assert "input steps.make.outputs.o changed" in out


def test_same_output_content_stops_the_wave(s):
    # make re-runs (definition changed) but writes the same bytes: use stays cached
    s.path.write_text(s.path.read_text().replace('cat data.txt >> "${{ outputs.o }}"',
                                                 'cat data.txt >>"${{ outputs.o }}"'))
    got, out = ran(s)
    assert got == {"make"}
    assert "step definition changed" in out


def test_dep_file(s):
    s.write("data.txt", "d2\n")
    got, out = ran(s)
    assert got == {"make", "use"} and "dep file data.txt changed" in out


def test_module_source_and_transitive_local_import(s):
    s.write("helpers.py", "def twice(x):\n    return x + x  # same result\n")
    got, out = ran(s)
    assert got == {"use"} and "module source helpers.py changed" in out


def test_foreach_item(s):
    got, out = ran(s, "-p", "xs=[p,r]")
    # the instance of the new item runs; it is compared with an earlier instance of the same
    # item (there is none), never with the one that stood at its position
    assert got == {"each[1]"} and "no earlier execution of this step for this item" in out
    assert "foreach item changed" not in out


def test_no_cache_and_cache_false(s):
    got, _ = ran(s, "--no-cache")
    assert got == {"make", "use", "each[0]", "each[1]", "other"}


def test_restored_outputs_are_hard_links(s):
    ex = s.executions()
    assert ex["make"]["cache_hit"] == 0
    s.run(check=0)
    ex = s.executions()
    assert ex["make"]["cache_hit"] == 1
    import json
    path = json.loads(ex["make"]["output_paths"])["o"]
    digest = json.loads(ex["make"]["output_hashes"])["o"]
    obj = s.dir / ".pipespec/objects/sha256" / digest[:2] / digest[2:]
    assert os.stat(path).st_ino == os.stat(obj).st_ino
    assert not os.access(obj, os.W_OK) or os.geteuid() == 0
    assert not os.stat(obj).st_mode & 0o222           # stored objects are read-only


def test_stat_cache_fast_path_and_racy_rehash(tmp_path):
    rec = Records(str(tmp_path / "store"))
    f = tmp_path / "f.txt"
    f.write_text("one")
    old = time.time() - 10
    os.utime(f, (old, old))
    h1 = FileHasher(rec).digest(str(f))
    rec.flush()
    # same stat: trusted without reading (prove it by corrupting the recorded digest)
    rec.db.execute("UPDATE stat_cache SET digest='fake' WHERE path=?", (str(f),))
    assert FileHasher(rec).digest(str(f)) == "fake"
    # same size, restored mtime, but changed content: the inode/ctime still differ -> rehash
    f.write_text("two")
    os.utime(f, (old, old))
    h2 = FileHasher(rec).digest(str(f))
    assert h2 not in ("fake", h1)
    rec.flush()
    # racy: mtime in the same second as the hashing -> never trusted
    g = tmp_path / "g.txt"
    g.write_text("x")
    FileHasher(rec).digest(str(g))
    rec.flush()
    rec.db.execute("UPDATE stat_cache SET digest='fake' WHERE path=?", (str(g),))
    assert FileHasher(rec).digest(str(g)) != "fake"
    rec.close()
