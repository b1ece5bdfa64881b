"""No backend writes a shell run:'s script, or any value, into its output: every target's
worker runs the step through `pipespec exec`, which gives the values to the shell as
environment variables (tests/runner/test_shell_values.py proves what the command receives)."""

from __future__ import annotations

import re

import pytest
import yaml

from pipespec import backends
from pipespec.backends.base import CompileOptions
from pipespec.frontend import load_spec

SPEC = """\
pipespec: 1
name: shellvals
params:
  x: {type: string, default: "$(touch PWNED)"}
steps:
  s:
    run: |
      printf %s ${{ params.x }} "[${{ params.x }}]" > first_marker
      cat > doc <<EOF
      ${{ params.x }}
      EOF
    outputs: {o: string}
  t:
    run: printf %s ${{ steps.s.outputs.o }} > second_marker
"""


@pytest.mark.parametrize("target", ["airflow", "kubeflow", "github"])
def test_script_and_values_stay_out_of_compiled_output(tmp_path, target):
    p = tmp_path / "pipeline.yaml"
    p.write_text(SPEC)
    res = load_spec(str(p))
    assert res.pipeline is not None, [d.message for d in res.diagnostics]
    r = backends.get(target)().compile(res.pipeline, CompileOptions(spec_path="pipeline.yaml"))
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    for piece in ("first_marker", "second_marker", "PIPESPEC_EXPR", "printf %s"):
        assert piece not in r.text, piece
    if target == "github":
        doc = yaml.safe_load(r.text)
        for jid in ("s", "t"):
            runs = [st["run"] for st in doc["jobs"][jid]["steps"] if "run" in st]
            assert any(re.search(r"\bpipespec exec \"\$PIPESPEC_SPEC\"", run) for run in runs), jid
            assert not [run for run in runs if "${{" in run], jid
