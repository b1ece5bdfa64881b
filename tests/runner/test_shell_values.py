"""A value never becomes shell syntax: each ${{ }} of a shell-string run: reaches /bin/sh as an
environment variable reference, quoted for its context, and the command receives the value byte
for byte — through `pipespec exec` (every target's workers) and `pipespec run` (the local runner).
"""

import json
import sys

import pytest

# every context the rendering supports, each written to its own file
CONTEXTS = """
pipespec: 1
name: hostile
params:
  x: {type: string, default: hello}
steps:
  s:
    run: |
      printf %s ${{ params.x }} > bare
      printf %s "[${{ params.x }}]" > dq
      printf %s a${{ params.x }}b > word
      printf %s "$(printf %s ${{ params.x }})" > sub
      printf %s "$(printf %s "${{ params.x }}")" > subdq
      cat > doc <<EOF
      <${{ params.x }}>
      EOF
      printf %s "${{ params.x }}" ${{ params.x }} > twice
      X=${{ params.x }}; printf %s "$X" > assign
      # a comment's ${{ params.x }} stays a comment, and so does its 'quote
      printf %s ${{ params.x }}'|'"|" > mixed
      sh -c 'printf %s "$1" > shc' sh ${{ params.x }}
  direct:
    run: PYTHON w.py ${{ params.x }} --then ${{ params.x }}
"""

W_PY = """
import json, sys
with open("argv.json", "w", encoding="utf-8") as f:
    json.dump(sys.argv[1:], f)
"""

HOSTILE = [
    "$(touch PWNED)",
    "x; touch PWNED",
    '"; touch PWNED; echo "',
    "`touch PWNED`",
    "a\ntouch PWNED\nb",
    "it's \"quoted\" 'twice'",
    "$HOME ${HOME} $$ $1",
    "* ? [a-z] ~",
    "-n",
    "--version",
    "  spaces  and\ttabs  ",
    "back\\slash \\n \\",
    "EOF",
    "}} ${{ params.x }}",
    "ünï ☃ \u00a0nbsp",
    "trailing newlines\n\n",
    "",
]


def expected(v: str) -> dict[str, str]:
    return {"bare": v, "dq": f"[{v}]", "word": f"a{v}b", "sub": v.rstrip("\n"),
            "subdq": v.rstrip("\n"),
            "doc": f"<{v}>\n", "twice": v + v, "assign": v, "mixed": v + "||", "shc": v}


@pytest.fixture
def hostile(spec):
    s = spec(CONTEXTS.replace("PYTHON", sys.executable))
    s.write("w.py", W_PY)
    return s


def check_received(s, v: str) -> None:
    assert not list(s.dir.rglob("PWNED")), "a value ran as shell code"
    for name, want in expected(v).items():
        got = (s.dir / name).read_bytes()
        assert got == want.encode(), f"{name}: {got!r} != {want.encode()!r}"
    assert json.loads((s.dir / "argv.json").read_text(encoding="utf-8")) == [v, "--then", v]


@pytest.mark.parametrize("v", HOSTILE, ids=range(len(HOSTILE)))
def test_run_params_json_passes_values_verbatim(hostile, v):
    hostile.run("--no-cache", "--params-json", json.dumps({"x": v}), check=0)
    check_received(hostile, v)


@pytest.mark.parametrize("v", HOSTILE[:6], ids=range(6))
def test_run_dash_p_passes_values_verbatim(hostile, v):
    hostile.run("--no-cache", "-p", f"x={v}", check=0)
    check_received(hostile, v)


@pytest.mark.parametrize("v", HOSTILE, ids=range(len(HOSTILE)))
def test_exec_params_json_passes_values_verbatim(hostile, tmp_path, v):
    for step in ("s", "direct"):
        hostile.pipespec("exec", str(hostile.path), "--step", step, "--run-id", "R",
                         "--artifact-root", str(tmp_path / "root"),
                         "--params-json", json.dumps({"x": v}), check=0)
    check_received(hostile, v)


def test_exec_dash_p_passes_values_verbatim(hostile, tmp_path):
    v = '"; touch PWNED; echo "$(touch PWNED)`touch PWNED`'
    for step in ("s", "direct"):
        hostile.pipespec("exec", str(hostile.path), "--step", step, "--run-id", "R",
                         "--artifact-root", str(tmp_path / "root"), "-p", f"x={v}", check=0)
    check_received(hostile, v)


def test_upstream_value_output_is_passed_verbatim(spec):
    s = spec("""
    pipespec: 1
    name: up
    steps:
      a:
        run: |
          printf 'v<<END\\n$(touch PWNED)"; touch PWNED; echo "\\nEND\\n' >> "$PIPESPEC_OUTPUT"
        outputs: {v: string}
      b:
        run: printf %s ${{ steps.a.outputs.v }} > got
    """)
    s.run(check=0)
    assert not list(s.dir.rglob("PWNED"))
    assert (s.dir / "got").read_bytes() == b'$(touch PWNED)"; touch PWNED; echo "'


def test_value_with_nul_is_a_clear_step_error(spec, tmp_path):
    s = spec("""
    pipespec: 1
    name: nul
    steps:
      a:
        run: printf 'v=a\\000b\\n' >> "$PIPESPEC_OUTPUT"
        outputs: {v: string}
      b:
        run: echo ${{ steps.a.outputs.v }}
    """)
    r = s.run(timeout=20)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NUL" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    root = str(tmp_path / "root")
    s.pipespec("exec", str(s.path), "--step", "a", "--run-id", "R", "--artifact-root", root, check=0)
    r = s.pipespec("exec", str(s.path), "--step", "b", "--run-id", "R", "--artifact-root", root, timeout=20)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NUL" in r.stderr and "steps.a.outputs.v" in r.stderr
    assert "Traceback" not in r.stderr


def test_numbers_and_bools_in_single_quotes_and_arithmetic(spec, tmp_path):
    s = spec("""
    pipespec: 1
    name: typed
    params:
      n: {type: int, default: 1}
      f: {type: float, default: 0.5}
    steps:
      a:
        run: |
          printf %s '{"n": ${{ params.n }}, "f": ${{ params.f }}, "pos": ${{ params.n > 0 }}}' > j
          echo "v=$(( ${{ params.n }} * 2 ))" >> "$PIPESPEC_OUTPUT"
        outputs: {v: int}
      b:
        run: printf %s '${{ steps.a.outputs.v }}' > k
    """)
    s.run("-p", "n=-12", "-p", "f=1e16", check=0)
    assert json.loads((s.dir / "j").read_text()) == {"n": -12, "f": 1e16, "pos": False}
    assert (s.dir / "k").read_text() == "-24"
    r = s.pipespec("exec", str(s.path), "--step", "a", "--run-id", "R", "--artifact-root", str(tmp_path / "r"),
                   "--params-json", json.dumps({"n": "$(touch PWNED)"}))
    assert r.returncode == 2 and "is not an int" in r.stderr
    assert not list(s.dir.rglob("PWNED"))


def test_a_number_binding_that_is_not_a_number_is_refused(tmp_path):
    """The rendering trusts an int's text only because the executor checks the type: a value
    that reached it untyped (a bug elsewhere, a hand-made call) fails the step, it never runs."""
    from pipespec.frontend import load_spec
    from pipespec.runtime.context import StepInputs
    from pipespec.runtime.execute import run_step

    p = tmp_path / "pipeline.yaml"
    p.write_text("pipespec: 1\nname: typed\nparams:\n  n: {type: int, default: 1}\n"
                 "steps:\n  a:\n    run: sh -c 'echo ${{ params.n }}' > got\n")
    pipe = load_spec(str(p)).pipeline
    step = pipe.step("a")
    assert step.shell.script == "sh -c 'echo '\"${PIPESPEC_EXPR_1}\"'' > got"
    res = run_step(pipe, step, StepInputs({"n": "1; touch PWNED"}), {})  # the inner sh would run it
    assert res.status == "failed" and "must be int" in res.error
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "got").exists()
    res = run_step(pipe, step, StepInputs({"n": 7}), {})
    assert res.ok and (tmp_path / "got").read_text() == "7\n"
