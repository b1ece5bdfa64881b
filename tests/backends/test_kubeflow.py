"""Kubeflow backend: golden files, structure of the emitted pipeline spec, CEL, refusals.

Fast tests only; the real kfp SDK, cel-python and kfp.local run in test_kubeflow_tools.py.
"""

from __future__ import annotations

import textwrap

import fastcheck
import pytest
import yaml
from support import GOLDEN, ROOT, check_golden, example_specs, ok_cases, typed_expr

from pipespec import expr as E
from pipespec.backends.base import CompileOptions
from pipespec.backends.kubeflow import KubeflowBackend, kfp_cron
from pipespec.backends.kubeflow_cel import CelTranslator, cel_literal, cel_string
from pipespec.backends.translate import Unsupported
from pipespec.backends.kubeflow_task import _run_ids, from_kfp, write_parameter
from pipespec.frontend import check_text, load_spec


def compile_path(path, spec_path=None):
    pipe = load_spec(str(path)).pipeline
    rel = spec_path or str(path.relative_to(ROOT))
    return KubeflowBackend().compile(pipe, CompileOptions(spec_path=rel))


def compile_text(text: str):
    res = check_text(textwrap.dedent(text), "spec.yaml")
    assert res.ok, [d.message for d in res.diagnostics]
    return KubeflowBackend().compile(res.pipeline, CompileOptions(spec_path="spec.yaml"))


def docs(result):
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    out = list(yaml.safe_load_all(result.text))
    return out + [None] * (2 - len(out))         # (pipeline spec, platform spec or None)


def tasks_of(doc, comp=None):
    return (doc["root"] if comp is None else doc["components"][comp])["dag"]["tasks"]


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_golden(spec, update_golden):
    res = compile_path(spec)
    assert res.ok, [d.message for d in res.diagnostics]
    check_golden(GOLDEN / "kubeflow" / f"{spec.parent.name}.yaml", res.text, update_golden)


@pytest.mark.parametrize("spec", example_specs() + ok_cases(), ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_every_valid_spec_compiles_byte_identically(spec):
    a, b = compile_path(spec), compile_path(spec)
    assert a.ok, [f"{d.code} {d.message}" for d in a.diagnostics]
    assert a.text == b.text
    fastcheck.kubeflow(a.text)


@pytest.mark.parametrize("spec", example_specs() + ok_cases(), ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_text_loads_back_to_the_data_built(spec):
    from pipespec.backends.kubeflow_dag import Builder

    pipe = load_spec(str(spec)).pipeline
    opts = CompileOptions(spec_path=str(spec.relative_to(ROOT)))
    doc, platform = Builder(KubeflowBackend(), pipe, opts).build()
    text = KubeflowBackend().compile(pipe, opts).text
    assert list(yaml.safe_load_all(text)) == [doc] + ([platform] if platform else [])


def test_churn_structure():
    doc, platform = docs(compile_path(ROOT / "specs/churn/pipeline.yaml"))
    root = tasks_of(doc)
    # finally: an exit handler around every other step, notify as its exit task
    # and the example's notify:/metrics:/tracking: a start task before the handler, a finish exit task
    assert set(root) == {"exit-handler", "notify", "pipespec--start", "pipespec--finish"}
    assert root["exit-handler"]["dependentTasks"] == ["pipespec--start"]
    assert root["pipespec--finish"]["dependentTasks"] == ["exit-handler"]
    notify = root["notify"]
    assert notify["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert notify["dependentTasks"] == ["exit-handler"]
    assert notify["inputs"]["parameters"]["run__status"] == {"taskFinalStatus": {"producerTask": "exit-handler"}}
    main = tasks_of(doc, "comp-exit-handler")
    assert set(main) == {"ingest", "prepare", "for-loop-train", "evaluate", "condition-deploy"}
    # if: a condition group holding deploy AND monitor (needs: deploy), CEL over its own inputs
    cond = main["condition-deploy"]
    assert cond["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--evaluate--metrics__metrics']['auc'] >= "
        "inputs.parameter_values['pipelinechannel--min_auc']")
    assert cond["inputs"]["parameters"]["pipelinechannel--evaluate--metrics__metrics"] == {
        "taskOutputParameter": {"producerTask": "evaluate", "outputParameterKey": "metrics__metrics"}}
    assert cond["dependentTasks"] == ["evaluate", "ingest", "prepare"]
    assert set(tasks_of(doc, "comp-condition-deploy")) == {"deploy", "monitor"}
    # the metrics object is also a Struct output of evaluate, for the condition
    ev = doc["components"]["comp-evaluate"]
    assert ev["outputDefinitions"]["parameters"]["metrics__metrics"] == {"parameterType": "STRUCT"}
    assert ev["outputDefinitions"]["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    # foreach: a parameterIterator over the list parameter; fan-in of the model artifacts
    loop = main["for-loop-train"]
    assert loop["parameterIterator"] == {"itemInput": "pipelinechannel--train-loop-item",
                                         "items": {"inputParameter": "pipelinechannel--models"}}
    loop_comp = doc["components"]["comp-for-loop-train"]
    assert loop_comp["outputDefinitions"]["artifacts"]["model"]["isArtifactList"] is True
    assert loop_comp["dag"]["outputs"]["artifacts"]["model"] == {
        "artifactSelectors": [{"producerSubtask": "train", "outputArtifactKey": "model"}]}
    assert main["evaluate"]["inputs"]["artifacts"]["steps__train__model"] == {
        "taskOutputArtifact": {"producerTask": "for-loop-train", "outputArtifactKey": "model"}}
    assert ev["inputDefinitions"]["artifacts"]["steps__train__model"]["isArtifactList"] is True
    # retries, cache, resources, timeout, secrets
    train = tasks_of(doc, "comp-for-loop-train")["train"]
    assert train["retryPolicy"] == {"maxRetryCount": 1, "backoffDuration": "5s", "backoffFactor": 2.0,
                                    "backoffMaxDuration": "3600s"}
    assert train["cachingOptions"] == {"enableCache": True}
    assert tasks_of(doc, "comp-condition-deploy")["deploy"]["cachingOptions"] == {"enableCache": True}
    assert doc["root"]["dag"]["tasks"]["notify"]["cachingOptions"] == {}      # cache: false
    res = doc["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert res == {"cpuRequest": 2.0, "resourceCpuRequest": "2", "memoryRequest": 4.294967296,
                   "resourceMemoryRequest": "4Gi"}
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert k8s["exec-train"] == {"activeDeadlineSeconds": "1800"}
    assert k8s["exec-notify"]["secretAsEnv"] == [
        {"secretName": "pipespec-secrets", "keyToEnv": [{"secretKey": "slack-webhook", "envVar": "SLACK_WEBHOOK"}]}]
    # params: types and defaults as the SDK writes them (numbers as doubles)
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert params["rows"]["parameterType"] == "NUMBER_INTEGER" and params["rows"]["defaultValue"] == 5000.0
    assert params["models"] == {"parameterType": "LIST", "defaultValue": ["logreg", "forest"], "isOptional": True,
                                "description": "Model kinds to train: logreg, forest"}


def test_secret_value_never_emitted_and_env_literal_only():
    res = compile_text("""
        pipespec: 1
        name: sec
        params: {who: {type: string, default: w}}
        secrets: {token: {description: t}}
        steps:
          a:
            run: echo hi
            env:
              PLAIN: "x"
              TOKEN: ${{ secrets.token }}
              WHO: ${{ params.who }}
        """)
    doc, platform = docs(res)
    env = doc["deploymentSpec"]["executors"]["exec-a"]["container"]["env"]
    assert env == [{"name": "PLAIN", "value": "x"}]       # expressions are evaluated by pipespec exec
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-a"]["secretAsEnv"] == [
        {"secretName": "pipespec-secrets", "keyToEnv": [{"secretKey": "token", "envVar": "TOKEN"}]}]


def test_executor_is_a_lightweight_python_component_calling_pipespec():
    doc, _ = docs(compile_path(ROOT / "specs/sweep/pipeline.yaml"))
    c = doc["deploymentSpec"]["executors"]["exec-fit"]["container"]
    # the default installs pinned pipespec and kfp first (sh -c INSTALL && "$0" "$@"), then
    # kfp's own bootstrap runs the function: test_worker_install.py has the install line
    assert c["command"][:2] == ["sh", "-c"] and c["command"][2].endswith('&& "$0" "$@"')
    assert c["command"][3:5] == ["sh", "-ec"] and "kfp.dsl.executor_main" in c["command"][5]
    code = c["command"][6]
    compile(code, "fit", "exec")
    assert "def pipespec_fit(" in code and "foreach__item: float = None" in code
    assert "steps__make_data__data: Input[Dataset] = None" in code
    assert "metrics: Output[Metrics] = None" in code and "score: OutputPath(float) = None" in code
    assert "run_task('specs/sweep/pipeline.yaml', 'fit', 'sha256:" in code
    assert c["args"] == ["--executor_input", "{{$}}", "--function_to_execute", "pipespec_fit",
                         "--pipespec-run-id", "{{$.pipeline_job_uuid}}"]


def test_spec_path_install_image_and_pipeline_root_from_targets():
    doc, _ = docs(compile_text("""
        pipespec: 1
        name: t
        targets:
          kubeflow: {spec_path: /app/p.yaml, install: pip install pipespec, image: reg/img:1,
                     pipeline_root: "s3://bucket/root"}
        steps:
          a: {run: echo hi}
          b: {run: echo hi, image: "alpine:3"}
        """))
    ex = doc["deploymentSpec"]["executors"]
    assert ex["exec-a"]["container"]["image"] == "reg/img:1"
    assert ex["exec-b"]["container"]["image"] == "alpine:3"
    assert ex["exec-a"]["container"]["command"][:3] == ["sh", "-c", 'pip install pipespec && "$0" "$@"']
    assert "run_task('/app/p.yaml', 'a'," in ex["exec-a"]["container"]["command"][-1]
    assert doc["defaultPipelineRoot"] == "s3://bucket/root"


def test_unused_pipespec_command_setting_is_a_warning_not_a_silent_drop():
    res = compile_text("""
        pipespec: 1
        name: t
        targets: {kubeflow: {pipespec: /opt/bin/pipespec}}
        steps:
          a: {run: echo hi}
        """)
    assert res.ok
    assert any(d.code == "W600" and "targets.kubeflow.pipespec is not used" in d.message for d in res.diagnostics)


def test_pipeline_name_never_collides_with_a_component():
    doc, _ = docs(compile_text("""
        pipespec: 1
        name: train
        steps:
          train: {run: echo hi}
        """))
    assert "comp-train" not in doc["components"]
    assert tasks_of(doc)["train"]["componentRef"]["name"] == "comp-train-2"


def test_literal_foreach_parallelism_and_enum_literals():
    doc, _ = docs(compile_text("""
        pipespec: 1
        name: t
        params: {mode: {type: string, enum: [a, b], default: a}}
        steps:
          s:
            foreach: [1, 2, 3]
            parallelism: 2
            run: echo ${{ item }} ${{ params.mode }}
        """))
    loop = tasks_of(doc)["for-loop-s"]
    assert loop["parameterIterator"]["items"] == {"raw": "[1,2,3]"}
    assert loop["iteratorPolicy"] == {"parallelismLimit": 2}
    assert tasks_of(doc, "comp-for-loop-s")["s"]["inputs"]["parameters"]["foreach__items"] == {
        "runtimeValue": {"constant": [1.0, 2.0, 3.0]}}
    assert doc["root"]["inputDefinitions"]["parameters"]["mode"]["literals"] == ["a", "b"]


def test_independent_conditions_get_one_group_testing_both():
    doc, _ = docs(compile_path(ROOT / "tests/cases/ok/conditions.yaml"))
    root = tasks_of(doc)
    after = root["condition-after"]
    assert after["dependentTasks"] == ["condition-announce", "condition-deploy"]
    cond = after["triggerPolicy"]["condition"]
    assert cond.startswith("(inputs.parameter_values['pipelinechannel--evaluate--ready'] && ")
    assert " && ((inputs.parameter_values['pipelinechannel--evaluate--metrics__metrics']['auc']" in cond
    assert root["condition-always"]["triggerPolicy"] == {"condition": "true"}


# -- refusals and warnings: through unsupported(), naming the step -------------------------------------
def _codes(res):
    return [(d.code, d.message) for d in res.diagnostics]


def test_untranslatable_condition_is_an_error_at_the_function():
    res = compile_text("""
        pipespec: 1
        name: t
        params: {names: {type: list, items: string, default: [a]}}
        steps:
          s:
            if: ${{ join(params.names, ',') == 'a' }}
            run: echo hi
        """)
    assert not res.ok
    (d,) = [d for d in res.diagnostics if d.code == "E600"]
    assert "kubeflow: if: of step 's': join() cannot be translated to CEL" in d.message
    assert d.span.line == 7 and d.span.col == len("    if: ${{ ") + 1


def test_run_id_in_condition_is_refused():
    res = compile_text("""
        pipespec: 1
        name: t
        steps:
          s:
            if: ${{ run.id != '' }}
            run: echo hi
        """)
    assert any(c == "E600" and "run.id is not known to a KFP condition" in m for c, m in _codes(res))


def test_foreach_over_a_computed_list_is_refused():
    res = compile_text("""
        pipespec: 1
        name: t
        params: {a: {type: list, items: int, default: [1]}}
        steps:
          s:
            foreach: ${{ [params.a[0], 2] }}
            run: echo ${{ item }}
        """)
    assert any(c == "E600" and "foreach: of step 's'" in m for c, m in _codes(res))


def test_data_out_of_an_independent_condition_group_is_refused():
    res = compile_text("""
        pipespec: 1
        name: t
        params: {x: {type: bool, default: true}}
        steps:
          a: {if: "${{ params.x }}", run: echo a, outputs: {v: string}}
          b: {if: "${{ !params.x }}", run: echo b}
          c: {needs: [b], run: "echo ${{ steps.a.outputs.v }}"}
        """)
    assert any(c == "E600" and "output 'v' of step 'a' is read outside" in m for c, m in _codes(res))


def test_warnings_for_schedule_deps_and_bounds():
    res = compile_path(ROOT / "specs/churn/pipeline.yaml")
    msgs = [d.message for d in res.diagnostics if d.code == "W600"]
    assert any("cron / preset schedule is emulated" in m for m in msgs)
    assert any("deps: of step 'ingest'" in m for m in msgs)
    assert any("param 'rows'" in m for m in msgs)
    assert "cron_expression='0 0 3 * * *'" in res.text
    assert kfp_cron("@daily") == "@daily"


# -- CEL ----------------------------------------------------------------------------------------------
def _cel(src: str, resolve=None, ref=lambda tr, r: f"<{r.dotted}>") -> str:
    return CelTranslator(ref).translate(typed_expr(src, resolve))


def test_cel_numbers_are_doubles_and_negation_is_parenthesised():
    assert _cel("params.n > 2") == "<params.n> > 2.0"
    assert _cel("!(params.a && params.b)") == "!(<params.a> && <params.b>)"
    assert _cel("!params.a") == "!(<params.a>)"
    assert _cel("params.a / 2 >= 1.5") == "(<params.a> / 2.0) >= 1.5"
    assert _cel("params.l[0] == 'x'") == "<params.l>[0] == 'x'"
    assert _cel("len(params.l) > 0") == "size(<params.l>) > 0.0"


def test_cel_strings_are_escaped_for_cel_and_python_alike():
    assert cel_string("it's a \\ test\n") == r"'it\'s a \\ test\n'"
    assert cel_literal([1, "a", True, None]) == "[1.0, 'a', true, null]"


def test_cel_contains_depends_on_the_type():
    src = "contains(params.l, 'a')"
    assert _cel(src, lambda r: E.list_of(E.STRING), lambda tr, r: "L") == "'a' in L"
    assert _cel(src, lambda r: E.STRING, lambda tr, r: "S") == "S.contains('a')"
    with pytest.raises(Unsupported):
        _cel(src, ref=lambda tr, r: "X")


@pytest.mark.parametrize("fn", ["join(params.l, ',')", "format('{0}', 1)", "min(1, 2)", "max(1, 2)", "round(1.5)"])
def test_cel_refuses_functions_it_does_not_have(fn):
    with pytest.raises(Unsupported):
        _cel(fn + " == 1")


# -- inside the task -----------------------------------------------------------------------------------
def test_values_come_back_to_their_declared_types():
    assert from_kfp("int", E.INT, 5000.0) == 5000 and isinstance(from_kfp("int", E.INT, 5000.0), int)
    assert from_kfp("float", E.FLOAT, 1) == 1.0 and isinstance(from_kfp("float", E.FLOAT, 1), float)
    assert from_kfp("list", E.list_of(E.INT), [1.0, 2.0]) == [1, 2]
    assert from_kfp("string", E.STRING, "x") == "x"


def test_output_parameters_are_written_as_kfp_reads_them(tmp_path):
    for typ, value, text in [("string", "a b", "a b"), ("int", 3, "3"), ("bool", True, "true"),
                             ("list", [1, "a"], '[1, "a"]'), ("map", {"k": 1.5}, '{"k": 1.5}')]:
        p = tmp_path / typ
        write_parameter(str(p), typ, value)
        assert p.read_text() == text


def test_run_id_from_the_placeholder_argument():
    rid, date = _run_ids(["x", "--pipespec-run-id", "abc-123"])
    assert rid == "abc-123" and len(date) == 10
    rid, _ = _run_ids(["x", "--pipespec-run-id", "{{$.pipeline_job_uuid}}"])   # not substituted
    assert rid.startswith("kfp-")


def test_keyword_output_is_a_diagnostic_not_a_crash():
    """Found writing docs/diagnostics.md: the executor was still generated after E601 and
    compile() of the function raised SyntaxError."""
    res = compile_text("""
        pipespec: 1
        name: t
        steps:
          a:
            run: echo "class=x" >> "$PIPESPEC_OUTPUT"
            outputs: {class: string}
        """)
    assert not res.ok and res.text is None
    assert [c for c, _ in _codes(res)] == ["E601"]
