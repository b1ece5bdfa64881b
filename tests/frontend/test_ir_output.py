"""``pipespec ir`` prints exactly ``json.dumps(IR, indent=2, sort_keys=True)``, and in time
linear in what it prints (issue 11, item 19: an IR that repeats the pipeline env in every step
took 57 s for 3000 steps x 300 variables, most of it in the standard encoder)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from support import example_specs, ok_cases

from pipespec.cli import main
from pipespec.commands.ir import pretty
from pipespec.frontend import load_spec


def _ir(path: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["ir", path]) == 0
    return out.getvalue()


@pytest.mark.parametrize("spec", example_specs() + ok_cases(), ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_ir_output_is_the_indented_canonical_json(spec):
    pipe = load_spec(str(spec)).pipeline
    assert _ir(str(spec)) == json.dumps(json.loads(pipe.to_json()), indent=2, sort_keys=True) + "\n"


def test_pretty_matches_json_dumps_on_shared_and_odd_values():
    shared = {"b": [1, 2.5, None, True, False, "é\n\"", {}], "a": []}
    data = {"x": [shared, shared, {"s": shared}], "n": float("inf"), "m": -0.0, "z": {"": shared}}
    assert pretty(data) == json.dumps(data, indent=2, sort_keys=True)


def _spec(steps: int, env: int) -> str:
    lines = ["pipespec: 1", "name: big", "env:"] + [f"  V{j}: value-{j}" for j in range(env)] + ["steps:"]
    for i in range(steps):
        lines += [f"  s{i}:", "    run: echo hi"]
    return "\n".join(lines) + "\n"


def test_ir_of_a_large_shared_env_is_written_once_not_walked_per_step(tmp_path, monkeypatch):
    """The env shared by 300 steps is walked once (per indentation) and copied after: the work
    is linear in what is distinct, not in what is printed. Counted, not timed (a timed unit
    test failed under load; the speed itself belongs to the bench)."""
    from pipespec.commands import ir as ir_command
    from pipespec.ir import plain

    p = tmp_path / "big.yaml"
    p.write_text(_spec(300, 100), encoding="utf-8")
    pipe = load_spec(str(p)).pipeline
    data = plain(pipe)
    walked = []
    real = ir_command._container
    monkeypatch.setattr(ir_command, "_container", lambda v, *a: (walked.append(id(v)), real(v, *a))[1])
    ours = pretty(data)
    theirs = json.dumps(json.loads(pipe.to_json()), indent=2, sort_keys=True)   # what ir did before
    assert ours == theirs and len(ours) > 8_000_000      # the env is in each of the 300 steps

    values = [[value for _name, value in step["env"]] for step in data["steps"]]
    assert len(values) == 300 and all(len(v) == 100 for v in values)
    # the pipeline env's 100 values are the same objects in every step ...
    assert all(a is b for v in values[1:] for a, b in zip(v, values[0]))
    # ... and each is walked once per indentation it is printed at, not once per step
    assert max(walked.count(id(v)) for v in values[0]) <= 2
    assert len(walked) < 300 * 100 * 2, len(walked)       # without it: a pair, a value and a type per variable and step
