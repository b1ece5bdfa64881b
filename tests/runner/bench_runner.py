"""Per-step overhead of ``pipespec run`` beside ``make -j2`` on the same DAG (not a test).

    python tests/runner/bench_runner.py [--reps 5] [--sizes 100,1000]

Chain: each step needs the previous one. Fan-out: independent steps. Every step is
``run: "true"``. Whole-process wall time; configurations interleaved, min and median of
``--reps``; the cached re-run is timed after a first run filled the store, and the re-run
(``--no-cache``) after that: every step runs again, into an existing store. The first run
goes into a store deleted a moment before; on this machine's ext4 (no journal) creating a
file then costs ~0.3 ms instead of ~60 us (the kernel skips recently deleted inodes), and
each step creates two log files — the re-run shows the runner without that penalty.

pipespec runs with byte-compiled sources, as an installed package does: PYTHONDONTWRITEBYTECODE
is dropped and the bytecode goes to a private PYTHONPYCACHEPREFIX (compiling the runner's
modules from source costs ~20 ms a run). ``cpu s`` is the children's user+sys time, which
the noise of a shared machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def write(folder: str, n: int, shape: str) -> tuple[str, str]:
    spec = ["pipespec: 1", f"name: {shape}{n}", "steps:"]
    mk = [".PHONY: all " + " ".join(f"s{i}" for i in range(n)), "all: " + " ".join(f"s{i}" for i in range(n))]
    for i in range(n):
        spec += [f"  s{i}:", '    run: "true"']
        dep = f"s{i - 1}" if shape == "chain" and i else ""
        if dep:
            spec.append(f"    needs: [{dep}]")
        mk += [f"s{i}: {dep}", "\t@true"]
    d = os.path.join(folder, f"{shape}{n}")
    os.makedirs(d)
    with open(os.path.join(d, "pipeline.yaml"), "w") as f:
        f.write("\n".join(spec) + "\n")
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("\n".join(mk) + "\n")
    return d, os.path.join(d, "pipeline.yaml")


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> tuple[float, float]:
    """(wall, user+sys CPU) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--shapes", default="chain,fan")
    args = ap.parse_args()
    pipespec = [sys.executable, "-m", "pipespec", "run", "pipeline.yaml", "-j", "2", "--progress", "plain"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        cases = [(n, shape, *write(tmp, n, shape)) for n in map(int, args.sizes.split(","))
                 for shape in args.shapes.split(",")]
        for n, shape, d, spec in cases:          # warm up: bytecode and the compiled-spec cache
            timed(pipespec, d, env)
        times: dict[tuple, list[tuple[float, float]]] = {}
        for _ in range(args.reps):
            for n, shape, d, spec in cases:
                times.setdefault((n, shape, "make -j2"), []).append(timed(["make", "-s", "-j2"], d))
                shutil.rmtree(os.path.join(d, ".pipespec"), ignore_errors=True)
                times.setdefault((n, shape, "pipespec -j2"), []).append(timed(pipespec, d, env))
                times.setdefault((n, shape, "pipespec cached"), []).append(timed(pipespec, d, env))
                times.setdefault((n, shape, "pipespec rerun"), []).append(timed(pipespec + ["--no-cache"], d, env))
        print(f"{'steps':>6} {'shape':6} {'runner':16} {'min s':>7} {'median s':>8} {'cpu s':>7} "
              f"{'ms/step':>8} {'x make':>7}")
        for (n, shape, who), ts in times.items():
            walls = [w for w, _ in ts]
            make = min(w for w, _ in times[(n, shape, "make -j2")])
            print(f"{n:>6} {shape:6} {who:16} {min(walls):7.3f} {statistics.median(walls):8.3f} "
                  f"{min(c for _, c in ts):7.3f} {min(walls) / n * 1e3:8.3f} {min(walls) / make:7.2f}")


if __name__ == "__main__":
    main()
