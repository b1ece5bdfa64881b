"""The GitHub Actions backend without the real tools: goldens, round trip, security invariants,
limits, expression translation, targets.github options. test_github_tools.py runs the tools."""

from __future__ import annotations

import re
import textwrap

import fastcheck
import pytest
import yaml

from support import GOLDEN, ROOT, check_golden, example_specs, ok_cases, typed_expr

from pipespec import backends
from pipespec.backends.base import CompileOptions
from pipespec.backends.github import MAX_FILE_BYTES, GithubBackend
from pipespec.frontend import load_spec
from pipespec.backends.github_expr import GithubTranslator
from pipespec.backends.translate import Unsupported
from pipespec.backends.github_pins import PINS, action_step, annotate
from pipespec.frontend import load_spec as load_pipeline

def compile_spec(path, spec_path: str | None = None):
    res = load_pipeline(str(path))
    assert res.pipeline is not None, [d.message for d in res.diagnostics]
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return GithubBackend().compile(res.pipeline, CompileOptions(spec_path=spec_path or rel))


def compile_text(tmp_path, text: str):
    p = tmp_path / "pipeline.yaml"
    p.write_text(textwrap.dedent(text))
    return compile_spec(p, spec_path="pipeline.yaml")


def ok_text(tmp_path, text: str) -> tuple[str, dict]:
    r = compile_text(tmp_path, text)
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    return r.text, yaml.safe_load(r.text)


HEADER = """\
pipespec: 1
name: t
"""


# -- goldens, determinism, round trip -----------------------------------------------------------
@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_golden(spec, update_golden):
    r = compile_spec(spec)
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    check_golden(GOLDEN / "github" / f"{spec.parent.name}.yml", r.text, update_golden)


# ok cases GitHub refuses, with the only codes it may give: a GPU type that no runner offers
REFUSED = {"resources_images": {"E600"}}
ALL = example_specs() + ok_cases()


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_every_valid_spec_compiles_and_passes_the_fast_checks(spec):
    """Byte-identical, round trip, security invariants and the workflow schema (tests/fastcheck.py)."""
    a, b = compile_spec(spec), compile_spec(spec)
    if spec.stem in REFUSED:
        assert not a.ok and {d.code for d in a.diagnostics if d.is_error} == REFUSED[spec.stem]
        assert all(d.span is not None and d.span.line >= 1 for d in a.diagnostics)
        return
    assert a.ok, [(d.code, d.message) for d in a.diagnostics]
    assert a.text == b.text
    fastcheck.github(a.text)


def test_refused_case_compiles_with_a_runner_that_has_the_gpu(tmp_path):
    """resources_images is refused for want of a runner, not for anything else in it."""
    text = (ROOT / "tests/cases/ok/resources_images.yaml").read_text()
    text += ("targets:\n  github:\n    runners:\n"
             "      - {runs_on: gpu-t4, cpu: 8, memory: 32Gi, gpu: 1, accelerator: nvidia-tesla-t4}\n")
    r = compile_text(tmp_path, text)
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    fastcheck.github(r.text)
    assert yaml.safe_load(r.text)["jobs"]["gpu"]["runs-on"] == "gpu-t4"


def test_churn_shape():
    doc = yaml.safe_load(compile_spec(ROOT / "specs/churn/pipeline.yaml").text)
    jobs = doc["jobs"]
    # the example's notify:/metrics:/tracking: add the run's boundary jobs around the steps
    assert list(jobs) == ["pipespec__start", "ingest", "prepare", "train", "evaluate", "deploy", "monitor", "notify",
                          "pipespec__finish"]
    assert jobs["pipespec__finish"]["if"] == "${{ always() }}"
    assert jobs["pipespec__finish"]["needs"] == [*list(jobs)[:-1]]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["rows"] == {"description": "Customers to generate", "required": False,
                              "type": "number", "default": 5000}
    assert inputs["models"]["type"] == "string" and inputs["models"]["default"] == '["logreg","forest"]'
    assert doc["on"]["schedule"] == [{"cron": "0 3 * * *"}]
    # numbers compared as numbers; the default written out for runs without inputs
    assert jobs["deploy"]["if"] == (
        "${{ fromJSON(needs.evaluate.outputs.metrics).auc >= "
        "fromJSON(github.event_name != 'workflow_dispatch' && '0.75' || inputs.min_auc) }}")
    assert jobs["evaluate"]["outputs"]["metrics"] == "${{ steps.exec.outputs.metrics }}"
    # fan-out: a matrix; no job outputs on it; fan-in downloads every leg's artifact
    assert "outputs" not in jobs["train"]
    assert jobs["train"]["strategy"]["fail-fast"] is False
    dl = [s for s in jobs["evaluate"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert {s["with"]["pattern"] for s in dl} == {"pipespec--train--*", "pipespec--prepare--*"}
    assert all(s["with"]["merge-multiple"] is True for s in dl)
    up = [s for s in jobs["train"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert up[0]["with"]["name"] == "pipespec--train--${{ strategy.job-index }}"
    # finally: always(), after every step, run.status from needs
    assert jobs["notify"]["if"] == "${{ always() }}"
    assert jobs["notify"]["needs"] == ["pipespec__start", "ingest", "prepare", "train", "evaluate", "deploy", "monitor"]
    run = [s for s in jobs["notify"]["steps"] if s.get("id") == "exec"][0]
    assert run["env"]["SLACK_WEBHOOK"] == "${{ secrets.SLACK_WEBHOOK }}"
    assert '--run-status "$PIPESPEC_RUN_STATUS"' in run["run"]
    assert "--retries-by-executor" in run["run"]
    # 30 min x 2 attempts + 5 s delay + setup
    assert jobs["ingest"]["timeout-minutes"] == 61 + 15


def test_retries_are_reported_as_emulated_once():
    r = compile_spec(ROOT / "specs/churn/pipeline.yaml")
    (w,) = [d for d in r.diagnostics if d.code == "W600"]
    assert "retries" in w.message and "steps ingest, prepare, train, evaluate, deploy, monitor, notify" in w.message


# -- the pins table ------------------------------------------------------------------------------
def test_pins_and_inputs():
    for pin in PINS.values():
        assert re.fullmatch(r"[0-9a-f]{40}", pin.sha) and re.fullmatch(r"v\d+\.\d+\.\d+", pin.version)
    with pytest.raises(KeyError, match="no input"):
        action_step("actions/checkout", {"persist-credential": False})
    line = f"      - uses: {PINS['actions/checkout'].ref}"
    assert annotate(line) == line + " # " + PINS["actions/checkout"].version
    assert annotate("      run: echo uses: x") == "      run: echo uses: x"


# -- params, triggers, limits -------------------------------------------------------------------
def test_param_types_and_triggers(tmp_path):
    _, doc = ok_text(tmp_path, HEADER + textwrap.dedent("""\
        schedule: "@weekly"
        params:
          mode: {type: string, enum: [fast, full], default: fast}
          n: {type: int, enum: [1, 2], default: 1}
          on_off: {type: bool, default: false}
          cfg: {type: map, default: {a: 1}}
          empty: {type: string, default: ""}
          version: {type: string, default: "1e3"}
        steps:
          s:
            run: echo "$M $N $O $C $E $V"
            env: {M: "${{ params.mode }}", N: "${{ params.n }}", O: "${{ params.on_off }}",
                  C: "${{ params.cfg }}", E: "${{ params.empty }}", V: "${{ params.version }}"}
        targets:
          github: {push: {branches: [main]}, pull_request: {branches: [main]}}
        """))
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["mode"]["type"] == "choice" and inputs["mode"]["options"] == ["fast", "full"]
    assert inputs["n"]["options"] == ["1", "2"] and inputs["n"]["default"] == "1"
    assert inputs["on_off"] == {"description": "on_off", "required": False, "type": "boolean", "default": False}
    assert inputs["cfg"]["default"] == '{"a":1}'
    assert inputs["version"]["default"] == "1e3"        # stays a string for a YAML 1.2 reader
    assert doc["on"]["schedule"] == [{"cron": "0 0 * * 0"}]
    assert doc["on"]["push"] == {"branches": ["main"]} and doc["on"]["pull_request"] == {"branches": ["main"]}


def test_quotes_strings_a_yaml12_reader_would_retype(tmp_path):
    text, _ = ok_text(tmp_path, HEADER + textwrap.dedent("""\
        params:
          a: {type: string, default: "1e3"}
          b: {type: string, default: "0x1F"}
          c: {type: string, default: "on"}
        steps:
          s: {run: 'echo "$A$B$C"', env: {A: "${{ params.a }}", B: "${{ params.b }}", C: "${{ params.c }}"}}
        """))
    assert "default: '1e3'" in text and "default: '0x1F'" in text and "default: 'on'" in text


def test_too_many_inputs(tmp_path):
    params = "".join(f"  p{i}: {{type: int, default: {i}}}\n" for i in range(26))
    uses = "".join(f"      P{i}: ${{{{ params.p{i} }}}}\n" for i in range(26))
    r = compile_text(tmp_path, HEADER + "params:\n" + params + "steps:\n  s:\n    run: env\n    env:\n" + uses)
    assert not r.ok
    (d,) = [d for d in r.diagnostics if d.is_error]
    assert d.code == "E601" and "at most 25 inputs" in d.message and d.span.line == 29


def fanout(n: int) -> str:
    return HEADER + "steps:\n" + "".join(f"  s{i}:\n    run: 'true'\n" for i in range(n))


def test_workflow_file_over_500_kb_is_an_error(tmp_path):
    # GitHub starts no run from a workflow file over 500 KB (512000 bytes; a 513306-byte file
    # failed, a 510313-byte one ran): an error at compile time, not a silent startup failure
    assert MAX_FILE_BYTES == 500 * 1024
    small = compile_text(tmp_path, fanout(600))
    assert small.ok and 400_000 < len(small.text.encode()) <= MAX_FILE_BYTES
    big = compile_text(tmp_path, fanout(700))
    assert not big.ok and big.text is None
    (d,) = [d for d in big.diagnostics if d.is_error]
    assert d.code == "E601" and "500 KB" in d.message and d.span.line == 1
    assert re.search(r"\d{3},\d{3} bytes", d.message) and "split" in d.help


def test_file_size_counts_utf8_bytes(tmp_path):
    from pipespec.backends.github import over_size_limit
    assert not over_size_limit("x" * MAX_FILE_BYTES)
    assert over_size_limit("x" * (MAX_FILE_BYTES + 1))
    assert over_size_limit("é" * (MAX_FILE_BYTES // 2 + 1))       # two bytes each in UTF-8


def test_required_param_with_schedule(tmp_path):
    r = compile_text(tmp_path, HEADER + textwrap.dedent("""\
        schedule: "0 1 * * *"
        params:
          who: {type: string}
        steps:
          s: {run: 'echo "$W"', env: {W: "${{ params.who }}"}}
        """))
    assert [d.code for d in r.diagnostics if d.is_error] == ["E600"]
    assert "no default" in r.diagnostics[0].message


def test_matrix_limit(tmp_path):
    items = ", ".join(str(i) for i in range(257))
    r = compile_text(tmp_path, HEADER + f"steps:\n  s:\n    foreach: [{items}]\n    run: echo ${{{{ item }}}}\n")
    assert [d.code for d in r.diagnostics if d.is_error] == ["E601"]
    ok = compile_text(tmp_path, HEADER + "steps:\n  s:\n    foreach: [" + ", ".join(map(str, range(256)))
                      + "]\n    run: echo ${{ item }}\n")
    assert ok.ok


def test_matrix_from_param_default_over_limit(tmp_path):
    default = "[" + ", ".join(map(str, range(300))) + "]"
    r = compile_text(tmp_path, HEADER + f"params:\n  xs: {{type: list, items: int, default: {default}}}\n"
                     "steps:\n  s:\n    foreach: ${{ params.xs }}\n    run: echo ${{ item }}\n")
    assert [d.code for d in r.diagnostics if d.is_error] == ["E601"]


def test_duplicate_literal_items_use_indices(tmp_path):
    _, doc = ok_text(tmp_path, HEADER + "steps:\n  s:\n    foreach: [a, b, a]\n    run: echo ${{ item }}\n")
    assert doc["jobs"]["s"]["strategy"]["matrix"]["item"] == [0, 1, 2]
    _, doc = ok_text(tmp_path, HEADER + "steps:\n  s:\n    foreach: [a, b]\n    parallelism: 1\n    run: echo ${{ item }}\n")
    assert doc["jobs"]["s"]["strategy"]["matrix"]["item"] == ["a", "b"]
    assert doc["jobs"]["s"]["strategy"]["max-parallel"] == 1


# -- expressions ----------------------------------------------------------------------------------
CONDS = HEADER + """\
params:
  th: {type: float, default: 0.5}
  name: {type: string, default: x}
  flag: {type: bool, default: true}
steps:
  a:
    run: echo
    outputs: {n: int, s: string, m: metrics, xs: list}
  f:
    foreach: [1, 2]
    run: echo
    outputs: {v: int}
  b:
    if: ${{ COND }}
    run: echo
"""


def cond(tmp_path, expr: str):
    return compile_text(tmp_path, CONDS.replace("COND", expr))


@pytest.mark.parametrize("expr, github", [
    ("steps.a.outputs.n >= 1000", "fromJSON(needs.a.outputs.n) >= 1000"),
    ("steps.a.outputs.m.auc > params.th",
     "fromJSON(needs.a.outputs.m).auc > fromJSON(github.event_name != 'workflow_dispatch' && '0.5' || inputs.th)"),
    ("!params.flag", "!fromJSON(github.event_name != 'workflow_dispatch' && 'true' || inputs.flag)"),
    ("steps.a.outputs.xs[0] == 'it''s'", "fromJSON(needs.a.outputs.xs)[0] == 'it''s'"),
    ("steps.a.outputs.n > -1 && (true || false)", "(fromJSON(needs.a.outputs.n) > -1) && (true || false)"),
    ("run.id != ''", "github.run_id != ''"),
])
def test_translation(tmp_path, expr, github):
    r = cond(tmp_path, expr)
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    assert yaml.safe_load(r.text)["jobs"]["b"]["if"] == "${{ " + github + " }}"


@pytest.mark.parametrize("expr, message", [
    ("steps.a.outputs.n + 1 > 2", "no arithmetic"),
    ("len(steps.a.outputs.xs) > 2", "len() has no GitHub counterpart"),
    ("steps.f.outputs.v[0] > 1", "matrix job's outputs keep only its last leg"),
    ("steps.a.outputs.xs == [1, 2]", "by reference"),
    ("run.date == '2026-01-01'", "run.date"),
])
def test_untranslatable_is_an_error_at_the_expression(tmp_path, expr, message):
    r = cond(tmp_path, expr)
    errs = [d for d in r.diagnostics if d.is_error]
    assert len(errs) == 1 and errs[0].code == "E600" and message in errs[0].message
    assert "step 'b'" in errs[0].message
    line = CONDS.replace("COND", expr).splitlines().index("    if: ${{ " + expr + " }}") + 1
    assert errs[0].span.line == line and errs[0].span.col > 9


def test_string_comparison_warns(tmp_path):
    r = cond(tmp_path, "steps.a.outputs.s == params.name")
    assert r.ok
    (w,) = [d for d in r.diagnostics if d.code == "W600"]
    assert "ignores case" in w.message


def test_translator_units():
    pipe = load_pipeline(str(ROOT / "specs/churn/pipeline.yaml")).pipeline
    tr = GithubTranslator(pipe)
    assert tr.translate(typed_expr("params.rows >= 100")) == \
        "fromJSON(github.event_name != 'workflow_dispatch' && '5000' || inputs.rows) >= 100"
    assert tr.translate(typed_expr("params.registry == 'r'")) == \
        "(github.event_name != 'workflow_dispatch' && 'registry' || inputs.registry) == 'r'"
    with pytest.raises(Unsupported):
        tr.translate(typed_expr("max(1, 2) > 1"))


# -- targets.github options ---------------------------------------------------------------------
SMALL = HEADER + """\
params:
  n: {type: int, default: 1}
steps:
  make:
    run: echo "x=1" >> "$PIPESPEC_OUTPUT"
    outputs: {x: int, data: dataset}
  use:
    run: cat "${{ steps.make.outputs.data }}"
    resources: RES
targets:
  github: TARGET
"""


def small(tmp_path, target="{}", res="{cpu: 1}"):
    return compile_text(tmp_path, SMALL.replace("TARGET", target).replace("RES", res))


def test_artifact_root_and_no_setup(tmp_path):
    r = small(tmp_path, "{setup: false, artifact_root: /srv/pipespec, spec_path: /repo/p.yaml, pipespec: python -m pipespec}")
    doc = yaml.safe_load(r.text)
    assert doc["env"]["PIPESPEC_ARTIFACT_ROOT"] == "/srv/pipespec"
    assert doc["env"]["PIPESPEC_SPEC"] == "/repo/p.yaml"
    for job in doc["jobs"].values():
        assert "permissions" not in job
        assert [s.get("uses") for s in job["steps"]] == [None]       # no remote action at all
        assert job["steps"][0]["run"].startswith('python -m pipespec exec "$PIPESPEC_SPEC"')
        assert '--artifact-root "$PIPESPEC_ARTIFACT_ROOT"' in job["steps"][0]["run"]
    assert doc["jobs"]["use"]["timeout-minutes"] == 360


def test_install_and_python(tmp_path):
    doc = yaml.safe_load(small(tmp_path, "{install: 'pip install -e .[examples]', python: '3.12'}").text)
    steps = doc["jobs"]["make"]["steps"]
    assert steps[1]["with"] == {"python-version": "3.12", "cache": "pip", "cache-dependency-path": "pipeline.yaml"}
    assert steps[2] == {"name": "install pipespec", "run": "pip install -e .[examples]"}


def test_runner_selection(tmp_path):
    runners = "{runners: [{runs_on: big, cpu: 8, memory: 32Gi}, {runs_on: [self-hosted, gpu], gpu: 2}]}"
    doc = yaml.safe_load(small(tmp_path, runners, "{cpu: 4, memory: 8Gi}").text)
    assert doc["jobs"]["use"]["runs-on"] == "big"
    assert doc["jobs"]["make"]["runs-on"] == "big"                 # no request: the first entry fits
    doc = yaml.safe_load(small(tmp_path, runners, "{gpu: 1}").text)
    assert doc["jobs"]["use"]["runs-on"] == ["self-hosted", "gpu"]
    doc = yaml.safe_load(small(tmp_path, "{runs_on: x, gpu_runs_on: g}", "{gpu: 1}").text)
    assert doc["jobs"]["use"]["runs-on"] == "g" and doc["jobs"]["make"]["runs-on"] == "x"


def test_gpu_without_runner_is_an_error(tmp_path):
    r = small(tmp_path, "{}", "{gpu: 1}")
    (e,) = [d for d in r.diagnostics if d.is_error]
    assert e.code == "E600" and "no GitHub runner offers it" in e.message
    r = small(tmp_path, "{gpu_runs_on: g}", "{gpu: 1, accelerator: nvidia-a100}")
    assert [d.code for d in r.diagnostics if d.is_error] == ["E600"]


def test_expression_in_target_text_is_refused(tmp_path):
    r = small(tmp_path, "{install: 'pip install ${{ github.head_ref }}'}")
    assert not r.ok
    assert [d.code for d in r.diagnostics if "targets.github.install" in d.message] == ["E600"]


def test_fail_if_skipped(tmp_path):
    doc = yaml.safe_load(small(tmp_path, "{fail_if_skipped: [use]}").text)
    gate = doc["jobs"]["use-required"]
    assert gate["needs"] == ["use"] and gate["if"] == "${{ always() && needs.use.result == 'skipped' }}"
    assert "exit 1" in gate["steps"][0]["run"]
    r = small(tmp_path, "{fail_if_skipped: [nope]}")
    assert not r.ok


def test_capability_table_and_registry():
    assert backends.get("github") is GithubBackend
    from pipespec.backends.base import FEATURES
    assert set(GithubBackend.capabilities) == set(FEATURES)


def _team_repo(tmp_path, github: str, deps: str = "") -> str:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    (tmp_path / "teams" / "a").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "lib.py").write_text("x = 1\n")
    spec = tmp_path / "teams" / "a" / "pipeline.yaml"
    spec.write_text(f"pipespec: 1\nname: team-a\ntargets:\n  github: {github}\nsteps:\n  s:\n    run: echo s\n{deps}")
    return str(spec)


def test_push_and_pull_request_get_the_paths_of_their_spec(tmp_path, monkeypatch):
    """Issue 16: in a monorepo one team's push must not run every team's workflow."""
    import yaml

    from pipespec.cli import main

    spec = _team_repo(tmp_path, "{push: {branches: [main]}, pull_request: {paths-ignore: ['**.md']}, "
                                "output: ../../.github/workflows/a.yml}",
                      "    deps: [../../shared/lib.py, run.sh]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["compile", spec, "--all"]) == 0
    on = yaml.safe_load((tmp_path / ".github" / "workflows" / "a.yml").read_text())["on"]
    assert on["push"] == {"branches": ["main"], "paths": ["teams/a/**", "shared/lib.py", ".github/workflows/a.yml"]}
    assert on["pull_request"] == {"paths-ignore": ["**.md"]}              # the user's own filter wins
    assert "paths" not in on["workflow_dispatch"]


def test_path_filters_false_and_a_spec_at_the_root_get_none(tmp_path):
    import yaml

    spec = _team_repo(tmp_path, "{push: {branches: [main]}, path_filters: false}")
    on = yaml.safe_load(GithubBackend().compile(load_spec(spec).pipeline, CompileOptions(spec)).text)["on"]
    assert on["push"] == {"branches": ["main"]}
    root = tmp_path / "pipeline.yaml"
    root.write_text("pipespec: 1\nname: r\ntargets:\n  github: {push: {branches: [main]}}\nsteps:\n  s:\n    run: echo s\n")
    on = yaml.safe_load(GithubBackend().compile(load_spec(str(root)).pipeline, CompileOptions(str(root))).text)["on"]
    assert on["push"] == {"branches": ["main"]}


def test_push_and_pull_request_are_checked_at_validate_time(tmp_path):
    """Found: `bogus_key: 1` under push: passed validate and failed GitHub's published schema."""
    spec = _team_repo(tmp_path, "{push: {branches: [main], bogus_key: 1}, pull_request: {types: [opend]}}")
    res = load_spec(spec)
    codes = sorted((d.code, d.span.line) for d in res.diagnostics if d.is_error)
    assert [c for c, _ in codes] == ["E201", "E223"] and all(line == 4 for _, line in codes), res.diagnostics


# -- concurrency and reusable workflows (issue 16 point 6) -------------------------------------
REUSABLE = """\
pipespec: 1
name: team-b
params:
  mode: {type: string, enum: [fast, full], default: fast}
  limit: {type: int, default: 3}
  verbose: {type: bool, default: false}
  label: {type: string}
secrets:
  token: {github: API_TOKEN, env: API_TOKEN}
steps:
  plan:
    run: echo plan
    env: {TOKEN: "${{ secrets.token }}"}
  big:
    if: ${{ params.limit > 2 && params.mode == 'full' }}
    run: echo big
targets:
  github: {workflow_call: true}
"""


def test_default_concurrency_cancels_only_pull_request_runs(tmp_path):
    _, doc = ok_text(tmp_path, HEADER + "steps:\n  a:\n    run: echo a\n")
    assert doc["concurrency"] == {"group": "t-${{ github.ref }}",
                                  "cancel-in-progress": "${{ github.event_name == 'pull_request' }}"}


@pytest.mark.parametrize("option, expected", [
    ("false", None),
    ("{group: deploys, per_ref: false, cancel_in_progress: false}", {"group": "deploys", "cancel-in-progress": False}),
    ("{cancel_in_progress: true}", {"group": "t-${{ github.ref }}", "cancel-in-progress": True}),
])
def test_concurrency_option(tmp_path, option, expected):
    _, doc = ok_text(tmp_path, HEADER + f"targets:\n  github: {{concurrency: {option}}}\nsteps:\n  a:\n    run: echo a\n")
    assert doc.get("concurrency") == expected


def test_concurrency_group_with_an_expression_is_refused(tmp_path):
    r = compile_text(tmp_path, HEADER + "targets:\n  github: {concurrency: {group: 'x-${{ github.actor }}'}}\n"
                                        "steps:\n  a:\n    run: echo a\n")
    assert not r.ok and any("targets.github.concurrency holds '${{'" in d.message for d in r.diagnostics)


def test_concurrency_option_is_checked_at_validate_time(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(HEADER + "targets:\n  github: {concurrency: {cancel_in_progress: sometimes, queue: 1}}\n"
                          "steps:\n  a:\n    run: echo a\n")
    diags = [d for d in load_spec(str(p)).diagnostics if d.is_error]
    assert sorted(d.code for d in diags) == ["E201", "E223"] and all(d.span.line == 4 for d in diags), diags


def test_workflow_call_inputs_are_typed_and_params_read_inputs_alone(tmp_path):
    """The pitfall: in a called workflow github.event_name is the CALLER's event (push, say), so
    the dispatch test that picks a param's default would ignore the inputs the caller passed."""
    text, doc = ok_text(tmp_path, REUSABLE)
    call = doc["on"]["workflow_call"]
    assert call["inputs"] == {
        "mode": {"description": "mode", "required": False, "type": "string", "default": "fast"},
        "limit": {"description": "limit", "required": False, "type": "number", "default": 3},
        "verbose": {"description": "verbose", "required": False, "type": "boolean", "default": False},
        "label": {"description": "label", "required": True, "type": "string"},
    }
    assert call["secrets"] == {"API_TOKEN": {"required": False}}
    assert doc["on"]["workflow_dispatch"]["inputs"]["mode"]["type"] == "choice"     # still dispatchable
    assert doc["env"]["PIPESPEC_PARAMS"] == "${{ toJSON(inputs) }}"
    assert doc["jobs"]["big"]["if"] == "${{ (fromJSON(format('{0}', inputs.limit)) > 2) && (inputs.mode == 'full') }}"
    assert "event_name" not in text.split("concurrency:")[0]


@pytest.mark.parametrize("extra, what", [
    ("schedule: '@daily'\n", "schedule: of the spec"),
    ("", "targets.github.push"),
])
def test_workflow_call_with_triggers_of_its_own_is_refused(tmp_path, extra, what):
    text = REUSABLE.replace("name: team-b\n", "name: team-b\n" + extra)
    if not extra:
        text = text.replace("{workflow_call: true}", "{workflow_call: true, push: {branches: [main]}}")
    r = compile_text(tmp_path, text)
    assert not r.ok
    assert any(d.message.startswith(f"github: targets.github.workflow_call with {what}: in a called workflow "
                                    "github.event_name is the caller's event") for d in r.diagnostics)
