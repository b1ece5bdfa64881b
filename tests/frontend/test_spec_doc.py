"""docs/spec.md is the authoritative language reference: keep it true to the code.

- every ```yaml block that starts with ``pipespec: 1`` is a complete spec that validates with
  no errors (warnings are allowed);
- every key the JSON Schema defines (top level, step, defaults, params, secrets, resources,
  retries, outputs, and each target's keys in that target's section) is mentioned, so the
  document cannot silently fall behind the schema;
- every function of ``pipespec.expr.FUNCTIONS`` is documented;
- the grammar quoted in the document is the grammar the parser uses;
- the "which field may read which context" table matches ``analysis.FIELD_CONTEXTS``.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from pipespec.analysis import FIELD_CONTEXTS
from pipespec.expr import FUNCTIONS
from pipespec.frontend import check_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "spec.md"
SCHEMA = ROOT / "schemas" / "pipeline.v1.schema.json"
GRAMMAR = ROOT / "compiler" / "expr" / "grammar.lark"


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _schema() -> dict:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def _fenced(lang: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```lang block in the document."""
    out = []
    lines = _doc().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{lang}":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            out.append((start + 1, "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return out


def _spec_blocks() -> list[tuple[int, str]]:
    return [(n, body) for n, body in _fenced("yaml") if body.startswith("pipespec: 1")]


def _mentioned(key: str, text: str) -> bool:
    """A key counts as documented when it appears in backticks: `key`, `key:` or `key.`..."""
    return re.search(r"`" + re.escape(key) + r"(?:[`:.\[ ]|\b)", text) is not None


def _section(title_regex: str) -> str:
    """The text of the section whose heading matches, up to the next heading of its level."""
    doc = _doc()
    m = re.search(r"^(#+) " + title_regex + r"[^\n]*$", doc, re.M)
    assert m, f"docs/spec.md has no heading matching {title_regex!r}"
    level = len(m.group(1))
    rest = doc[m.end():]
    nxt = re.search(r"^#{1,%d} " % level, rest, re.M)
    return rest[:nxt.start()] if nxt else rest


# -- the examples validate -------------------------------------------------------------------
def test_document_has_complete_examples():
    assert len(_spec_blocks()) >= 5


@pytest.mark.parametrize("line,body", _spec_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_yaml_example_validates(line, body, tmp_path):
    path = tmp_path / f"example_line{line}.yaml"
    path.write_text(body, encoding="utf-8")
    res = check_text(path.read_text(encoding="utf-8"), str(path))
    errors = [f"{d.code} {d.span.line}:{d.span.col} {d.message}" for d in res.diagnostics if d.is_error]
    assert not errors, f"docs/spec.md example at line {line} does not validate:\n" + "\n".join(errors)
    assert res.pipeline is not None


def test_churn_example_is_the_shipped_spec():
    """The complete example is specs/churn/pipeline.yaml, verbatim."""
    shipped = (ROOT / "specs" / "churn" / "pipeline.yaml").read_text(encoding="utf-8")
    assert any(body == shipped for _, body in _spec_blocks()), \
        "the overview example differs from specs/churn/pipeline.yaml: copy it again"


# -- the schema's keys are documented ----------------------------------------------------------
def test_every_top_level_key_is_documented():
    text = _section("Top-level keys")
    missing = [k for k in _schema()["properties"] if not _mentioned(k, text)]
    assert not missing, f"top-level keys missing from 'Top-level keys' in docs/spec.md: {missing}"


def test_every_step_key_is_documented():
    defs = _schema()["$defs"]
    keys = list(defs["step"]["properties"])
    text = _section("Steps")
    missing = [k for k in keys if not _mentioned(k, text)]
    assert not missing, f"step keys missing from 'Steps' in docs/spec.md: {missing}"


def test_every_defaults_key_is_documented():
    text = _section("`defaults`")
    missing = [k for k in _schema()["$defs"]["defaults"]["properties"] if not _mentioned(k, text)]
    assert not missing, f"defaults keys missing from '`defaults`' in docs/spec.md: {missing}"


@pytest.mark.parametrize("definition,heading", [
    ("param", "`params`"),
    ("secret", "`secrets`"),
    ("resources", "resources"),
])
def test_every_nested_key_is_documented(definition, heading):
    text = _section(heading)
    missing = [k for k in _schema()["$defs"][definition]["properties"] if not _mentioned(k, text)]
    assert not missing, f"{definition} keys missing from '{heading}' in docs/spec.md: {missing}"


def test_every_retries_and_output_key_is_documented():
    defs = _schema()["$defs"]
    retry_obj = next(b for b in defs["retries"]["oneOf"] if b.get("type") == "object")
    text = _section("retries")
    missing = [k for k in retry_obj["properties"] if not _mentioned(k, text)]
    assert not missing, f"retries keys missing from docs/spec.md: {missing}"
    out_obj = next(b for b in defs["outputs"]["additionalProperties"]["oneOf"] if b.get("type") == "object")
    text = _section("outputs")
    assert all(_mentioned(k, text) for k in out_obj["properties"])
    for t in out_obj["properties"]["type"]["enum"]:
        assert _mentioned(t, text), f"output type {t!r} missing from 'outputs' in docs/spec.md"


def test_every_target_and_target_key_is_documented():
    """Other engineers add target keys: each one needs a row in that target's section."""
    targets = _schema()["$defs"]["targets"]["properties"]
    problems = []
    for target, sub in targets.items():
        text = _section(re.escape(f"`targets.{target}`"))
        for key in sub.get("properties", {}):
            if not _mentioned(key, text):
                problems.append(f"targets.{target}.{key}")
    assert not problems, f"target keys missing from their section of docs/spec.md: {problems}"


def test_value_and_artifact_types_are_documented():
    text = _section("Types")
    kinds = _schema()["$defs"]["value_type"]["enum"] + ["dataset", "model", "metrics", "file", "dir"]
    assert all(_mentioned(k, text) for k in kinds)


# -- functions, grammar and contexts match the code --------------------------------------------
def test_every_function_is_documented():
    text = _section("Functions")
    missing = [name for name in FUNCTIONS if f"`{name}`" not in text or f"{name}(" not in text]
    assert not missing, f"functions missing from 'Functions' in docs/spec.md: {missing}"
    for name, fn in FUNCTIONS.items():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{name}` |")), "")
        assert row, f"no table row for {name}() in 'Functions'"


def test_documented_functions_exist():
    text = _section("Functions")
    documented = re.findall(r"^\| `(\w+)` \|", text, re.M)
    unknown = [f for f in documented if f not in FUNCTIONS]
    assert not unknown, f"docs/spec.md documents functions the language does not have: {unknown}"


def _grammar_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        out.append(line)
    return out


def test_quoted_grammar_matches_grammar_lark():
    blocks = _fenced("lark")
    assert len(blocks) == 1, "docs/spec.md quotes the grammar in exactly one ```lark block"
    quoted = _grammar_lines(blocks[0][1])
    actual = _grammar_lines(GRAMMAR.read_text(encoding="utf-8"))
    assert quoted == actual, (
        "the grammar quoted in docs/spec.md differs from compiler/expr/grammar.lark (comments aside): "
        f"only in the doc {[ln for ln in quoted if ln not in actual]}, "
        f"only in grammar.lark {[ln for ln in actual if ln not in quoted]}")


_FIELD_ROWS = {
    "run": "`run:`",
    "with": "`with:`",
    "env": "`env:` of a step",
    "if": "`if:`",
    "foreach": "`foreach:`",
    "pipeline_env": "`env:` of the pipeline",
    "notify_if": "`if:` of a `notify.when` entry",
}


def test_context_table_matches_field_contexts():
    text = _section("Which field may read which context")
    assert set(_FIELD_ROWS) == set(FIELD_CONTEXTS), "a field was added to FIELD_CONTEXTS: document it"
    for fld, label in _FIELD_ROWS.items():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| {label}")), None)
        assert row, f"no row for {label} in the context table"
        listed = set(re.findall(r"`(\w+)`", row.split("|")[2]))
        assert listed == FIELD_CONTEXTS[fld], f"{label}: doc says {sorted(listed)}, code {sorted(FIELD_CONTEXTS[fld])}"
