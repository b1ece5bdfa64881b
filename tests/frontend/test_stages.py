"""The front end's stages and their products (issue 13, point 4): the typed raw model, the
dependency graph as its own stage, the lowering that reads both, and one code per problem."""

from __future__ import annotations

import re
import textwrap

import pytest
from support import ROOT

from pipespec.analysis import Analysis
from pipespec.codes import CODES
from pipespec.diagnostics import Diagnostics
from pipespec.frontend import check_text
from pipespec.graph import build as build_graph
from pipespec.loader import load
from pipespec.spec import RawPipeline


def _stages(text: str):
    tree, _ = load(textwrap.dedent(text), "s.yaml")
    raw = RawPipeline.read("s.yaml", tree)
    analysis = Analysis(raw, Diagnostics()).run()
    return raw, analysis, build_graph(raw, analysis)


# -- the raw model -------------------------------------------------------------------------
def test_the_raw_model_types_what_the_spec_says_with_positions():
    raw, _, _ = _stages("""\
        pipespec: 1
        name: p
        params:
          n: {type: list, items: int, default: [1], description: counts}
        defaults:
          image: python:3.12
          retries: {limit: 2, delay: 5s}
        steps:
          a:
            run: [echo, "${{ params.n }}"]
            retries: 3
            resources: {cpu: 2, accelerator: t4}
            outputs: {x: int, m: {type: metrics, description: scores}}
            env: {A: "1"}
        """)
    p = raw.params["n"]
    assert (p.type, p.items, p.description, p.default.to_python()) == ("list", "int", "counts", [1])
    a = raw.steps["a"]
    assert [(o.name, o.type, o.description) for o in a.outputs] == [("x", "int", ""), ("m", "metrics", "scores")]
    assert (a.settings.retries.limit.value, a.settings.retries.delay) == (3, None)
    assert (a.settings.resources.cpu.value, a.settings.resources.accelerator, a.settings.resources.memory) == (2, "t4", None)
    assert a.settings.image is None and raw.defaults.image.value == "python:3.12"
    assert raw.defaults.retries.delay.value == "5s" and raw.defaults.retries.span.line == 7
    assert [k.value for k, _ in a.env] == ["A"] and a.span.line == 9 and a.call is None


def test_the_raw_model_reads_a_wrong_shape_without_failing():
    # built even when the shape check failed: wrong kinds of node become None or nothing
    raw, _, _ = _stages("""\
        pipespec: 1
        name: p
        params: {n: 3}
        defaults: [x]
        steps:
          a:
            run: echo a
            needs: {b: 1}
            outputs: [x]
            retries: [1]
            resources: 2
            env: 5
            deps: x.py
          b: not-a-step
        """)
    assert list(raw.steps) == ["a"] and raw.params == {}
    a = raw.steps["a"]
    assert (a.needs, a.outputs, a.env, a.deps, a.settings.retries, a.settings.resources) == ((), (), (), (), None, None)
    assert raw.defaults.env == () and raw.defaults.image is None


# -- the graph stage -----------------------------------------------------------------------
def test_the_graph_orders_by_dependencies_then_file_order_and_knows_who_may_skip():
    raw, _, g = _stages("""\
        pipespec: 1
        name: p
        params:
          go: {type: bool, default: true}
        steps:
          late:
            run: echo ${{ steps.gate.outputs.x }}
          free:
            run: echo free
          gate:
            if: ${{ params.go }}
            run: echo gate
            outputs: {x: int}
          after:
            needs: [late, nowhere]
            run: echo after
        finally:
          cleanup:
            run: echo cleanup
        """)
    assert g.topological == ("free", "gate", "late", "after")
    assert g.deps == {"late": {"gate"}, "free": set(), "gate": set(), "after": {"late"}}
    assert g.conditional == {"gate"} and g.skippable == {"gate", "late", "after"}
    assert g.cycle is None


def test_a_cyclic_graph_has_its_cycle_and_no_skippable_steps():
    _, _, g = _stages("""\
        pipespec: 1
        name: p
        steps:
          a:
            if: ${{ true }}
            needs: [b]
            run: echo a
          b:
            needs: [a]
            run: echo b
        """)
    assert g.cycle in (("a", "b", "a"), ("b", "a", "b")) and g.skippable == frozenset()


def test_the_lowering_takes_order_dependencies_and_skips_from_the_graph():
    res = check_text(textwrap.dedent("""\
        pipespec: 1
        name: p
        steps:
          b:
            run: echo ${{ steps.a.outputs.x }}
          a:
            if: ${{ true }}
            run: echo a
            outputs: {x: int}
        """), "s.yaml")
    steps = res.pipeline.steps
    assert [(s.name, s.depends_on, s.may_skip) for s in steps] == [("a", (), True), ("b", ("a",), True)]


# -- the lowering reads the model ----------------------------------------------------------
def test_a_step_reads_the_secrets_of_the_env_values_in_effect_for_it():
    # pipeline env -> defaults env -> the step's own: a secret whose variable is overridden is not
    # read by the step (it used to be found by comparing the spans of env values)
    res = check_text(textwrap.dedent("""\
        pipespec: 1
        name: p
        secrets:
          a: {}
          b: {}
          c: {}
        env:
          A: ${{ secrets.a }}
          B: ${{ secrets.b }}
        defaults:
          env:
            B: plain
            C: ${{ secrets.c }}
        steps:
          keeps:
            run: echo keeps
          overrides:
            run: echo overrides
            env: {A: own, C: "${{ secrets.b }}"}
        """), "s.yaml")
    assert res.ok, res.diagnostics
    got = {s.name: s.secrets for s in res.pipeline.steps}
    assert got == {"keeps": ("a", "c"), "overrides": ("b",)}
    env = dict(res.pipeline.step("overrides").env)
    assert env["A"].literal == "own" and env["B"].literal == "plain"


def test_the_item_type_of_a_foreach_step_comes_from_the_analysis():
    res = check_text(textwrap.dedent("""\
        pipespec: 1
        name: p
        params:
          n: {type: list, items: int, default: [1, 2]}
        steps:
          fan:
            foreach: ${{ params.n }}
            run: echo ${{ item }}
          lit:
            foreach: [a, b]
            run: echo ${{ item }}
        """), "s.yaml")
    assert [str(s.item_type) for s in res.pipeline.steps] == ["int", "string"]


# -- one code per problem ------------------------------------------------------------------
# Codes still raised from two modules, each for one problem; not part of issue 13's split
# (E108/E200/E202: a semantic check or the front end beside the schema's). The list may only
# shrink.
SHARED = {"E108", "E200", "E202"}


def _raisers() -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    for p in sorted((ROOT / "compiler").rglob("*.py")) + sorted((ROOT / "backends").rglob("*.py")):
        if p.name == "codes.py":
            continue
        for m in re.finditer(r"""["']([EW]\d{3})["']""", p.read_text(encoding="utf-8")):
            where.setdefault(m.group(1), set()).add(str(p.relative_to(ROOT)))
    return where


def test_each_code_is_raised_from_one_module():
    shared = {c for c, mods in _raisers().items() if len(mods) > 1}
    assert shared <= SHARED, {c: sorted(_raisers()[c]) for c in shared - SHARED}
    assert shared == SHARED, f"no longer shared, drop from SHARED: {sorted(SHARED - shared)}"


def test_the_codes_that_left_e203_and_the_steps_and_self_codes_each_have_one_home():
    where = _raisers()
    assert where["E203"] == {"compiler/schema.py"}
    assert where["E304"] == where["E401"] == {"compiler/analysis.py"}
    for n in range(214, 225):
        assert f"E{n}" in CODES and len(where[f"E{n}"]) == 1, n


@pytest.mark.parametrize("code", ["E203"] + [f"E{n}" for n in range(214, 225)])
def test_each_code_of_the_split_has_an_err_case_that_shows_it(code):
    cases = sorted((ROOT / "tests" / "cases" / "err").glob(f"{code.lower()}_*.yaml"))
    assert cases, f"no tests/cases/err/{code.lower()}_*.yaml"
    for case in cases:
        res = check_text(case.read_bytes(), str(case))
        assert {d.code for d in res.diagnostics if d.is_error} == {code}, case.name


def test_needs_and_expressions_name_steps_with_the_same_codes():
    res = check_text(textwrap.dedent("""\
        pipespec: 1
        name: p
        steps:
          a:
            needs: [a, ghost, fin]
            run: echo ${{ steps.a.outputs.x }} ${{ steps.ghost.outputs.x }} ${{ steps.fin.outputs.x }}
            outputs: {x: int}
        finally:
          fin:
            run: echo fin
        """), "s.yaml")
    got = sorted((d.span.line, d.code, d.message) for d in res.diagnostics if d.is_error)
    assert got == [
        (5, "E304", "needs: 'fin' names a finally: step"),
        (5, "E304", "needs: 'ghost' names no step"),
        (5, "E401", "step 'a' needs itself"),
        (6, "E304", "'fin' is a finally: step; its outputs cannot be read"),
        (6, "E304", "unknown step 'ghost'"),
        (6, "E401", "step 'a' reads its own output"),
    ]
