"""The local runner's scheduling: order, real parallelism, skips, fan-in order, finally, failures."""

import time

from runner_support import values


def test_order_and_parallelism(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: par
        steps:
          a: {run: "sleep 1; date +%s.%N > a.t"}
          b: {run: "sleep 1; date +%s.%N > b.t"}
          c:
            needs: [a, b]
            run: "date +%s.%N > c.t"
    """)
    t0 = time.monotonic()
    s.run("-j", "2", check=0)
    took = time.monotonic() - t0
    assert took < 1.9, f"two 1s steps with -j2 took {took:.2f}s"
    a, b, c = (float((tmp_path / f"{n}.t").read_text()) for n in "abc")
    assert c >= max(a, b)
    t0 = time.monotonic()
    s.run("-j", "1", "--no-cache", check=0)
    assert time.monotonic() - t0 >= 2.0


def test_skip_propagates_through_data_and_needs(spec):
    s = spec("""
        pipespec: 1
        name: skip
        params:
          go: {type: bool, default: false}
        steps:
          gate:
            if: ${{ params.go }}
            run: echo v=1 >> $PIPESPEC_OUTPUT
            outputs: {v: int}
          reader:
            run: echo ${{ steps.gate.outputs.v }}
          after:
            needs: [reader]
            run: "true"
          free: {run: "true"}
        finally:
          fin: {run: "echo ${{ run.status }} > status.txt"}
    """)
    r = s.run(check=0)
    ex = s.executions()
    assert ex["gate"]["status"] == "skipped" and ex["gate"]["reason"] == "if: false"
    assert ex["reader"]["status"] == "skipped" and ex["after"]["status"] == "skipped"
    assert ex["free"]["status"] == "succeeded" and ex["fin"]["status"] == "succeeded"
    assert "skipped (if: false)" in r.stdout
    assert (s.dir / "status.txt").read_text().strip() == "succeeded"
    s.run("-p", "go=true", check=0)
    assert all(r["status"] == "succeeded" for r in s.executions().values())


def test_fan_out_fan_in_order_and_parallelism_limit(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: fan
        params:
          xs: {type: list, items: int, default: [5, 1, 4, 2, 3]}
        steps:
          sq:
            foreach: ${{ params.xs }}
            parallelism: 2
            run: |
              echo start >> "$(pwd)/conc.log"
              sleep 0.$(( ${{ item }} * 6 % 10 ))
              echo "v=$(( ${{ item }} * ${{ item }} ))" >> $PIPESPEC_OUTPUT
              echo end >> "$(pwd)/conc.log"
            outputs: {v: int}
          total:
            run: echo "all=${{ steps.sq.outputs.v }}" >> $PIPESPEC_OUTPUT
            outputs: {all: list}
    """)
    s.run("-j", "4", check=0)
    ex = s.executions()
    assert values(ex["total"])["all"] == [25, 1, 16, 4, 9]
    depth = peak = 0
    for line in (tmp_path / "conc.log").read_text().split():
        depth += 1 if line == "start" else -1
        peak = max(peak, depth)
    assert peak <= 2


def test_failure_lets_siblings_finish_and_runs_finally_with_failed(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: fail
        steps:
          bad: {run: "echo oops >&2; exit 3"}
          slow: {run: "sleep 0.6; touch slow.done"}
          later:
            needs: [bad]
            run: touch later.done
          other:
            needs: [slow]
            run: touch other.done
        finally:
          fin:
            run: echo ${{ run.status }} > status.txt
    """)
    r = s.run("-j", "2")
    assert r.returncode == 1
    assert (tmp_path / "slow.done").exists()            # the running sibling finished
    assert not (tmp_path / "later.done").exists() and not (tmp_path / "other.done").exists()
    assert (tmp_path / "status.txt").read_text().strip() == "failed"
    assert "FAILED (exit 3)" in r.stdout and "| oops" in r.stdout
    ex = s.executions()
    assert ex["bad"]["status"] == "failed" and ex["bad"]["exit_code"] == 3
    assert ex["other"]["status"] == "not_run"
    assert s.latest_run()["status"] == "failed"


def test_empty_foreach_gives_empty_lists(spec):
    s = spec("""
        pipespec: 1
        name: empty
        params:
          xs: {type: list, items: string, default: []}
        steps:
          each:
            foreach: ${{ params.xs }}
            run: echo "v=${{ item }}" >> $PIPESPEC_OUTPUT
            outputs: {v: string}
          join:
            run: echo 'n=${{ len(steps.each.outputs.v) }}' >> $PIPESPEC_OUTPUT
            outputs: {n: int}
    """)
    s.run(check=0)
    assert values(s.executions()["join"]) == {"n": 0}


def test_only_and_from(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: sel
        params:
          k: {type: int, default: 1}
        steps:
          a:
            run: echo ${{ params.k }} > "${{ outputs.o }}"; echo a >> log
            outputs: {o: file}
          b:
            run: cat "${{ steps.a.outputs.o }}" > "${{ outputs.o }}"; echo b >> log
            outputs: {o: file}
          c:
            run: echo c >> log; cat "${{ steps.b.outputs.o }}"
    """)
    r = s.run("--only", "b")
    assert r.returncode == 1 and "not selected, and the store has no successful execution of it" in r.stdout
    s.run(check=0)
    (tmp_path / "log").unlink()
    s.run("--only", "b", check=0)
    assert (tmp_path / "log").read_text().split() == ["b"]
    (tmp_path / "log").unlink()
    s.run("--from", "b", check=0)
    assert (tmp_path / "log").read_text().split() == ["b", "c"]
    r = s.run("--only", "b", "-p", "k=2")              # a's key changed: its result is not stored
    assert r.returncode == 1 and "--only a" in r.stdout
    r = s.run("--only", "nope")
    assert r.returncode == 2 and "no step 'nope'" in r.stderr
