"""``python -m bench [--quick] [--cases 1,2,3,4,5,7] [--repeat N] [--no-write]``

Installs the peers into their own cached venvs, runs each case ``--repeat`` times after a
warm-up, prints medians and pipespec/peer ratios measured in the same run, and writes the table
to docs/performance.md (not in --quick mode, the smoke mode that the test suite runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from .cases import CASES, SLOW_CASES, Ctx, Row
from .measure import ROOT, install_pipespec

DOC = ROOT / "docs" / "performance.md"


def table(rows: list[Row]) -> str:
    out = ["| case | what | pipespec | peer | peer time | ratio | bar | verdict |",
           "|---|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        theirs = f"{r.theirs:.3f} s" if r.theirs is not None else ""
        bar = f"≤ {r.bar:g}" if r.bar is not None else ""
        what = r.what + (f" — {r.note}" if r.note else "")
        out.append(f"| {r.case} | {what} | {r.ours:.3f} s | {r.peer} | {theirs} | {ratio} | {bar} | {r.verdict} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--quick", action="store_true", help="smoke mode: each case once, tiny sizes, no doc")
    p.add_argument("--cases", "--case", default=",".join(CASES),
                   help=f"comma-separated subset of {','.join(CASES)}; opt-in: {','.join(SLOW_CASES)}")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-write", action="store_true", help="do not rewrite docs/performance.md")
    args = p.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    rows: list[Row] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pipespec-bench-") as tmp:
        ctx = Ctx(Path(tmp), repeat, args.quick)
        print("== installing this checkout into a fresh venv (as users install it)", file=sys.stderr, flush=True)
        install_pipespec(Path(tmp))
        for key in args.cases.split(","):
            fn = {**CASES, **SLOW_CASES}[key.strip()]
            print(f"== case {key}: {fn.__doc__.strip().splitlines()[0] if fn.__doc__ else fn.__name__}",
                  file=sys.stderr, flush=True)
            got = fn(ctx)
            rows += got
            print(table(got), file=sys.stderr, flush=True)
    if args.quick:
        # the bars are set for 100-10000 steps; at smoke sizes start-up dominates every ratio
        for r in rows:
            r.bar = None
    text = table(rows)
    print(text)
    elapsed = time.perf_counter() - t0
    if not args.quick and not args.no_write:
        write_doc(rows, text, args, elapsed)
    missed = [r for r in rows if r.verdict == "MISSED"]
    print(f"{len(rows)} rows, {len(missed)} bars missed, {elapsed:.0f} s", file=sys.stderr)
    return 0


def write_doc(rows, text, args, elapsed) -> None:
    cmd = "python -m bench" + (f" --cases {args.cases}" if args.cases != ",".join(CASES) else "")
    head = DOC.read_text(encoding="utf-8").split("<!-- results -->")[0] if DOC.exists() else "# Performance\n\n"
    DOC.write_text(
        head + "<!-- results -->\n"
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.repeat} runs after a warm-up, medians; "
        f"the whole run took {elapsed:.0f} s. Reproduce: `.venv/bin/{cmd}`.\n\n" + text,
        encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
