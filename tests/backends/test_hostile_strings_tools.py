"""Hostile text checked by the real tools (tests/tooling): kfp's loader, GitHub's parser +
check-jsonschema + actionlint, Airflow's DagBag. The fast, tool-free properties are in
test_hostile_strings.py; these are a few explicit cases each tool must accept, with the value
arriving intact."""

from __future__ import annotations

import sys

import pytest
from support import ROOT
from test_hostile_strings import BACKENDS, compile_for, pipeline, spec_text

from pipespec.frontend import check_text

sys.path.insert(0, str(ROOT))
from tests.tooling import verify  # noqa: E402

pytestmark = pytest.mark.slow

NASTY = ['a\nb: c\n- d', "x\x85y\u2028z\u2029w", "'''\"\"\" \\ {{ $.inputs }} {% raw %} {# c #}",
         "  lead and trail  ", "#!: # : - ? & * ! | > ' \" % @ `", "\ttab\r\nCRLF\x1b[31m", "日本語 🙂 \ufeff"]
SPEC_PATH = "dir\nevil: 1\x85x\u2028y/spec.yaml"


@pytest.mark.parametrize("step", ["train", "my_model"])
def test_kfp_loads_the_pipeline_when_it_is_named_like_a_step(step, tmp_path):
    name = step.replace("_", "-")
    res = compile_for("kubeflow", pipeline(f"""\
        pipespec: 1
        name: {name}
        params:
          n: {{type: int, default: 1}}
        steps:
          {step}: {{run: echo hi}}
          other: {{run: echo "$N", needs: [{step}], env: {{N: "${{{{ params.n }}}}"}}}}
        """))
    out = tmp_path / "p.yaml"
    out.write_text(res.text, encoding="utf-8")
    rep = verify.kfp_check(out)
    assert rep["ok"], rep["errors"]
    assert rep["pipeline_name"] == name and rep["loaded_inputs"] == ["n"]


def _write_all(v: str, tmp_path, spec_path=SPEC_PATH) -> dict:
    res = check_text(spec_text(v), "spec.yaml")
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    paths = {}
    for target, cls in BACKENDS.items():
        r = compile_for(target, res.pipeline, spec_path=spec_path)
        assert r.ok, [(d.code, d.message) for d in r.diagnostics]
        paths[target] = tmp_path / f"{target}-{len(paths)}{cls.extension}"
        paths[target].write_text(r.text, encoding="utf-8")
    return paths


@pytest.mark.parametrize("i", range(len(NASTY)))
def test_every_tool_accepts_hostile_text_and_keeps_it(i, tmp_path):
    v = NASTY[i]
    paths = _write_all(v, tmp_path)

    rep = verify.kfp_check(paths["kubeflow"])
    assert rep["ok"], rep["errors"]
    assert rep["pipeline_name"] == "hostile"

    rep = verify.github_check(paths["github"])
    assert rep["ok"], rep["errors"]

    rep = verify.airflow_check(paths["airflow"])
    assert rep["ok"], (rep["errors"], rep.get("import_errors"))
    dag = rep["dags"]["hostile"]
    assert dag["params"]["e"]["default"] == v.replace("${{", "$ {{")
    assert v[:100] in dag["tags"]


K8S_SPEC = """pipespec: 1
name: jinja
steps:
  a: {run: echo hi, image: "repo/{{ 7 * 7 }}:1"}
targets:
  airflow: {operator: kubernetes, namespace: "ns-{{ 6 * 7 }}", pipespec: "pipespec-{{3*3}}",
            spec_path: "/app/{{ 2 * 2 }}.yaml"}
"""

RENDER = r"""
import json, os, sys, tempfile
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
t = bag.dags["jinja"].get_task("a")
t.render_template_fields(context={"params": {}})
print(json.dumps({"errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                  "image": t.image, "namespace": t.namespace, "cmds": t.cmds}))
"""


def test_airflow_pods_render_no_spec_text_as_jinja(tmp_path):
    """KubernetesPodOperator renders image, cmds, namespace ... with Jinja before it runs; the
    pipespec operator renders nothing, so a spec's text is never a template."""
    import json
    import subprocess

    from pipespec.backends.airflow import AirflowBackend
    from pipespec.backends.base import CompileOptions

    res = check_text(K8S_SPEC, "jinja.yaml")
    assert res.ok, res.diagnostics
    r = AirflowBackend().compile(res.pipeline, CompileOptions("jinja.yaml"))
    assert r.ok, r.diagnostics
    (tmp_path / "jinja.py").write_text(r.text, encoding="utf-8")
    env_dir = verify.envs.ensure("airflow-k8s", quiet=True)
    p = subprocess.run([str(verify.envs.env_python(env_dir)), "-c", RENDER, str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep["errors"] == {}
    assert rep["image"] == "repo/{{ 7 * 7 }}:1"
    assert rep["namespace"] == "ns-{{ 6 * 7 }}"
    assert rep["cmds"] == ["pipespec-{{3*3}}"]


NO_ESCAPE = """\
name: g
'on':
  workflow_dispatch:
    inputs:
      a:
        description: "d ${{ '${{' }} x"
        type: string
        default: "${{ '${{' }}"
permissions: {}
jobs:
  s:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


def test_github_has_no_escape_for_dollar_brace_in_inputs(tmp_path):
    """Why E600 rather than escaping: under on: GitHub's parser takes no expression at all,
    not even ${{ '${{' }} (which works where expressions are allowed)."""
    wf = tmp_path / "g.yml"
    wf.write_text(NO_ESCAPE, encoding="utf-8")
    rep = verify.github_check(wf, skip=("actionlint", "schema"))
    errors = rep["checkers"]["parser"]["errors"]
    assert not rep["ok"] and any("A template expression is not allowed in this context" in e for e in errors)
    # and unescaped, it is the error of the issue
    wf.write_text(NO_ESCAPE.replace("${{ '${{' }}", "${{ github.actor }}"), encoding="utf-8")
    errors = verify.github_check(wf, skip=("actionlint", "schema"))["checkers"]["parser"]["errors"]
    assert any("Unrecognized named-value: 'github'" in e for e in errors), errors
