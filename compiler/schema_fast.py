"""A yes/no answer to "does this document match the shipped schema?", without jsonschema.

``pipespec validate`` runs on every commit, and importing jsonschema costs more than all of
pipespec's own checks. Valid documents (the common case) are answered here; only an invalid one
goes to jsonschema, which explains every error with its position (``schema.check``).

It interprets exactly the keywords the shipped schema uses (``SUPPORTED``); a test fails when
the schema starts using another keyword, and property tests assert it agrees with jsonschema.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

SUPPORTED = frozenset({
    # annotations
    "$schema", "$id", "title", "description", "$defs",
    # assertions and applicators
    "type", "properties", "additionalProperties", "unevaluatedProperties", "required",
    "propertyNames", "minProperties", "const", "enum", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "items", "minItems", "uniqueItems",
    "oneOf", "allOf", "not", "$ref",
})


class Validity:
    def __init__(self, schema: dict) -> None:
        self.root = schema

    def resolve(self, ref: str) -> dict:
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref}")
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def valid(self, s, x) -> bool:
        if s is True:
            return True
        if s is False:
            return False
        if "$ref" in s and not self.valid(self.resolve(s["$ref"]), x):
            return False
        t = s.get("type")
        if t is not None and not any(_is_type(x, tt) for tt in ([t] if isinstance(t, str) else t)):
            return False
        if "const" in s and not _equal(x, s["const"]):
            return False
        if "enum" in s and not any(_equal(x, e) for e in s["enum"]):
            return False
        if isinstance(x, str):
            if "pattern" in s and not _regex(s["pattern"]).search(x):
                return False
            if len(x) < s.get("minLength", 0) or len(x) > s.get("maxLength", len(x)):
                return False
        if _is_type(x, "number"):
            if "minimum" in s and x < s["minimum"]:
                return False
            if "maximum" in s and x > s["maximum"]:
                return False
            if "exclusiveMinimum" in s and x <= s["exclusiveMinimum"]:
                return False
        if isinstance(x, list):
            if len(x) < s.get("minItems", 0):
                return False
            if "items" in s and not all(self.valid(s["items"], i) for i in x):
                return False
            if s.get("uniqueItems") and len({_canonical(i) for i in x}) != len(x):
                return False
        if "allOf" in s and not all(self.valid(sub, x) for sub in s["allOf"]):
            return False
        if "oneOf" in s and sum(1 for sub in s["oneOf"] if self.valid(sub, x)) != 1:
            return False
        if "not" in s and self.valid(s["not"], x):
            return False
        if isinstance(x, dict) and not self.valid_object(s, x):
            return False
        return True

    def valid_object(self, s: dict, x: dict) -> bool:
        if any(r not in x for r in s.get("required", ())):
            return False
        if len(x) < s.get("minProperties", 0):
            return False
        props = s.get("properties", {})
        for k, v in x.items():
            if "propertyNames" in s and not self.valid(s["propertyNames"], k):
                return False
            if k in props:
                if not self.valid(props[k], v):
                    return False
            elif "additionalProperties" in s and not self.valid(s["additionalProperties"], v):
                return False
        if s.get("unevaluatedProperties") is False and "additionalProperties" not in s:
            known = set(props) | self._evaluated(s)
            if any(k not in known for k in x):
                return False
        return True

    def _evaluated(self, s: dict) -> set[str]:
        """Property names evaluated by the allOf/$ref subschemas (all of which passed)."""
        out: set[str] = set()
        for sub in s.get("allOf", ()):
            if "$ref" in sub:
                sub = self.resolve(sub["$ref"])
            out |= set(sub.get("properties", {})) | self._evaluated(sub)
        return out


def _is_type(x, t: str) -> bool:
    if t == "object":
        return isinstance(x, dict)
    if t == "array":
        return isinstance(x, list)
    if t == "string":
        return isinstance(x, str)
    if t == "boolean":
        return isinstance(x, bool)
    if t == "null":
        return x is None
    if isinstance(x, bool):
        return False
    if t == "integer":
        return isinstance(x, int) or (isinstance(x, float) and x.is_integer())
    if t == "number":
        return isinstance(x, (int, float))
    raise ValueError(f"unknown type {t}")


def _equal(a, b) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _canonical(x) -> str:
    def norm(v):
        if isinstance(v, bool):
            return ["b", v]
        if isinstance(v, (int, float)):
            return ["n", float(v)]
        if isinstance(v, list):
            return ["l", [norm(i) for i in v]]
        if isinstance(v, dict):
            return ["d", sorted((k, norm(i)) for k, i in v.items())]
        return ["o", v]
    return json.dumps(norm(x), sort_keys=True)


@lru_cache(maxsize=None)
def _regex(p: str) -> re.Pattern:
    return re.compile(p)


def keywords_used(schema) -> set[str]:
    """Every keyword of a schema (for the test that keeps SUPPORTED honest)."""
    out: set[str] = set()
    if isinstance(schema, dict):
        for k, v in schema.items():
            out.add(k)
            if k in ("properties", "$defs"):
                for sub in v.values():
                    out |= keywords_used(sub)
            elif k in ("enum", "const", "required", "description", "title"):
                continue
            elif isinstance(v, (dict, list)):
                out |= keywords_used(v)
    elif isinstance(schema, list):
        for v in schema:
            out |= keywords_used(v)
    return out
