"""Properties over generated specs (issue 11, "And prove it stays fixed"), extending
test_frontend_properties.py: rich valid specs (every feature, unicode text where the language
allows it, deep chains and fan-outs) compile on every backend to output that passes each
target's fast check; mutated specs (keys dropped, types swapped, references broken, cycles,
corrupted expressions, truncated text, hostile scalars) never make ``validate`` raise, exit 0
or 1, and every diagnostic points inside the file.

The real target parsers (kfp's protobuf, actionlint) run in the slow tests; here Airflow's
output goes through ``compile()`` + ``ast`` and the YAML targets through a YAML load and a
structure check."""

from __future__ import annotations

import ast
import contextlib
import io

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipespec.backends import get
from pipespec.backends.base import CompileOptions
from pipespec.cli import main
from pipespec.frontend import check_text
from pipespec.loader import YAML_LINE_BREAK
from pipespec.loader import resolve_plain

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,3})?", fullmatch=True)
# text where any character is fine: descriptions, defaults, commands (no control characters)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
INT64 = st.integers(-2**63, 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def rich_specs(draw):
    """A valid spec using most of the language."""
    params = {
        "a": {"type": "int", "default": draw(st.integers(0, 9)), "minimum": 0,
              "description": draw(TEXT)},
        "big": {"type": "int", "default": draw(INT64)},
        "f": {"type": "float", "default": draw(FLOATS)},
        "s": {"type": "string", "default": draw(TEXT)},
        "e": {"type": "string", "enum": ["x", "é", "y z"], "default": "é"},
        "flag": {"type": "bool", "default": draw(st.booleans())},
        "l": {"type": "list", "items": "string", "default": draw(st.lists(TEXT, min_size=1, max_size=3))},
        "m": {"type": "map", "default": {"k": draw(TEXT)}},
        "p": {"type": "path", "default": "data/ü.csv"},
    }
    secrets = {"tok": {"description": draw(TEXT)}}
    n = draw(st.integers(1, 12))
    steps: dict = {}
    fanned: set[int] = set()
    for i in range(n):
        kind = draw(st.sampled_from(["shell", "argv", "call"]))
        s: dict = {"description": draw(TEXT), "outputs": {"o": "string", "m": "metrics", "d": "dataset"}}
        if kind == "shell":
            s["run"] = f"echo {i} ${{{{ params.a }}}} ${{{{ params.s }}}}"
        elif kind == "argv":
            s["run"] = ["echo", draw(TEXT) or "x", "${{ params.f }}", "${{ format('{0}-{1}', params.a, params.e) }}"]
        else:
            s["call"] = f"mod{i}:fn_{i}"
            s["with"] = {"x": "${{ params.m }}", "flag": "${{ params.flag }}", "p": "${{ params.p }}"}
        if i:
            j = draw(st.integers(max(0, i - 3), i - 1))      # deep chains as well as fan-outs
            ref = f"${{{{ steps.s{j}.outputs.o }}}}"
            if kind == "call":
                s["with"]["up"] = ref
                s["with"]["data"] = f"${{{{ steps.s{j}.outputs.d }}}}"
            else:
                s["env"] = {"X": ref}
            if j not in fanned and draw(st.booleans()):
                s["if"] = f"${{{{ steps.s{j}.outputs.m.auc >= {draw(st.integers(0, 3))} && params.flag }}}}"
                s["needs"] = [f"s{j}"]
        if draw(st.booleans()):
            fanned.add(i)
            s["foreach"] = "${{ params.l }}"
            if kind == "call":
                s["with"]["item"] = "${{ item }}"
            else:
                s["env"] = {**s.get("env", {}), "I": "${{ item }}"}
            s["parallelism"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            s["env"] = {**s.get("env", {}), "TOKEN": "${{ secrets.tok }}"}
        if draw(st.booleans()):
            s["retries"] = draw(st.one_of(st.integers(0, 5), st.builds(
                lambda lim, d, b: {"limit": lim, "delay": d, "backoff": b},
                st.integers(0, 5), st.sampled_from(["5s", "1m", 30]), st.floats(1, 100))))
        if draw(st.booleans()):
            s["timeout"] = draw(st.sampled_from(["30s", "1h30m", 600, "2d"]))
        if draw(st.booleans()):
            s["resources"] = {"cpu": draw(st.sampled_from([1, 0.5, "500m"])), "memory": draw(st.sampled_from(["512Mi", "4Gi", 1000000]))}
        if draw(st.booleans()):
            s["cache"] = False
        steps[f"s{i}"] = s
    return {"pipespec": 1, "name": "gen-spec", "description": draw(TEXT), "params": params, "secrets": secrets,
            "env": {"GLOBAL": "${{ params.s }}"},
            "defaults": {"timeout": "1h", "retries": {"limit": 1, "delay": "5s"}},
            "steps": steps,
            "finally": {"fin": {"run": "echo ${{ run.status }} ${{ run.id }}", "env": {"T": "${{ secrets.tok }}"}}}}


class _Dumper(yaml.SafeDumper):
    """PyYAML writes YAML 1.1: a string such as '0E0' goes out unquoted, and YAML 1.2 (what
    pipespec reads) makes it a float. Quote every string the 1.2 core schema would not keep."""


def _str(dumper, value):
    style = '"' if not isinstance(resolve_plain(value), str) or value != value.strip() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc, flow: bool = False) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6,
                     default_flow_style=flow)


def _check_airflow(text: str) -> None:
    compile(text, "dag.py", "exec")
    tree = ast.parse(text)
    assert any(isinstance(n, ast.With) for n in ast.walk(tree)) or "DAG(" in text


def _check_kubeflow(text: str) -> None:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    spec = docs[0]
    assert isinstance(spec, dict)
    for key in ("pipelineInfo", "root", "components", "deploymentSpec", "schemaVersion"):
        assert key in spec, key
    assert spec["root"]["dag"]["tasks"]
    executors = spec["deploymentSpec"]["executors"]
    for comp in spec["components"].values():
        if "executorLabel" in comp:
            assert comp["executorLabel"] in executors


def _check_github(text: str) -> None:
    wf = yaml.safe_load(text)
    assert isinstance(wf, dict) and "jobs" in wf and "on" in wf
    for job_id, job in wf["jobs"].items():
        assert isinstance(job.get("steps"), list) and job["steps"], job_id
        for need in job.get("needs", []):
            assert need in wf["jobs"], need


CHECKERS = {"airflow": _check_airflow, "kubeflow": _check_kubeflow, "github": _check_github}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rich_specs())
def test_every_valid_spec_compiles_on_every_backend_to_checked_output(doc):
    text = _dump(doc)
    res = check_text(text, "gen.yaml")
    assert res.ok, [(d.code, d.message) for d in res.diagnostics if d.is_error]
    for target, checker in CHECKERS.items():
        out = get(target)().compile(res.pipeline, CompileOptions("gen.yaml"))
        assert out.ok, (target, [(d.code, d.message) for d in out.diagnostics if d.is_error])
        checker(out.text)


# -- mutations --------------------------------------------------------------------------------

def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


HOSTILE = st.sampled_from([
    None, True, 0, -1, 2**63, -2**63 - 1, 1e308, float("inf"), float("nan"), "", "${{", "}}", "${{ }}",
    "${{ steps.nope.outputs.x }}", "${{ params.zz }}", "${{ secrets.none }}", "${{ item }}",
    "${{ 1 + }}", "${{ format('{0}{0}', 'x') }}", "${{ run.status }}", "a\x00b", "\x1b[31m", "é" * 50,
    [], {}, [1, [2, [3]]], {"type": "int"}, "99999999999999999999999d", "1e400", "0x" + "f" * 40,
    "'", '"', "\\", "\n", "---", "&a", "*a", "!!python/object:os.system", "<<",
])


@st.composite
def mutated(draw):
    doc = draw(rich_specs())
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        how = draw(st.sampled_from(["drop", "swap", "rename", "cycle", "expr", "hostile"]))
        if how == "drop":
            del parent[key]
        elif how == "swap":
            v = parent[key]
            parent[key] = {"was": v} if not isinstance(v, dict) else [v]
        elif how == "rename" and isinstance(parent, dict):
            parent[draw(NAMES) + "_x"] = parent.pop(key)
        elif how == "cycle" and "steps" in doc and isinstance(doc["steps"], dict) and doc["steps"]:
            names = list(doc["steps"])
            a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            if isinstance(doc["steps"][a], dict):
                doc["steps"][a]["needs"] = [b]
                if isinstance(doc["steps"].get(b), dict):
                    doc["steps"][b]["needs"] = [a]
        elif how == "expr" and isinstance(parent[key], str) and "${{" in parent[key]:
            s = parent[key]
            i = draw(st.integers(0, len(s)))
            parent[key] = s[:i] + draw(st.sampled_from(["(", ")", "'", "[", "}}", "${{", "&&", ".", "\\", ""])) + s[i:]
        else:
            parent[key] = draw(HOSTILE)
    text = _dump(doc, flow=draw(st.booleans()))
    if draw(st.booleans()):
        text = text[:draw(st.integers(0, len(text)))]              # truncated
    return text


def _inside(text: str, line: int, col: int) -> bool:
    lines = YAML_LINE_BREAK.split(text)       # lines as YAML counts them (\r, \u2028 too)
    return 1 <= line <= max(1, len(lines)) and 1 <= col <= len(lines[line - 1]) + 1 if line <= len(lines) else False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=mutated())
def test_mutated_specs_never_crash_and_point_inside_the_file(text, tmp_path_factory):
    res = check_text(text, "m.yaml")
    for d in res.diagnostics:
        assert _inside(text, d.span.line, d.span.col), (d.code, d.message, d.span, text)
        assert d.message
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(["validate", "-q", "--color", "never", str(path)])
    assert rc == (0 if res.valid else 1), out.getvalue()
    if rc == 1:
        assert "error[" in out.getvalue()
