"""Runs as experiments: `pipespec runs` shows what changed from the previous run, `runs diff`
puts two runs side by side, `pipespec metrics` is keyed by foreach item (never by position),
sorts, finds the best run, and speaks table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

SWEEP = """
pipespec: 1
name: sweep
params:
  alphas: {type: list, default: [0.1, 1.0, 100]}
  seed: {type: int, default: 0}
steps:
  fit:
    foreach: ${{ params.alphas }}
    run: |
      python3 -c "import json,sys; a=float(sys.argv[1]); json.dump({'r2': round(1 - a / 1000 - ${{ params.seed }} / 100, 4)}, open(sys.argv[2], 'w'))" ${{ item }} ${{ outputs.m }}
    outputs: {m: metrics}
  report:
    run: echo done
    needs: [fit]
"""


def _runs(s, *extra):
    r = s.pipespec("runs", *extra, check=0)
    return r.stdout


def _three_runs(s):
    s.run(check=0)                                         # alphas [0.1, 1.0, 100], seed 0
    s.run("-p", "seed=1", check=0)                         # seed changed
    s.run("-p", "seed=2", "-p", "alphas=[1.0, 100]", check=0)    # the list lost its first item
    with s.db() as c:
        return [r[0] for r in c.execute("SELECT id FROM runs ORDER BY started")]


def test_runs_lists_params_as_changes_from_the_previous_run(spec):
    s = spec(SWEEP)
    ids = _three_runs(s)
    rows = {line.split()[0]: line for line in _runs(s).splitlines()[1:]}
    assert "alphas=[0.1,1.0,100] seed=0" in rows[ids[0]]          # the first run: every param
    assert "seed=1 (was 0)" in rows[ids[1]] and "alphas" not in rows[ids[1]]
    assert "alphas=[1.0,100] (was [0.1,1.0,100]) seed=2 (was 1)" in rows[ids[2]]
    doc = json.loads(_runs(s, "--format", "json"))
    assert [r["id"] for r in doc["runs"]] == list(reversed(ids))      # newest first, as the table
    first = next(r for r in doc["runs"] if r["id"] == ids[0])
    assert first["params"] == {"alphas": [0.1, 1.0, 100], "seed": 0} and first["status"] == "succeeded"
    assert next(r for r in doc["runs"] if r["id"] == ids[1])["changed"] == {"seed": {"was": 0, "now": 1}}


def test_metrics_are_keyed_by_item_across_runs_with_different_lists(spec):
    s = spec(SWEEP)
    ids = _three_runs(s)
    doc = json.loads(s.pipespec("metrics", "--format", "json", check=0).stdout)
    rows = {r["run"]: r["metrics"] for r in doc["rows"]}
    # alpha 1.0 is the second item of run 1 and the first of run 3: one column, never mixed
    assert rows[ids[0]]["fit[1.0].r2"] == 0.999 and rows[ids[2]]["fit[1.0].r2"] == 0.979
    assert rows[ids[0]]["fit[0.1].r2"] == 0.9999 and "fit[0.1].r2" not in rows[ids[2]]
    assert not any("fit[0]" in k or "fit[2]" in k for r in rows.values() for k in r)
    table = s.pipespec("metrics", check=0).stdout
    header = table.splitlines()[0].split()
    assert header[0] == "RUN" and "fit[0.1].r2" in header and "fit[100].r2" in header


def test_runs_show_labels_instances_by_item(spec):
    s = spec(SWEEP)
    s.run(check=0)
    out = s.pipespec("runs", "show", "latest", check=0).stdout
    assert "fit[0.1]" in out and "fit[100]" in out and "fit[0]" not in out and "fit[2]" not in out
    assert "fit[1.0].m = r2=0.999" in out


def test_metrics_best_and_sort(spec):
    s = spec(SWEEP)
    ids = _three_runs(s)
    r = s.pipespec("metrics", "--best", "r2", check=0)
    assert r.stdout.splitlines()[0] == f"best r2: 0.9999 in run {ids[0]} (fit[0.1].r2)"
    r = s.pipespec("metrics", "--best", "r2:min", check=0)
    assert r.stdout.splitlines()[0] == f"best r2 (lowest): 0.88 in run {ids[2]} (fit[100].r2)"
    r = s.pipespec("metrics", "--sort", "fit[100].r2", "--format", "csv", check=0)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["run"] for row in rows] == [ids[0], ids[1], ids[2]]           # highest first
    assert rows[0]["fit[100].r2"] == "0.9" and rows[2]["fit[100].r2"] == "0.88"
    r = s.pipespec("metrics", "--sort", "fit[100].r2:asc", "--format", "csv", check=0)
    assert [row["run"] for row in csv.DictReader(io.StringIO(r.stdout))] == [ids[2], ids[1], ids[0]]
    r = s.pipespec("metrics", "--best", "nosuch")
    assert r.returncode == 2 and "no metric column matches 'nosuch'" in r.stderr


def test_runs_diff_puts_two_runs_side_by_side(spec):
    s = spec(SWEEP)
    ids = _three_runs(s)
    out = s.pipespec("runs", "diff", ids[0], ids[2], check=0).stdout
    assert f"runs {ids[0]} -> {ids[2]}" in out
    assert any(l.split() == ["alphas", "[0.1,1.0,100]", "[1.0,100]"] for l in out.splitlines()), out
    lines = {l.split()[0]: l.split() for l in out.splitlines() if l.strip()}
    assert lines["fit[0.1]"][1:3] == ["succeeded", "-"]          # only in the first run
    assert lines["fit[1.0].r2"][1:] == ["0.999", "0.979", "-0.02"]
    doc = json.loads(s.pipespec("runs", "diff", ids[0], ids[2], "--format", "json", check=0).stdout)
    assert doc["params"] == {"alphas": {"a": [0.1, 1.0, 100], "b": [1.0, 100]}, "seed": {"a": 0, "b": 2}}
    assert doc["metrics"]["fit[1.0].r2"] == {"a": 0.999, "b": 0.979, "delta": -0.02}
    assert doc["steps"]["fit[0.1]"] == {"a": {"status": "succeeded", "cached": False}, "b": None}
    # the second run of the same params reuses from the cache: shown as cached
    s.run("-p", "seed=2", "-p", "alphas=[1.0, 100]", check=0)
    doc = json.loads(s.pipespec("runs", "diff", ids[2], "latest", "--format", "json", check=0).stdout)
    assert doc["params"] == {} and doc["steps"]["fit[1.0]"]["b"] == {"status": "succeeded", "cached": True}
    r = s.pipespec("runs", "diff", ids[0])
    assert r.returncode == 2 and "runs diff needs two runs" in r.stderr


def test_metric_fields_print_in_the_same_order_on_a_first_and_a_cached_run(spec):
    s = spec("""
    pipespec: 1
    name: order
    steps:
      m:
        run: |
          echo '{"zeta": 1, "alpha": 2, "mid": 3}' > ${{ outputs.m }}
        outputs: {m: metrics}
    """)
    first = [l for l in s.run(check=0).stdout.splitlines() if l.startswith("  m.m:")]
    second = [l for l in s.run(check=0).stdout.splitlines() if l.startswith("  m.m:")]
    assert first == second == ["  m.m: alpha=2  mid=3  zeta=1"]


FINALLY = """
pipespec: 1
name: fin
defaults:
  cache: true
steps:
  work:
    run: echo work >> log
finally:
  notify:
    run: echo "notify ${{ run.status }}" >> log
"""


def test_finally_steps_run_on_every_run(spec):
    """Found: a finally: step was cached by default, so a second run's notification was never
    sent ('notify cached — cache key unchanged'); defaults.cache does not reach it either."""
    s = spec(FINALLY)
    s.run(check=0)
    out = s.run(check=0).stdout
    assert "work cached" in out and "notify cached" not in out
    assert (s.dir / "log").read_text().split("\n").count("notify succeeded") == 2
    # its own cache: true still caches it (the key holds run.status, which it reads)
    s2 = spec(FINALLY.replace('    run: echo "notify', '    cache: true\n    run: echo "notify'), name="cached.yaml")
    s2.run(check=0)
    assert "notify cached" in s2.run(check=0).stdout


def test_explain_compares_an_instance_with_the_same_item(spec):
    """Found: after -p seed=1, --explain said 'fit[0.1] ... foreach item changed (1.0 -> 0.1)':
    it compared with the previous run's instance at the same position."""
    s = spec(SWEEP)
    s.run("-p", "alphas=[1.0, 100]", check=0)
    out = s.run("-p", "seed=1", "--explain", check=0).stdout
    lines = {l.split("] ", 1)[1].split()[1]: l for l in out.splitlines() if l.startswith("[") and "fit[" in l}
    assert "no earlier execution of this step for this item" in lines["fit[0.1]"], out
    assert "param seed changed (0 -> 1)" in lines["fit[1.0]"] and "foreach item" not in out, out
