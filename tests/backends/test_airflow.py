"""The Airflow backend without Airflow: golden files, determinism, code-injection safety, the
expression translator against the reference evaluator, secrets, the kubernetes operator mode.
The real-Airflow checks (DagBag, `airflow dags test`) are in test_airflow_real.py."""

from __future__ import annotations

import ast
import os
import pathlib

import fastcheck
import pytest

from support import GOLDEN, ROOT, check_golden, example_specs, ok_cases, typed_expr

from pipespec import expr as E
from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.airflow_expr import PythonTranslator, helper_source, py_literal
from pipespec.backends.translate import Unsupported
from pipespec.backends.base import FEATURES, CompileOptions
from pipespec.frontend import check_text, load_spec

def compile_path(path: pathlib.Path, spec_path: str | None = None):
    res = load_spec(str(path))
    assert res.ok, [str(d) for d in res.diagnostics]
    return AirflowBackend().compile(res.pipeline, CompileOptions(spec_path=spec_path or str(path)))


def compile_text(text: str, spec_path: str = "pipeline.yaml"):
    res = check_text(text, spec_path)
    assert res.ok, [f"{d.code} {d.message}" for d in res.diagnostics]
    return AirflowBackend().compile(res.pipeline, CompileOptions(spec_path=spec_path))


def rel(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- golden files ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_golden(spec, update_golden):
    result = compile_path(spec, rel(spec))
    assert result.ok
    check_golden(GOLDEN / "airflow" / f"{spec.parent.name}.py", result.text, update_golden)


def test_golden_files_match_example_specs():
    names = {p.parent.name for p in example_specs()}
    assert {p.stem for p in (GOLDEN / "airflow").glob("*.py")} == names


# -- every spec: valid Python, only Airflow and the standard library, byte-stable -------------
ALL = example_specs() + ok_cases()


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.stem if p.parent.name == "ok" else p.parent.name)
def test_compiles_to_python_importing_only_airflow(spec):
    a, b = compile_path(spec), compile_path(spec)
    assert a.ok and a.text == b.text, "same input must give byte-identical output"
    fastcheck.airflow(a.text)


def test_output_does_not_depend_on_the_output_path():
    spec = ROOT / "specs" / "churn" / "pipeline.yaml"
    res = load_spec(str(spec))
    a = AirflowBackend().compile(res.pipeline, CompileOptions("specs/churn/pipeline.yaml", None))
    b = AirflowBackend().compile(res.pipeline, CompileOptions("specs/churn/pipeline.yaml", "/x/dags/churn.py"))
    assert a.text == b.text


# -- the churn DAG, read as a program ----------------------------------------------------------
def churn():
    return compile_path(ROOT / "specs" / "churn" / "pipeline.yaml", "specs/churn/pipeline.yaml")


def test_churn_structure():
    r = churn()
    text = r.text
    assert "from airflow.sdk import DAG, BaseOperator, Param, Variable\n" in text
    assert "from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator\n" in text
    # helper tasks are classic operators over module-level functions, not TaskFlow calls
    assert "@task" not in text and "import task" not in text
    # every step is an instance of the operator class the file defines (not a TaskFlow call:
    # a classic operator parses in half the time)
    assert "class PipespecStep(BaseOperator):" in text and "run_step" not in text
    assert "    ingest = PipespecStep(\n        task_id=\"ingest\",\n        step=\"ingest\",\n" in text
    assert "schedule=\"0 3 * * *\"" in text and "catchup=False" in text
    assert "'rows': Param(5000" not in text  # strings are double-quoted
    assert '"rows": Param(5000, type="integer", minimum=100, description="Customers to generate")' in text
    assert '"models": Param(["logreg", "forest"], type="array", items={"type": "string"}' in text
    assert '"min_auc": Param(0.75, type="number"' in text
    # the gate: a short-circuit over the evaluate XCom, not skipping finally tasks directly
    assert ("    deploy__if = ShortCircuitOperator(\n        task_id=\"deploy__if\",\n"
            "        python_callable=_deploy__if,\n        ignore_downstream_trigger_rules=False,\n    )\n") in text
    assert "\ndef _deploy__if(**context):\n" in text
    assert "return _pull(ti, \"evaluate\", \"metrics\", \"metrics\", \"auc\") >= params[\"min_auc\"]" in text
    assert "evaluate >> deploy__if" in text
    assert "[evaluate, ingest, prepare, deploy__if] >> deploy" in text
    # foreach: dynamic task mapping over the indexes a helper task computes
    assert "    train = PipespecStep.partial(\n        task_id=\"train\",\n        step=\"train\",\n" in text
    assert "    train__foreach = PythonOperator(task_id=\"train__foreach\", python_callable=_train__foreach)\n" in text
    assert "    ).expand(index=train__foreach.output)\n" in text
    assert "\ndef _train__foreach(**context):\n" in text and "return _items(params[\"models\"])" in text
    # finally: a teardown task (Airflow 3's "runs whatever happened") after every step but the
    # gate; a failed step leaves the run failed (teardowns do not count), and a failed finally
    # step fails the run through the one inert leaf after the teardowns (all_success upstream)
    assert "[ingest, prepare, train__foreach, train, evaluate, deploy, monitor] >> notify" in text
    assert "        finally_step=True,\n    ).as_teardown()\n" in text
    assert '    finally__succeeded = EmptyOperator(task_id="finally__succeeded")\n' in text
    assert "    notify >> finally__succeeded\n" in text
    assert "from airflow.providers.standard.operators.empty import EmptyOperator\n" in text
    assert "run__failed" not in text and "ONE_FAILED" not in text and "ALL_DONE" not in text
    # retries and timeout
    assert "retries=1," in text and "retry_delay=datetime.timedelta(seconds=5.0)" in text
    assert "retry_exponential_backoff=2.0" in text and "max_retry_delay=datetime.timedelta(seconds=3600.0)" in text
    assert "execution_timeout=datetime.timedelta(seconds=1800.0)" in text
    # the secret is a Variable reference read on the worker
    assert "\"notify\": {\"SLACK_WEBHOOK\": [\"variable\", \"slack_webhook\"]}" in text
    # resources cannot be honoured by the python operator: one warning naming every step
    warns = [d for d in r.diagnostics if d.code == "W600"]
    assert len(warns) == 1 and "ingest, prepare, train, evaluate, deploy, monitor, notify" in warns[0].message


def test_exec_arguments_are_built_at_run_time():
    """Run _exec_args of the generated file with a fake context: the pipespec exec contract."""
    ns: dict = {}
    src = churn().text.split("\nclass PipespecStep")[0]  # module constants and plain helpers only
    src = src.replace("from airflow.", "# from airflow.")
    exec(compile(src, "churn_dag", "exec"), ns)

    class Run:
        import datetime
        run_after = datetime.datetime(2026, 11, 26, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-2)))

    params = {p: i for i, p in enumerate(ns["PARAMS"])}
    ctx = {"run_id": "manual__2026-11-26T10:00:00+00:00", "dag_run": Run(), "params": {**params, "extra": 1}}
    os.environ["PIPESPEC_PROJECT_DIR"] = "/srv/proj"
    try:
        args = ns["_exec_args"]("train", ctx, "/tmp/r.json", index=1)
    finally:
        del os.environ["PIPESPEC_PROJECT_DIR"]
    assert args[:4] == ["exec", "/srv/proj/specs/churn/pipeline.yaml", "--step", "train"]
    opt = dict(zip(args[4::2], args[5::2]))
    assert opt["--run-id"] == "manual__2026-11-26T10_00_00_00_00"
    assert opt["--run-date"] == "2026-11-27"           # the UTC day
    assert opt["--artifact-root"] == "/srv/proj/specs/churn/.pipespec/airflow"
    assert opt["--item-index"] == "1" and opt["--result-json"] == "/tmp/r.json"
    import json
    assert json.loads(opt["--params-json"]) == params  # only declared params travel
    assert "--retries-by-executor" not in args        # Airflow retries, not exec


def test_helper_task_functions_read_the_context():
    """The module-level functions of the helper tasks, called as a classic operator calls them:
    with the task's context as keyword arguments."""
    text = churn().text
    src = text.split("\nwith DAG(")[0].replace("from airflow.", "# from airflow.")
    ns: dict = {"BaseOperator": object}
    exec(compile(src, "churn_dag", "exec"), ns)
    ti = FakeTI({"evaluate": [{"values": {}, "metrics": {"metrics": {"auc": 0.8}}}]})
    ctx = {"ti": ti, "params": {"models": ["logreg", "forest", "x"], "min_auc": 0.75}, "run_id": "r", "task": None}
    assert ns["_train__foreach"](**ctx) == [0, 1, 2]
    assert ns["_deploy__if"](**ctx) is True
    assert ns["_deploy__if"](**{**ctx, "params": {"min_auc": 0.9}}) is False
    with pytest.raises(TypeError, match="must give a list"):
        ns["_train__foreach"](**{**ctx, "params": {"models": "logreg"}})
    assert "_run__failed" not in ns


def _step_operator(pipespec: list[str]):
    """PipespecStep of the hello DAG, over a stand-in BaseOperator, running ``pipespec``."""
    text = compile_path(ROOT / "specs" / "hello" / "pipeline.yaml", "specs/hello/pipeline.yaml").text
    src = text.split("\nwith DAG(")[0].replace("from airflow.", "# from airflow.")

    class BaseOperator:
        def __init__(self, *, task_id, **kwargs):
            self.task_id = task_id

    ns: dict = {"BaseOperator": BaseOperator, "__file__": "/srv/dags/hello.py"}
    exec(compile(src, "hello_dag", "exec"), ns)
    ns["PIPESPEC"] = pipespec
    return ns["PipespecStep"]


class _Run:
    import datetime
    run_after = datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)


CONTEXT = {"run_id": "manual__x", "dag_run": _Run(), "params": {"who": "world"}}


def test_step_operator_returns_the_result_json(tmp_path):
    """execute() runs `pipespec exec ... --result-json F` and returns F's content as the XCom."""
    fake = "import json, sys; a = sys.argv; json.dump({'values': {'argv': a[1:]}}, open(a[a.index('--result-json') + 1], 'w'))"
    op = _step_operator([__import__("sys").executable, "-c", fake])(task_id="greet", step="greet", index=2)
    got = op.execute(dict(CONTEXT))
    argv = got["values"]["argv"]
    assert argv[:4] == ["exec", "/srv/dags/specs/hello/pipeline.yaml", "--step", "greet"]
    assert argv[argv.index("--item-index") + 1] == "2"
    failing = _step_operator([__import__("sys").executable, "-c", "raise SystemExit(3)"])(task_id="a", step="a")
    with pytest.raises(RuntimeError, match="exited with status 3"):
        failing.execute(dict(CONTEXT))


def test_stopping_a_step_ends_its_process_group(tmp_path):
    """on_kill (Airflow's SIGTERM handler calls it while execute waits) ends the step and its children."""
    import sys
    import threading
    import time

    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)")
    op = _step_operator([sys.executable, "-c", script])(task_id="slow", step="slow")
    errors = []

    def run():
        try:
            op.execute(dict(CONTEXT))
        except RuntimeError as e:            # the step exited with -SIGTERM: the task fails
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    op.on_kill()
    worker.join(20)
    assert not worker.is_alive() and errors, "execute must return once the step is stopped"
    for _ in range(100):                     # the grandchild got SIGTERM too (reaped by init)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the step's child survived on_kill")
    op.on_kill()                             # a second stop (or one after the end) is harmless


# -- no code injection -------------------------------------------------------------------------
HOSTILE = [
    '"""\nimport os; os.system("touch /tmp/pwned")\n"""',
    "'); __import__('os').system('x') #",
    "\\'\\\"\n\r\t\x0b\x0c\u2028\x85 }} {{ run_id }} {% raw %}",
    "# -*- coding: latin-1 -*-",
]


def hostile_spec(s: str) -> str:
    import json

    q = json.dumps(s)               # a YAML double-quoted scalar is JSON-compatible
    return f"""pipespec: 1
name: hostile
description: {q}
schedule: "@daily"
params:
  p: {{type: string, default: {q}, description: {q}, enum: [{q}, "b"]}}
secrets:
  s: {{description: {q}, airflow: {q}}}
steps:
  a:
    description: {q}
    if: {_expr_str(s)}
    run: echo hi
    env:
      X: ${{{{ secrets.s }}}}
targets:
  airflow: {{tags: [{q}], pipespec: "pipespec --x", artifact_root: {q}, spec_path: {q}}}
"""


def _expr_str(s: str) -> str:
    import json

    inner = "'" + s.replace("'", "''") + "'"
    return json.dumps("${{ params.p == " + inner + " }}")


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_spec_strings_cannot_inject_code(payload):
    res = check_text(hostile_spec(payload), "hostile.yaml")
    if not res.ok:       # some payloads are not valid in every field (e.g. as a secret name)
        pytest.skip("; ".join(d.message for d in res.diagnostics))
    r = AirflowBackend().compile(res.pipeline, CompileOptions("hostile.yaml"))
    assert r.ok
    tree = ast.parse(r.text)
    consts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert payload in consts, "the payload must survive as one string constant"
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "__import__" not in names
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "system" not in attrs
    assert r.text.splitlines()[0].startswith('"""Airflow DAG hostile') or r.text.startswith("'")


# -- the expression translator agrees with the reference evaluator -----------------------------
class FakeTI:
    def __init__(self, xcoms: dict[str, list]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids):
        assert isinstance(task_ids, list), "always pull with a list: a one-instance mapped task gives a bare value"
        return [x for t in task_ids for x in self.xcoms.get(t, [])]


PARAMS = {"n": 3, "f": 0.5, "s": "abc", "b": True, "xs": [1, 2.5, 3], "names": ["a", "b"], "m": {"k": 1},
          "big": 2**62, "huge": 1e308, "long": "x" * 600_000}
RESULTS = {
    "ev": [{"values": {"label": "v1", "ok": True, "count": 2}, "metrics": {"metrics": {"auc": 0.8}}}],
    "tr": [{"values": {"name": "x", "score": 0.5}, "metrics": {"m": {"auc": 0.7}}},
           {"values": {"name": "y", "score": 0.9}, "metrics": {"m": {"auc": 0.6}}}],
}
OUT_TYPES = {("ev", "label"): "string", ("ev", "ok"): "bool", ("ev", "count"): "int", ("ev", "metrics"): "metrics",
             ("tr", "name"): "string", ("tr", "score"): "float", ("tr", "m"): "metrics"}
FAN = {"tr"}
PTYPES = {"n": E.INT, "f": E.FLOAT, "s": E.STRING, "b": E.BOOL, "xs": E.list_of(E.FLOAT),
          "names": E.list_of(E.STRING), "m": E.MAP,
          "big": E.INT, "huge": E.FLOAT, "long": E.STRING}

EXPRESSIONS = [
    "steps.ev.outputs.metrics.auc >= params.f", "params.n > 2 && params.b", "!params.b || params.n == 3",
    "params.n == 3.0", "params.b == true", "params.s == 'abc'", "params.s != 'x'", "params.n + params.f",
    "params.n - 1", "params.n * 2", "params.n / 2", "params.n / 0", "-params.f", "params.s + 'd'",
    "params.xs[1]", "params.xs[5]", "params.names[0] == 'a'", "params.m.k", "params.m.missing",
    "len(params.names)", "join(params.names, '-')", "join(params.xs)", "contains(params.names, 'b')",
    "contains(params.s, 'bc')", "startsWith(params.s, 'a')", "endsWith(params.s, 'c')",
    "format('{0}-{1}', params.n, params.b)", "format('{{x}}{0}', params.f)", "min(params.xs)",
    "max(params.n, params.f)", "max(1, 2)", "round(2.5)", "round(params.f, 1)",
    "steps.tr.outputs.score", "max(steps.tr.outputs.score) > 0.8", "contains(steps.tr.outputs.name, 'y')",
    "steps.tr.outputs.m.auc", "len(steps.tr.outputs.m.auc) == 2", "steps.ev.outputs.ok && steps.ev.outputs.count > 1",
    "startsWith(steps.ev.outputs.label, 'v')", "[1, 2] == [1, 2.0]", "[params.n, 'x']", "params.m == params.m",
    "params.n < params.f", "'a' < 'b'", "run.id", "run.date", "format('{0}', params.m)", "null == null",
    # the bounds of the language, which the DAG's hand-written twins of the helpers had lost
    "params.big * 4", "params.big + params.big", "-params.big - params.big - 1", "params.huge * 10",
    "round(params.huge)", "params.long + params.long", "len(join([params.long, params.long]))",
    "len(format('{0}{0}', params.long))", "params.n - 1 > 1",
]


def _resolve(ref: E.Ref):
    if ref.root == "params":
        return PTYPES[ref.path[0]] if len(ref.path) == 1 else E.ANY
    if ref.root == "run":
        return E.STRING
    step, out = ref.path[0], ref.path[2]
    kind = OUT_TYPES[(step, out)]
    t = E.FLOAT if len(ref.path) > 3 else {"string": E.STRING, "bool": E.BOOL, "int": E.INT,
                                           "float": E.FLOAT, "metrics": E.PATH}[kind]
    return E.list_of(t) if step in FAN else t


def _lookup(ref: E.Ref):
    if ref.root == "params":
        v = PARAMS[ref.path[0]]
        for k in ref.path[1:]:
            v = v[k]
        return v
    if ref.root == "run":
        return {"id": "manual__x_y", "date": "2026-11-27"}[ref.path[0]]
    step, out, rest = ref.path[0], ref.path[2], ref.path[3:]
    got = []
    for r in RESULTS[step]:
        v = r["metrics"][out] if out in r["metrics"] else r["values"][out]
        for k in rest:
            v = v[k]
        got.append(v)
    return got if step in FAN else got[0]


class Run:
    import datetime
    run_after = datetime.datetime(2026, 11, 27, 1, 0, tzinfo=datetime.timezone.utc)


def _run_translated(src: str, helpers: set[str]):
    ns: dict = {m: __import__(m) for m in ("json", "datetime", "re", "os")}   # the DAG's imports
    exec(helper_source(helpers), ns)
    ns["_run_id"] = lambda ctx: "manual__x_y"
    ns["_run_date"] = lambda ctx: ctx["dag_run"].run_after.strftime("%Y-%m-%d")
    ns.update(ti=FakeTI(RESULTS), params=PARAMS, context={"dag_run": Run()})
    return eval(compile(src, "<expr>", "eval"), ns)   # test only: runs our own translation


def _translator():
    return PythonTranslator(lambda s: s in FAN, lambda s, o: OUT_TYPES[(s, o)])


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_translation_matches_evaluator(source):
    expr = typed_expr(source, _resolve)
    tr = _translator()
    src = tr.translate(expr)
    try:
        want = E.evaluate(expr.expr, _lookup)
    except E.EvalError as e:
        # the DAG runs the evaluator's own run-time code: the same problem, in the same words
        with pytest.raises(Exception) as got:
            _run_translated(src, tr.helpers)
        assert type(got.value).__name__ == "_Problem"
        if not e.message.startswith("no value for"):    # not the lookup (the runner's own), the language
            assert got.value.message == e.message
        return
    got = _run_translated(src, tr.helpers)
    assert got == want and type(got) is type(want), (src, got, want)


def test_translation_is_readable_for_typed_operands():
    tr = _translator()
    assert tr.translate(typed_expr("params.n > 2 && params.b", _resolve)) == '(params["n"] > 2) and params["b"]'
    assert tr.translate(typed_expr("params.b == 1", _resolve)) == '_binary("==", params["b"], 1)'   # bool is not a number


def test_untranslatable_reference_is_reported():
    with pytest.raises(Unsupported):
        PythonTranslator(lambda s: False, lambda s, o: "string").translate(typed_expr("env.HOME == 'x'"))


def test_py_literal_round_trips():
    for v in ["", "a'b", 'a"b', "a'\"b", "\\", "\n\u2028\x00", 1, -2.5, 1e300, True, None, [1, ["x"]],
              {"k": [1, {"z": None}]}]:
        assert ast.literal_eval(py_literal(v)) == v
    assert py_literal("plain") == '"plain"'
    assert py_literal(float("inf")) == 'float("inf")'


# -- secrets -----------------------------------------------------------------------------------
def test_connection_secret_is_a_reference_and_masked():
    r = compile_path(ROOT / "tests" / "cases" / "ok" / "secrets_finally.yaml")
    text = r.text
    assert '{"DB_PASSWORD": ["connection", "warehouse"]}' in text
    assert '"SLACK_URL": ["variable", "slack_hook"]' in text
    assert "from airflow.sdk import DAG, BaseOperator, Connection, Variable\n" in text  # no params: no Param
    assert "from airflow.sdk.log import mask_secret" in text and "mask_secret(value, name)" in text
    # run.status of a finally step comes from the states of the other tasks
    assert "status = _run_status(context) if self.finally_step else None" in text


# -- kubernetes operator -----------------------------------------------------------------------
K8S = """pipespec: 1
name: gpu-train
secrets:
  token: {kubernetes: creds/token}
defaults:
  image: python:3.11-slim
  resources: {cpu: 1, memory: 2Gi}
steps:
  prep:
    run: echo prep
    resources: {cpu: 500m, memory: 512Mi}
  fit:
    foreach: [a, b, c]
    parallelism: 2
    run: echo fit
    needs: [prep]
    image: nvcr.io/nvidia/pytorch:24.01-py3
    resources: {cpu: 8, memory: 32Gi, gpu: 1, accelerator: nvidia-tesla-t4}
    env: {TOKEN: "${{ secrets.token }}"}
finally:
  done:
    run: echo "${{ run.status }}"
targets:
  airflow: {operator: kubernetes, namespace: ml, image: ghcr.io/acme/steps:1}
"""


def test_kubernetes_operator():
    r = compile_text(K8S)
    assert r.ok
    text = r.text
    assert "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator" in text
    assert "class PipespecPodOperator(KubernetesPodOperator):" in text
    assert 'requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "512Mi"}' in text
    assert 'limits={"memory": "32Gi", "nvidia.com/gpu": "1"}' in text
    assert 'image="nvcr.io/nvidia/pytorch:24.01-py3"' in text and 'namespace="ml"' in text
    assert 'secrets=[Secret("env", "TOKEN", "creds", "token")]' in text
    assert ".expand(index=[0, 1, 2])" in text and "max_active_tis_per_dagrun=2" in text
    assert "finally_step=True,\n    ).as_teardown()\n" in text and "TriggerRule" not in text
    assert "Variable" not in text           # the pod reads the Kubernetes secret itself
    [w] = [d for d in r.diagnostics if d.code == "W600"]
    assert "accelerator 'nvidia-tesla-t4'" in w.message
    # the python operator would warn about resources, gpu and image instead
    r2 = compile_text(K8S.replace("operator: kubernetes, ", ""))
    msgs = " ".join(d.message for d in r2.diagnostics)
    assert "cpu / memory requests" in msgs and "gpu / accelerator" in msgs and "container image" in msgs


def test_kubernetes_without_image_warns():
    r = compile_path(ROOT / "tests" / "cases" / "ok" / "targets_all.yaml")
    assert r.ok
    assert any(d.code == "W600" and "has no image" in d.message for d in r.diagnostics)
    assert 'PIPESPEC = ["/opt/venv/bin/pipespec"]' in r.text and 'ARTIFACT_ROOT = "s3://bucket/artifacts"' in r.text


def test_capability_table_covers_every_feature():
    for table in (AirflowBackend.capabilities, AirflowBackend.kubernetes_capabilities):
        assert set(table) == set(FEATURES) and all(how for _, how in table.values())
