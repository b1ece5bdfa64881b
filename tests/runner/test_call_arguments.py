"""A call: step's with: arguments and its outputs: only artifact outputs are passed to the
function as keyword arguments (docs/spec.md), so only they may not share a name with one."""

from __future__ import annotations

from runner_support import values

SPEC = """
pipespec: 1
name: calls
steps:
  score:
    call: steps:score
    with:
      score: 0.5
    outputs:
      score: float
"""

MODULE = """
def score(score):
    return {"score": score * 2}
"""


def test_a_value_output_may_have_the_name_of_an_argument(spec):
    """Found: E403 fired on a value output named like a with: argument, though value outputs
    are returned, never passed in."""
    s = spec(SPEC)
    s.write("steps.py", MODULE)
    r = s.pipespec("validate", str(s.path), "--color", "never")
    assert r.returncode == 0, r.stdout
    s.run(check=0)
    assert values(s.executions()["score"]) == {"score": 1.0}


def test_an_artifact_output_may_not(spec):
    s = spec(SPEC.replace("score: float", "score: model"))
    r = s.pipespec("validate", str(s.path), "--color", "never")
    assert r.returncode == 1 and "error[E403]: argument 'score' has the name of an artifact output of step 'score'" in r.stdout
