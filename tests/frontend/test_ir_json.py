"""The IR's canonical JSON (and so its digest, which every backend header, executor and runner
cache key carries) stays byte-identical: against the generic dataclass walk it was first written
as, and against the digests recorded in tests/golden/ir_digests.txt."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from support import GOLDEN, ROOT, check_golden, example_specs, ok_cases

from pipespec.frontend import load_spec

CASES = example_specs() + ok_cases()


def reference_plain(obj: Any) -> Any:
    """The original ``ir._plain``: dataclasses -> JSON-like data, without spans and offsets."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"_": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name in ("span", "start", "end", "offset") or not f.compare:
                continue
            if f.metadata.get("omit_none") and getattr(obj, f.name) is None:
                continue          # a field added later: absent, specs without it keep their digest
            out[f.name] = reference_plain(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [reference_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): reference_plain(v) for k, v in obj.items()}
    if isinstance(obj, float) and obj != obj:
        return "NaN"
    return obj


@pytest.mark.parametrize("spec", CASES, ids=lambda p: p.stem if p.stem != "pipeline" else p.parent.name)
def test_to_json_is_the_generic_walk(spec):
    pipe = load_spec(str(spec)).pipeline
    expected = json.dumps(reference_plain(pipe), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert pipe.to_json() == expected


def test_digests_unchanged(update_golden):
    lines = [f"{load_spec(str(spec)).pipeline.digest()}  {spec.relative_to(ROOT)}" for spec in CASES]
    check_golden(GOLDEN / "ir_digests.txt", "\n".join(lines) + "\n", update_golden)
