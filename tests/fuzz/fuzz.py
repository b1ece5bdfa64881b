"""Fuzz the loader (a whole spec through ``check_text``) and the expression parser, outside CI.

    python tests/fuzz/fuzz.py hypothesis [--minutes 5] [--target loader|expr|all]
    python tests/fuzz/fuzz.py atheris --target loader [-- libFuzzer flags, e.g. -max_total_time=300]

``hypothesis``: structured inputs (valid specs from tests/frontend/test_spec_mutations.py,
mutated; random text, bytes and expression-alphabet text; corpus entries with bytes flipped),
a large example budget, until the time is up. A failing input is shrunk and written to
``corpus/<target>/crash-<sha1>``; fix the bug, keep the file: ``test_corpus.py`` replays every
file in CI.

``atheris`` (``pip install atheris``): coverage-guided libFuzzer over the same oracle, seeded
with ``corpus/<target>/``. libFuzzer adds each input that reaches new code to the FIRST corpus
folder, so pass a scratch folder first (``-- -max_total_time=300 /tmp/new``), then keep a
minimised few (``-merge=1``) and every crash (``crash-*``, written to the working folder) in
``corpus/<target>/``.

The oracles are in ``oracles.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "frontend")]

from oracles import CORPUS, ORACLES  # noqa: E402


def save(target: str, data: bytes, prefix: str = "crash") -> pathlib.Path:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{prefix}-{hashlib.sha1(data).hexdigest()[:12]}"
    p.write_bytes(data)
    return p


def corpus(target: str) -> list[bytes]:
    d = CORPUS / target
    return [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()] if d.is_dir() else []


def run_hypothesis(targets: list[str], minutes: float) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from test_spec_mutations import mutated, rich_specs, _dump

    EXPR = "ab1.0'()[]+-*/!=<>&|, _\n\"{}$e\\x0fmtjoinlenparamsstepsoutputsitemrun"

    def flips(seeds):
        @st.composite
        def flipped(draw):
            data = bytearray(draw(st.sampled_from(seeds)))
            for _ in range(draw(st.integers(1, 8))):
                if not data:
                    break
                i = draw(st.integers(0, len(data) - 1))
                op = draw(st.integers(0, 2))
                if op == 0:
                    data[i] = draw(st.integers(0, 255))
                elif op == 1:
                    del data[i]
                else:
                    data[i:i] = draw(st.binary(min_size=1, max_size=4))
            return bytes(data)
        return flipped()

    strategies = {
        "loader": st.one_of(
            mutated().map(lambda t: t.encode("utf-8", "surrogatepass")),
            rich_specs().map(lambda d: _dump(d).encode()),
            st.text(max_size=400).map(str.encode),
            st.binary(max_size=300),
            *([flips(corpus("loader"))] if corpus("loader") else [])),
        "expr": st.one_of(
            st.text(alphabet=EXPR, max_size=60).map(str.encode),
            st.text(max_size=60).map(str.encode),
            *([flips(corpus("expr"))] if corpus("expr") else [])),
    }
    failures = 0
    deadline = time.monotonic() + minutes * 60
    per = minutes * 60 / len(targets)
    for target in targets:
        check = ORACLES[target]
        stop = min(deadline, time.monotonic() + per)
        rounds = 0
        while time.monotonic() < stop:
            rounds += 1

            @settings(max_examples=2000, deadline=None, database=None, derandomize=False,
                      phases=[Phase.generate, Phase.shrink],
                      suppress_health_check=list(HealthCheck))
            @given(strategies[target])
            def prop(data):
                if time.monotonic() > stop:
                    return
                check(data)

            try:
                prop()
            except Exception as e:  # noqa: BLE001 - report and keep what failed
                failures += 1
                data = getattr(e, "__hypothesis_example__", None)
                print(f"[{target}] FAILED: {type(e).__name__}: {str(e)[:300]}", flush=True)
                last = _last_input.get(target)
                if last is not None:
                    print(f"  saved {save(target, last)}", flush=True)
        print(f"[{target}] {rounds} round(s) of up to 2000 examples, {failures} failure(s) so far", flush=True)
    return 1 if failures else 0


_last_input: dict[str, bytes] = {}


def _remember(target: str, check):
    def wrapped(data: bytes) -> None:
        try:
            check(data)
        except Exception:
            _last_input[target] = data      # the shrunk example is the last one to fail
            raise
    return wrapped


ORACLES = {name: _remember(name, fn) for name, fn in ORACLES.items()}  # noqa: F811


def run_atheris(target: str, argv: list[str]) -> None:
    import atheris

    import lark  # noqa: F401 - loaded before instrumenting, so the grammar's parser is covered too

    from pipespec import analysis, checks, frontend, loader, schema, schema_fast, spec  # noqa: F401
    from pipespec.expr import parser, typecheck  # noqa: F401

    atheris.instrument_all()        # everything loaded so far: pipespec, lark, the oracles
    check = ORACLES[target]
    (CORPUS / target).mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], *argv, str(CORPUS / target)], check)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("engine", choices=("hypothesis", "atheris"))
    ap.add_argument("--target", choices=("loader", "expr", "all"), default="all")
    ap.add_argument("--minutes", type=float, default=5.0)
    args, rest = ap.parse_known_args()      # the rest, after --: libFuzzer flags and folders
    rest = [a for a in rest if a != "--"]
    targets = ["loader", "expr"] if args.target == "all" else [args.target]
    if args.engine == "atheris":
        if len(targets) != 1:
            ap.error("atheris fuzzes one --target at a time")
        run_atheris(targets[0], rest)
        return 0
    return run_hypothesis(targets, args.minutes)


if __name__ == "__main__":
    sys.exit(main())
