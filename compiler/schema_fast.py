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
    "type", "properties", "additionalProperties", "required",
    "propertyNames", "minProperties", "const", "enum", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "items", "minItems", "uniqueItems",
    "oneOf", "allOf", "not", "$ref",
})


class Validity:
    """Each subschema is compiled once, on first use, into the list of checks its keywords ask
    for; a document is then checked by running those, not by looking up every keyword at every
    node (which was most of ``validate``'s time on big specs)."""

    def __init__(self, schema: dict) -> None:
        self.root = schema
        self._compiled: dict[int, tuple] = {}
        self._keep: list = []            # the subschemas compiled, so their ids stay theirs

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
        checks = self._compiled.get(id(s))
        if checks is None:
            checks = self._compile(s)
        for check in checks:
            if not check(x):
                return False
        return True

    def _compile(self, s: dict) -> tuple:
        valid, out = self.valid, []
        if "$ref" in s:
            target = self.resolve(s["$ref"])
            out.append(lambda x: valid(target, x))
        t = s.get("type")
        if t is not None:
            types = (t,) if isinstance(t, str) else tuple(t)
            out.append(lambda x: any(_is_type(x, tt) for tt in types))
        if "const" in s:
            const = s["const"]
            out.append(lambda x: _equal(x, const))
        if "enum" in s:
            enum = s["enum"]
            out.append(lambda x: any(_equal(x, e) for e in enum))
        if "pattern" in s:
            rx = _regex(s["pattern"])
            out.append(lambda x: not isinstance(x, str) or rx.search(x) is not None)
        if "minLength" in s or "maxLength" in s:
            lo, hi = s.get("minLength", 0), s.get("maxLength")
            out.append(lambda x: not isinstance(x, str) or lo <= len(x) and (hi is None or len(x) <= hi))
        for key, bad in (("minimum", lambda x, b: x < b), ("maximum", lambda x, b: x > b),
                         ("exclusiveMinimum", lambda x, b: x <= b)):
            if key in s:
                out.append(lambda x, b=s[key], bad=bad: not _is_type(x, "number") or not bad(x, b))
        if "minItems" in s:
            n = s["minItems"]
            out.append(lambda x: not isinstance(x, list) or len(x) >= n)
        if "items" in s:
            items = s["items"]
            out.append(lambda x: not isinstance(x, list) or all(valid(items, i) for i in x))
        if s.get("uniqueItems"):
            out.append(lambda x: not isinstance(x, list) or len({_canonical(i) for i in x}) == len(x))
        if "allOf" in s:
            subs = s["allOf"]
            out.append(lambda x: all(valid(sub, x) for sub in subs))
        if "oneOf" in s:
            alts = s["oneOf"]
            out.append(lambda x: sum(1 for sub in alts if valid(sub, x)) == 1)
        if "not" in s:
            neg = s["not"]
            out.append(lambda x: not valid(neg, x))
        if _OBJECT_KEYWORDS & s.keys():
            out.append(lambda x: not isinstance(x, dict) or self.valid_object(s, x))
        self._keep.append(s)
        checks = self._compiled[id(s)] = tuple(out)
        return checks

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
        return True


# the keywords valid_object reads; a subschema without any of them accepts every object
_OBJECT_KEYWORDS = frozenset({"required", "minProperties", "properties", "propertyNames",
                              "additionalProperties"})


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
    return python_regex(p)


def python_regex(pattern: str) -> re.Pattern:
    """A schema ``pattern`` (ECMA-262, as JSON Schema defines it) as a Python regex that matches
    the same strings: ECMA's ``$`` is the end of the text, Python's also matches before a final
    newline (so ``"@daily\\n"`` passed as a schedule and ``"train\\n"`` as a name); ECMA's ``\\d``
    is ASCII, Python's any Unicode digit. The shipped schema uses ``$`` only as the last character
    (a test checks it), so the translation is exact."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


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
