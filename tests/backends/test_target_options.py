"""Each built-in target declares its options once (``backends/<name>_options.py``): the
published schema is their merge, and the typed options object has one field per property."""

from __future__ import annotations

import dataclasses

import pytest

from support import ROOT

from pipespec import backends
from pipespec.backends.options import BaseOptions, merge, published_text
from pipespec.schema import schema_text

DECLARED = backends.builtin_options()


def test_the_published_schema_is_the_merge_of_the_declarations():
    # python -m pipespec.backends.options --write rewrites the file
    assert published_text() == schema_text()
    assert (ROOT / "schemas" / "pipeline.v1.schema.json").read_text(encoding="utf-8") == schema_text()


def test_the_merge_replaces_a_fragment_and_keeps_the_rest():
    import json

    published = json.loads(schema_text())
    changed = dataclasses.replace(DECLARED[0], schema={**DECLARED[0].schema, "extra": {"type": "string"}})
    out = merge(published, [changed])
    assert "extra" in out["$defs"]["targets"]["properties"][changed.name]["properties"]
    assert "extra" not in published["$defs"]["targets"]["properties"][changed.name]["properties"]
    assert out["$defs"]["steps" if "steps" in out["$defs"] else "step"] is published["$defs"]["step"]


@pytest.mark.parametrize("decl", DECLARED, ids=[d.name for d in DECLARED])
def test_one_field_per_property(decl):
    fields = {f.name for f in dataclasses.fields(decl.options)} - {"given"}
    assert fields == set(decl.properties()) | {"spec_path"}
    assert issubclass(decl.options, BaseOptions)
    assert dataclasses.fields(decl.options) and decl.options.__dataclass_params__.frozen


@pytest.mark.parametrize("decl", DECLARED, ids=[d.name for d in DECLARED])
def test_the_backend_uses_its_declaration(decl):
    assert backends.get(decl.name).options is decl


def test_parse_keeps_defaults_and_records_what_was_written():
    gh = next(d for d in DECLARED if d.name == "github")
    o = gh.parse({"runs_on": ["self-hosted", "linux"], "spec_path": "p.yaml"})
    assert o.runs_on == ("self-hosted", "linux") and o.python == "3.11" and o.spec_path == "p.yaml"
    assert o.has("spec_path") and not o.has("python")
    assert gh.parse(None) == gh.options()


def test_a_store_reads_the_written_reference_else_its_default():
    from pipespec.backends.kubeflow_options import OPTIONS
    from pipespec.ir import Secret
    from pipespec.span import Span

    (k8s,) = OPTIONS.secret_stores
    sp = Span("x", 1, 1, 1, 1)
    assert k8s.ref(Secret("db_pass", "", "DB_PASS", (), sp)) == "pipespec-secrets/db-pass"
    assert k8s.ref(Secret("db_pass", "", "DB_PASS", (("kubernetes", "db/pw"),), sp)) == "db/pw"


def test_the_builtin_worker_sinks_table_is_the_declarations():
    assert backends.BUILTIN_WORKER_SINKS == tuple((ws.env, ws.factory) for d in DECLARED for ws in d.worker_sinks)
    assert backends.worker_sinks({"GITHUB_OUTPUT": "/dev/null"})[0].path == "/dev/null"
    assert backends.worker_sinks({}) == []
