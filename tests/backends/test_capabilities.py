"""Every row of every capability table is real: each backend's table covers every feature
(a missing one is E231 at compile time, never a silent "native"), and every feature is one
``uses()`` reports for some spec of the suite."""

from __future__ import annotations

import pytest

from support import example_specs, ok_cases

from pipespec import backends
from pipespec.backends.base import FEATURES, NATIVE, Backend, CompileOptions, uses
from pipespec.frontend import load_spec


def _tables():
    for name in backends.BUILTIN:
        cls = backends.get(name)
        yield pytest.param(cls.capabilities, id=name)
        if hasattr(cls, "kubernetes_capabilities"):
            yield pytest.param(cls.kubernetes_capabilities, id=f"{name}-kubernetes")


@pytest.mark.parametrize("table", list(_tables()))
def test_every_table_covers_every_feature_and_no_other(table):
    assert sorted(table) == sorted(FEATURES)


def test_every_feature_is_reported_by_uses_for_some_spec():
    seen = set()
    for path in example_specs() + ok_cases():
        seen |= {feature for feature, *_ in uses(load_spec(str(path)).pipeline)}
    assert seen == set(FEATURES), f"never reported: {sorted(set(FEATURES) - seen)}"


def test_params_and_env_are_reported_at_their_uses(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("pipespec: 1\nname: p\nparams:\n  n: {type: int, default: 1}\n"
                    "steps:\n  a:\n    env: {X: '1'}\n    run: echo a\n  b:\n    run: echo b\n")
    found = [(f, what) for f, _span, what, _step in uses(load_spec(str(spec)).pipeline) if f in ("params", "env")]
    assert found == [("params", "param 'n'"), ("env", "env of step 'a'")]


class _Partial(Backend):
    """A backend whose table says nothing about retries."""

    name = "partial"
    capabilities = {f: (NATIVE, "") for f in FEATURES if f != "retries"}

    def generate(self, pipe, opts):
        return "ok\n"


def test_a_feature_missing_from_the_table_is_an_error_at_its_first_use(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("pipespec: 1\nname: p\nsteps:\n  a:\n    run: echo a\n"
                    "  b:\n    retries: 2\n    run: echo b\n  c:\n    retries: 1\n    run: echo c\n")
    res = _Partial().compile(load_spec(str(spec)).pipeline, CompileOptions(spec_path=str(spec)))
    assert res.text is None
    assert [(d.code, d.span.line) for d in res.diagnostics] == [("E231", 6)]
    assert "does not say how it handles retries with backoff ('retries')" in res.diagnostics[0].message
    # a spec that does not use the feature compiles
    spec.write_text("pipespec: 1\nname: p\nsteps:\n  a:\n    run: echo a\n")
    assert _Partial().compile(load_spec(str(spec)).pipeline, CompileOptions(spec_path=str(spec))).ok


def test_a_setting_from_defaults_is_reported_at_defaults(tmp_path):
    """Found: W600 for retries set under defaults: pointed at the first step, not at defaults:."""
    from pipespec.cli import main
    import contextlib
    import io

    spec = tmp_path / "p.yaml"
    spec.write_text("pipespec: 1\nname: dflt\ndefaults:\n  retries: 2\nsteps:\n  a:\n    run: echo a\n"
                    "  b:\n    retries: 1\n    run: echo b\n")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert main(["compile", str(spec), "--target", "github"]) == 0
    assert f"{spec}:4:12: warning[W600]: github: retries with backoff is emulated on github" in err.getvalue()
    assert "(steps a, b)" in err.getvalue()
