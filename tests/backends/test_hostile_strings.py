"""Hostile text through every field that reaches compiled output, on every backend (issue 11:
items 7, 9, 10, 11, 18 and the adversarial-strings property).

What is proven, without the real tools (test_hostile_strings_tools.py runs those):

- a spec path with a newline, CR, NEL, LS, PS or a control character never adds a key to the
  GitHub or Kubeflow YAML, nor a statement to the Airflow file: header comments show it escaped;
- a schedule or a name with a trailing newline or surrounding blanks is refused at validate time
  (E207/E204): JSON Schema's ``$`` is the end of the text, not "before a final newline";
- a Kubeflow executor label never equals ``exec-<pipeline name>`` (kfp would load that one
  container instead of the pipeline);
- ``${{`` in a GitHub ``on:`` field (input description, default, option) is refused (E600): GitHub
  allows no expression there, so there is no escape;
- two secrets read from the same environment variable are E410 at validate time;
- Airflow tags over 100 characters are refused at validate time (E224); a NaN or infinite number
  where GitHub needs a number input is E601;
- the property: hypothesis strings in descriptions, defaults, enums, env and with: values, tags,
  foreach items and the spec path compile to an Airflow file that differs from a benign one only
  in string constants, and to YAML that loads back with the same shape, the value intact where
  it belongs and no ``${{`` in any GitHub ``run:``.
"""

from __future__ import annotations

import ast
import json
import math
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from pipespec.backends.airflow import AirflowBackend
from pipespec.backends.base import CompileOptions
from pipespec.backends.github import GithubBackend
from pipespec.backends.kubeflow import KubeflowBackend
from pipespec.frontend import check_text

BACKENDS = {"airflow": AirflowBackend, "kubeflow": KubeflowBackend, "github": GithubBackend}
LINE_BREAKS = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1b"]


def pipeline(text: str):
    res = check_text(textwrap.dedent(text), "spec.yaml")
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    return res.pipeline


def codes(text: str) -> list[str]:
    return [d.code for d in check_text(textwrap.dedent(text), "spec.yaml").diagnostics]


def compile_for(target: str, pipe, spec_path: str = "spec.yaml"):
    return BACKENDS[target]().compile(pipe, CompileOptions(spec_path=spec_path))


def yaml_docs(text: str) -> list:
    return [d for d in yaml.safe_load_all(text) if d is not None]


SIMPLE = """\
    pipespec: 1
    name: simple
    schedule: "@daily"
    params:
      n: {type: int, default: 1}
    steps:
      a:
        run: echo "$N"
        env: {N: "${{ params.n }}"}
    """


# -- item 7: the spec path in headers; schedules and names with blanks ----------------------------
@pytest.mark.parametrize("target", ["github", "kubeflow"])
@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_a_line_break_in_the_spec_path_adds_no_yaml_key(target, brk):
    pipe = pipeline(SIMPLE)
    plain = yaml_docs(compile_for(target, pipe).text)
    res = compile_for(target, pipe, spec_path=f"x{brk}evil: 1{brk}- [a]{brk}/spec.yaml")
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    docs = yaml_docs(res.text)
    assert [sorted(d) for d in docs] == [sorted(d) for d in plain]
    # the header: as many comment lines as without the break (str.splitlines breaks at every one
    # of LINE_BREAKS, as some reader does), each printable, the path shown escaped
    header = [line for line in res.text.splitlines() if line.startswith("#")]
    assert len(header) == len([line for line in compile_for(target, pipe).text.splitlines() if line.startswith("#")])
    assert all(line.isprintable() for line in header) and "evil: 1" in header[0], header[0]


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_a_line_break_in_the_spec_path_is_only_ever_a_string_in_the_airflow_file(brk):
    path = f'x{brk}import os; os.system("id"){brk}"""{brk}/spec.yaml'
    res = compile_for("airflow", pipeline(SIMPLE), spec_path=path)
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    tree = ast.parse(res.text)
    assert shape(tree) == shape(ast.parse(compile_for("airflow", pipeline(SIMPLE)).text))
    assert path in string_constants(tree)                     # SPEC holds it exactly
    doc = ast.get_docstring(tree, clean=False)
    assert "import os" in doc and all(line.isprintable() for line in doc.split("\n")), doc


@pytest.mark.parametrize("schedule", ["|\n      @daily", '"@daily\\n"', '"0 3 * * *\\n"', '" @daily"',
                                      '"@daily "', '"0 3 * * * "', '"\\t0 3 * * *"', '"0 3 * * *\\r"',
                                      '"0 3 * * \\u2028*"', '"${{ x }} 3 * * *"'])
def test_a_schedule_with_blanks_or_a_line_break_is_e207(schedule):
    assert "E207" in codes(SIMPLE.replace('"@daily"', schedule))


@pytest.mark.parametrize("name", ['"simple\\n"', '"simple "', "|\n      simple"])
def test_a_pipeline_name_with_a_trailing_line_break_is_e204(name):
    assert "E204" in codes(SIMPLE.replace("name: simple", f"name: {name}"))


def test_a_step_or_env_name_with_a_trailing_line_break_is_refused():
    assert "E204" in codes(SIMPLE.replace("  a:\n", '  "a\\n":\n'))
    assert codes(SIMPLE.replace("{N: ", '{"N\\n": ')) != codes(SIMPLE)


# -- item 9: kfp loads the pipeline, never a component named like it -----------------------------
@pytest.mark.parametrize("step", ["train", "my_model"])
def test_no_executor_label_is_the_pipelines_own(step):
    name = step.replace("_", "-")
    res = compile_for("kubeflow", pipeline(f"""\
        pipespec: 1
        name: {name}
        steps:
          {step}: {{run: echo hi}}
          other: {{run: echo there, needs: [{step}]}}
        """))
    doc = yaml_docs(res.text)[0]
    # kfp's loader: ComponentSpec.from_ir_dicts takes components['comp-' + name] and
    # Implementation.from_pipeline_spec_dict takes executors['exec-' + name] as THE component
    assert f"comp-{name}" not in doc["components"]
    assert f"exec-{name}" not in doc["deploymentSpec"]["executors"]
    labels = [c["executorLabel"] for c in doc["components"].values() if "executorLabel" in c]
    assert sorted(labels) == sorted(doc["deploymentSpec"]["executors"]) and len(set(labels)) == 2


# -- item 10: ${{ in what GitHub puts under on: -----------------------------------------------------
@pytest.mark.parametrize("param, where", [
    ('{type: string, default: "a ${{ github.token }}"}', "default"),
    ('{type: string, default: a, description: "say ${{ github.actor }}"}', "description"),
    ('{type: string, default: a, enum: [a, "b ${{ github.sha }}"]}', "options"),
    ('{type: list, default: ["${{ secrets.x }}"]}', "default"),
    ('{type: map, default: {k: "${{ 1 }}"}}', "default"),
])
def test_dollar_brace_in_a_github_input_is_refused_at_compile_time(param, where):
    pipe = pipeline(f"""\
        pipespec: 1
        name: g
        params:
          p: {param}
        steps:
          a: {{run: echo "$P", env: {{P: "${{{{ params.p }}}}"}}}}
        """)
    res = compile_for("github", pipe)
    assert not res.ok
    [d] = [d for d in res.diagnostics if d.is_error]
    assert d.code == "E600" and "'${{'" in d.message and where in d.message and "param 'p'" in d.message
    assert d.span.line == 4                    # at the param
    for target in ("airflow", "kubeflow"):     # the other targets carry it as plain text
        assert compile_for(target, pipe).ok


def test_dollar_brace_in_push_or_pull_request_filters_is_refused():
    res = compile_for("github", pipeline("""\
        pipespec: 1
        name: g
        steps:
          a: {run: echo hi}
        targets:
          github:
            push: {branches: ["${{ github.actor }}"]}
        """))
    assert [d.code for d in res.diagnostics if d.is_error] == ["E600"]
    assert "targets.github.push" in res.diagnostics[0].message


# -- item 18: Airflow tags, non-finite numbers on GitHub --------------------------------------------
def test_an_airflow_tag_over_100_characters_is_refused_at_validate_time():
    spec = SIMPLE.rstrip(" ") + "    targets:\n      airflow:\n        tags: [ok, TAG]\n"
    assert codes(spec.replace("TAG", "t" * 100)) == []
    diags = check_text(textwrap.dedent(spec.replace("TAG", "t" * 101)), "spec.yaml").diagnostics
    assert [d.code for d in diags] == ["E224"] and "100" in diags[0].message
    assert diags[0].span.line == 12


@pytest.mark.parametrize("default", [".nan", ".inf", "-.inf"])
def test_a_non_finite_number_input_is_refused_for_github(default):
    try:
        pipe = pipeline(SIMPLE.replace("n: {type: int, default: 1}", f"n: {{type: float, default: {default}}}"))
    except AssertionError:
        pytest.skip("refused at validate time already (number bounds)")
    res = compile_for("github", pipe)
    assert [d.code for d in res.diagnostics if d.is_error] == ["E601"]
    assert "param 'n'" in res.diagnostics[0].message


# -- the property ------------------------------------------------------------------------------------
# every character class a writer could get wrong: quotes, backslashes, line breaks of YAML 1.1 and
# Python, controls (no NUL: refused when read), comment and mapping indicators, every template
# syntax of every target, and non-ASCII text
PIECES = ["'", '"', "\\", "\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\t", "\x0b", "\x1b", "\x7f",
          "#", " #", ": ", "- ", "{{", "}}", "{{$}}", "{{$.inputs.parameters['p']}}", "${{", "$(id)", "`id`",
          "'''", '"""', "{% raw %}", "{# c #}", "%", "&a", "*a", "!!python/object", "---", "...", " ",
          "é", "日本", "🙂", "\ufeff", "\U0001d173", "\xa0", "yes", "0x1F", "1e3", "null", "~"]
HOSTILE = hs.lists(hs.one_of(hs.sampled_from(PIECES), hs.text(min_size=1, max_size=3).filter(
    lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))),
    min_size=1, max_size=6).map("".join)
BENIGN = "plain"


def yaml_quoted(s: str) -> str:
    """``s`` as a YAML double-quoted scalar, every character outside printable ASCII escaped
    (written here independently of yamlout, so the test does not trust the code it checks)."""
    out = []
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def spec_text(v: str) -> str:
    """A spec with ``v`` in every free-text field that reaches output. ``${{`` opens an
    expression in env: and with: values, so there ``v`` is the expression ``${{ '...' }}``; GitHub
    refuses ``${{`` in what it puts under ``on:`` (tested above), so params hold ``plain_for_inputs(v)``,
    as do the literal foreach: list (an expression inside a literal list is E220) and the literal
    env value LOCAL (so that it stays a literal)."""
    q, qp, qt = yaml_quoted(v), yaml_quoted(plain_for_inputs(v)), yaml_quoted(v[:100])
    lit = yaml_quoted("${{ '" + v.replace("'", "''") + "' }}")
    return textwrap.dedent(f"""\
        pipespec: 1
        name: hostile
        description: {q}
        params:
          s: {{type: string, default: {qp}, description: {qp}}}
          e: {{type: string, default: {qp}, enum: [{qp}, "other"]}}
          l: {{type: list, default: [{qp}]}}
        env:
          TOP: {lit}
        steps:
          produce:
            description: {q}
            run: echo "$TOP $S $E $L $LOCAL"
            env:
              LOCAL: {qp}
              LIT: {lit}
              S: "${{{{ params.s }}}}"
              E: "${{{{ params.e }}}}"
              L: "${{{{ params.l }}}}"
            outputs:
              res: {{type: string, description: {q}}}
          consume:
            call: steps:fn
            with:
              text: {lit}
              other: "${{{{ steps.produce.outputs.res }}}}"
          gate:
            if: "${{{{ params.s != 'zzz' && params.e != 'zzz' }}}}"
            run: echo gated
          fan:
            foreach: [{qp}, "second"]
            run: echo "$IT"
            env: {{IT: "${{{{ item }}}}"}}
        secrets:
          tok: {{description: {q}}}
        finally:
          notify:
            description: {q}
            run: echo "$T"
            env: {{T: "${{{{ secrets.tok }}}}"}}
        targets:
          airflow:
            tags: [{qt}, pipespec]
        """)


def plain_for_inputs(v: str) -> str:
    return v.replace("${{", "$ {{")


def shape(node):
    """The AST with every string constant the same: what the code does, not the text it holds."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ("str",)
    if isinstance(node, ast.AST):
        return (type(node).__name__, *((f, shape(getattr(node, f, None))) for f in node._fields))
    if isinstance(node, list):
        return tuple(shape(x) for x in node)
    return node


def string_constants(tree) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def yaml_shape(x):
    if isinstance(x, dict):
        return {k: yaml_shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [yaml_shape(v) for v in x]
    return type(x).__name__


def runs(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "run":
                yield v
            yield from runs(v)
    elif isinstance(x, list):
        for v in x:
            yield from runs(v)


def compiled(v: str, spec_path: str) -> dict[str, str]:
    res = check_text(spec_text(v), "spec.yaml")
    assert res.ok, (repr(v), [(d.code, d.message) for d in res.diagnostics])
    out = {}
    for target in BACKENDS:
        r = compile_for(target, res.pipeline, spec_path=spec_path)
        assert r.ok, (target, repr(v), [(d.code, d.message) for d in r.diagnostics])
        out[target] = r.text
    return out


_BASE: dict[str, str] = {}


def base() -> dict[str, str]:
    if not _BASE:
        _BASE.update(compiled(BENIGN, "spec.yaml"))
    return _BASE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v=HOSTILE, path=hs.one_of(hs.just("spec.yaml"), HOSTILE.map(
    lambda s: s.replace("${{", "$").replace("{{$", "{{ $") + "/spec.yaml")))   # each refused: tested above
def test_hostile_text_stays_data_on_every_backend(v, path):
    out, ref = compiled(v, path), base()
    v_plain = plain_for_inputs(v)

    # Airflow: only string constants differ from the benign file; the values are there exactly
    tree = ast.parse(out["airflow"])
    assert shape(tree) == shape(ast.parse(ref["airflow"]))
    consts = string_constants(tree)
    assert v in consts and path in consts

    # Kubeflow: same shape; the executors are Python with only string constants different
    kfp, kref = yaml_docs(out["kubeflow"]), yaml_docs(ref["kubeflow"])
    assert yaml_shape(kfp) == yaml_shape(kref)
    doc = kfp[0]
    assert doc["pipelineInfo"]["description"] == v
    inputs = doc["root"]["inputDefinitions"]["parameters"]
    assert inputs["e"]["defaultValue"] == v_plain and inputs["l"]["defaultValue"] == [v_plain]
    env = {e["name"]: e["value"] for e in doc["deploymentSpec"]["executors"]["exec-produce"]["container"]["env"]}
    assert env["LOCAL"] == v_plain              # a literal env value; LIT, an expression, is exec's
    for name, ex in doc["deploymentSpec"]["executors"].items():
        code = ex["container"]["command"][-1]
        bcode = kref[0]["deploymentSpec"]["executors"][name]["container"]["command"][-1]
        assert shape(ast.parse(code)) == shape(ast.parse(bcode))

    # GitHub: same shape, the inputs hold the text, no expression in any run:
    gh, gref = yaml_docs(out["github"]), yaml_docs(ref["github"])
    assert yaml_shape(gh) == yaml_shape(gref)
    inputs = gh[0]["on"]["workflow_dispatch"]["inputs"]
    assert inputs["e"]["default"] == v_plain and v_plain in inputs["e"]["options"]
    for run in runs(gh[0]):
        assert "${{" not in run
    for text in out.values():
        for line in text.split("\n")[:2]:
            assert line.isprintable(), repr(line)


def test_schema_patterns_use_dollar_only_as_their_end():
    """python_regex turns a final '$' into '\\Z'; that is exact only if no other '$' is an anchor."""
    from pipespec.schema import schema

    found = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("pattern"), str):
                found.append(x["pattern"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(schema())
    assert len(found) > 5
    for p in found:
        assert "$" not in p[:-1], p


# -- Kubeflow placeholders ---------------------------------------------------------------------------
@pytest.mark.parametrize("where, text", [
    ("spec", None), ("image", "ghcr.io/x:{{$.inputs.parameters['tag']}}"),
    ("install", "pip install {{$.pipeline_job_name}}")])
def test_a_kfp_placeholder_in_a_container_string_is_refused(where, text):
    spec = SIMPLE.rstrip(" ")
    if where == "image":
        spec += f'    defaults: {{image: "{text}"}}\n'
    if where == "install":
        spec += f'    targets: {{kubeflow: {{install: "{text}"}}}}\n'
    path = "specs/{{$.pipeline_job_name}}.yaml" if where == "spec" else "spec.yaml"
    res = compile_for("kubeflow", pipeline(spec), spec_path=path)
    assert [d.code for d in res.diagnostics if d.is_error] == ["E600"], res.diagnostics
    assert "'{{$'" in [d for d in res.diagnostics if d.is_error][0].message
    assert compile_for("kubeflow", pipeline(spec.replace("{{$", "{{ $")), spec_path=path.replace("{{$", "{{ $")).ok


def test_dollar_brace_in_the_spec_path_is_refused_for_github_naming_the_path():
    res = compile_for("github", pipeline(SIMPLE), spec_path="${{ github.token }}/spec.yaml")
    [d] = [d for d in res.diagnostics if d.is_error]
    assert d.code == "E600" and d.message.startswith("github: the spec path holds '${{'")


@pytest.mark.parametrize("key, value, code", [("timeout", '"\\u0661\\u0662s"', "E205"),
                                             ("timeout", '"5m\\n"', "E205"),
                                             ("resources", '{memory: "\\u0661Gi"}', "E206")])
def test_schema_digits_are_ascii_as_in_json_schema(key, value, code):
    """ECMA-262's \\d is [0-9]; Python's matched any Unicode digit, and int() then read '١٢' as 12."""
    assert code in codes(SIMPLE.replace('        run: echo "$N"\n', f'        run: echo "$N"\n        {key}: {value}\n'))
