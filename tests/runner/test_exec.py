"""pipespec exec: one step, the artifact-root convention, output type checks, atomic artifacts."""

import json
import os

import pytest

PIPE = """
pipespec: 1
name: ex
params:
  xs: {type: list, items: int, default: [3, 1, 2]}
steps:
  make:
    run: |
      printf 'data' > "${{ outputs.data }}"
      echo "n=42" >> "$PIPESPEC_OUTPUT"
      echo "tags=[\\"a\\", \\"b\\"]" >> "$PIPESPEC_OUTPUT"
    outputs: {data: file, n: int, tags: list}
  square:
    foreach: ${{ params.xs }}
    call: mod:square
    with:
      x: ${{ item }}
      data: ${{ steps.make.outputs.data }}
    outputs: {out: file, sq: int, metrics: metrics}
  total:
    call: mod:total
    with:
      sqs: ${{ steps.square.outputs.sq }}
      files: ${{ steps.square.outputs.out }}
      n: ${{ steps.make.outputs.n }}
      best: ${{ steps.square.outputs.metrics.value }}
    outputs: {sum: int, report: dir}
"""

MOD = """
import os

def square(x, data, out, metrics):
    with open(out, "w") as f:
        f.write(open(data).read() + str(x))
    return {"sq": x * x, "metrics": {"value": x * 10}}

def total(sqs, files, n, best, report):
    assert os.path.isdir(report) and not os.listdir(report)
    with open(os.path.join(report, "all.txt"), "w") as f:
        f.write(",".join(open(p).read() for p in files) + f" n={n} best={best}")
    return {"sum": sum(sqs)}
"""


def test_artifact_root_convention(spec, tmp_path):
    s = spec(PIPE)
    s.write("mod.py", MOD)
    root = tmp_path / "root"
    base = ("exec", str(s.path), "--artifact-root", str(root), "--run-id", "R1")
    s.pipespec(*base, "--step", "make", check=0)
    assert (root / "R1/make/_/data").read_text() == "data"
    assert json.loads((root / "R1/make/_/_values.json").read_text())["values"] == {"n": 42, "tags": ["a", "b"]}
    assert (root / "R1/make/_/_done").exists()
    for i in (2, 0, 1):                       # any order; fan-in is by index
        s.pipespec(*base, "--step", "square", "--item-index", str(i), check=0)
    assert (root / "R1/square/0/out").read_text() == "data3"
    assert json.loads((root / "R1/square/1/metrics").read_text()) == {"value": 10}
    res = tmp_path / "res.json"
    s.pipespec(*base, "--step", "total", "--result-json", str(res), check=0)
    out = json.loads(res.read_text())
    assert out["values"] == {"sum": 14}
    assert (root / "R1/total/_/report/all.txt").read_text() == "data3,data1,data2 n=42 best=[30, 10, 20]"
    assert not [p for p in (root / "R1").rglob(".pipespec-tmp-*")]


def test_missing_upstream_is_a_clear_usage_error(spec, tmp_path):
    s = spec(PIPE)
    s.write("mod.py", MOD)
    r = s.pipespec("exec", str(s.path), "--artifact-root", str(tmp_path / "r"), "--run-id", "R",
                   "--step", "total")
    assert r.returncode == 2
    assert "no finished result of step 'make'" in r.stderr or "missing" in r.stderr


def test_inputs_json_and_output_paths(spec, tmp_path):
    s = spec(PIPE)
    s.write("mod.py", MOD)
    (tmp_path / "d").write_text("D")
    inputs = {"values": {}, "artifacts": {"make": {"data": str(tmp_path / "d")}}}
    outs = {"out": str(tmp_path / "o/out.txt"), "metrics": str(tmp_path / "o/m.json")}
    ghout = tmp_path / "gh"
    s.pipespec("exec", str(s.path), "--step", "square", "--item-index", "1", "--inputs-json",
                   json.dumps(inputs), "--output-paths-json", json.dumps(outs), check=0,
                   env={"GITHUB_OUTPUT": str(ghout)})
    assert (tmp_path / "o/out.txt").read_text() == "D1"
    text = ghout.read_text()
    assert "sq<<ghadelimiter_" in text and "\n1\n" in text and '{"value":10}' in text


BAD = """
pipespec: 1
name: bad
steps:
  s:
    run: {cmd}
    outputs: {{n: int, art: file}}
"""


@pytest.mark.parametrize("cmd,message", [
    ("'touch \"${{ outputs.art }}\"'", "did not produce value output 'n'"),
    ("'echo n=abc >> $PIPESPEC_OUTPUT; touch \"${{ outputs.art }}\"'", "output 'n' (int): 'abc' is not an int"),
    ("'echo n=1 >> $PIPESPEC_OUTPUT; echo zz=1 >> $PIPESPEC_OUTPUT; touch \"${{ outputs.art }}\"'",
     "gave output 'zz', which it does not declare"),
    ("'echo n=1 >> $PIPESPEC_OUTPUT'", "did not write output 'art' (file)"),
])
def test_output_type_checks(spec, tmp_path, cmd, message):
    s = spec(BAD.format(cmd=cmd))
    r = s.pipespec("exec", str(s.path), "--step", "s", "--output-paths-json",
                   json.dumps({"art": str(tmp_path / "a")}))
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert not (tmp_path / "a").exists()              # nothing lands on failure


CALLBAD = """
pipespec: 1
name: cb
steps:
  s:
    call: m:{fn}
    outputs: {{x: float, m: metrics}}
"""


@pytest.mark.parametrize("fn,message", [
    ("wrong_type", "output 'x' should be a float, but the step gave a string"),
    ("bad_metrics", "field 'acc' is a string"),
    ("no_dict", "returned a list"),
    ("missing", "has no function 'missing'"),
    ("boom", "ValueError: boom"),
])
def test_call_output_checks(spec, tmp_path, fn, message):
    s = spec(CALLBAD.format(fn=fn))
    s.write("m.py", """
        def wrong_type(m):
            return {"x": "1.0", "m": {"a": 1}}
        def bad_metrics(m):
            return {"x": 1, "m": {"acc": "high"}}
        def no_dict(m):
            return [1]
        def boom(m):
            raise ValueError("boom")
    """)
    r = s.pipespec("exec", str(s.path), "--step", "s", "--output-paths-json", json.dumps({"m": str(tmp_path / "m")}))
    assert r.returncode != 0
    assert message in r.stderr


def test_call_int_widens_and_metrics_written(spec, tmp_path):
    s = spec(CALLBAD.format(fn="ok"))
    s.write("m.py", """
        import numpy as np
        def ok(m):
            return {"x": np.int64(2), "m": {"acc": np.float64(0.5)}}
    """)
    res = tmp_path / "r.json"
    s.pipespec("exec", str(s.path), "--step", "s", "--result-json", str(res),
               "--output-paths-json", json.dumps({"m": str(tmp_path / "m.json")}), check=0)
    out = json.loads(res.read_text())
    assert out["values"] == {"x": 2.0} and out["metrics"] == {"m": {"acc": 0.5}}
    assert json.loads((tmp_path / "m.json").read_text()) == {"acc": 0.5}


def test_env_workdir_and_secrets(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: envs
        secrets:
          token: {env: MY_TOKEN}
        env: {A: "1"}
        steps:
          s:
            foreach: ${{ [10, 20] }}
            run: ["sh", "-c", "echo \\"$A $B $PIPESPEC_STEP $PIPESPEC_RUN_ID $PIPESPEC_ITEM $PIPESPEC_ITEM_INDEX $T $(pwd)\\" > out.txt"]
            env:
              B: ${{ item }}
              T: ${{ secrets.token }}
    """)
    r = s.pipespec("exec", str(s.path), "--step", "s", "--item-index", "1", "--run-id", "RX",
                   env={"MY_TOKEN": "sekrit"}, check=0)
    assert (tmp_path / "out.txt").read_text().split() == ["1", "20", "s", "RX", "20", "1", "sekrit", str(tmp_path)]
    assert "sekrit" not in r.stderr + r.stdout
    env = {k: v for k, v in os.environ.items() if k != "MY_TOKEN"}
    r = s.pipespec("exec", str(s.path), "--step", "s", "--item-index", "0", env=env)
    assert "secret 'token' is not set (environment variable MY_TOKEN)" in r.stderr


def test_retries_by_executor(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: rt
        steps:
          s:
            run: echo x >> tries; test $(wc -l < tries) -ge 3
            retries: {limit: 3, delay: 0s, backoff: 1}
    """)
    r = s.pipespec("exec", str(s.path), "--step", "s")
    assert r.returncode == 1 and (tmp_path / "tries").read_text().count("x") == 1
    (tmp_path / "tries").unlink()
    r = s.pipespec("exec", str(s.path), "--step", "s", "--retries-by-executor", check=0)
    assert (tmp_path / "tries").read_text().count("x") == 3
    assert "attempt 2 failed" in r.stderr


def test_fsspec_memory_root(spec):
    pytest.importorskip("fsspec")
    s = spec(PIPE)
    s.write("mod.py", MOD)
    import subprocess
    import sys
    code = f"""
import sys, json
from pipespec.cli import main
base = ["exec", {str(s.path)!r}, "--artifact-root", "memory://art", "--run-id", "R"]
assert main(base + ["--step", "make"]) == 0
for i in range(3):
    assert main(base + ["--step", "square", "--item-index", str(i)]) == 0
assert main(base + ["--step", "total"]) == 0
import fsspec
fs = fsspec.filesystem("memory")
print(json.loads(fs.cat("/art/R/total/_/_values.json"))["values"]["sum"])
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=s.dir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "14"
