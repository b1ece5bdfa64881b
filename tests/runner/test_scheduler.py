"""The local runner's scheduling: order, real parallelism, skips, fan-in order, finally, failures."""

from runner_support import values


def test_order_and_parallelism(spec, tmp_path):
    """With -j 2 the two independent steps run at the same time (their intervals overlap); with
    -j 1 one after the other; c only after both. Told by the steps' own clocks, not by the
    run's wall time (a 1.9 s bound failed on a loaded machine)."""
    s = spec("""
        pipespec: 1
        name: par
        steps:
          a: {run: "date +%s.%N > a.start; sleep 1; date +%s.%N > a.end"}
          b: {run: "date +%s.%N > b.start; sleep 1; date +%s.%N > b.end"}
          c:
            needs: [a, b]
            run: "date +%s.%N > c.start"
    """)

    def at(name: str) -> float:
        return float((tmp_path / name).read_text())

    s.run("-j", "2", check=0)
    assert at("a.start") < at("b.end") and at("b.start") < at("a.end"), "a and b did not overlap with -j 2"
    assert at("c.start") >= max(at("a.end"), at("b.end"))
    s.run("-j", "1", "--no-cache", check=0)
    first, second = sorted("ab", key=lambda n: at(f"{n}.start"))
    assert at(f"{second}.start") >= at(f"{first}.end"), "a and b overlapped with -j 1"
    assert at("c.start") >= at(f"{second}.end")


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
