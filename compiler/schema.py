"""Stage 2: the shape check. Validates the syntax tree against the shipped JSON Schema
(``schemas/pipeline.v1.schema.json``, Draft 2020-12) and maps every error back to a position.

The validator is built once per process. Errors become diagnostics with our codes: unknown keys
get "did you mean", names/durations/quantities/schedules get their own codes, and for
``oneOf`` only the best-matching branch is reported.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache

from .diagnostics import Diagnostic
from .syntax import MapNode, Node, ScalarNode, SeqNode, node_at

SCHEMA_FILE = "pipeline.v1.schema.json"


def schema_text() -> str:
    # read beside the package's own file: importlib.resources imports pathlib, tempfile, random
    # and zipfile (~5 ms of a validate); it stays the way for an install that is not files
    from . import schemas

    try:
        with open(os.path.join(os.path.dirname(schemas.__file__), SCHEMA_FILE), encoding="utf-8") as f:
            return f.read()
    except (OSError, TypeError):  # pragma: no cover - a zipped install
        from importlib import resources

        return resources.files("pipespec.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict:
    """The published schema: ``targets`` and a secret's stores are open to every name, so an
    editor accepts a target installed through an entry point (``compiler/targets.py``)."""
    return json.loads(schema_text())


@lru_cache(maxsize=8)
def checked(extra: tuple = ()) -> dict:
    """The schema a spec is checked against: the published one with ``targets`` and the stores
    closed to the built-in targets plus ``extra`` (the installed ones a spec names)."""
    from .targets import closed

    return closed(schema(), extra)


@lru_cache(maxsize=8)
def _validator(extra: tuple = ()):
    from jsonschema import Draft202012Validator, validators  # heavy: only when a file is checked
    from jsonschema.exceptions import ValidationError

    from .schema_fast import python_regex

    def pattern(validator, patrn, instance, _schema):
        # jsonschema runs re.search(pattern): Python's '$' and '\d' are not ECMA's (python_regex)
        if validator.is_type(instance, "string") and not python_regex(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    return validators.extend(Draft202012Validator, {"pattern": pattern})(checked(extra))


@lru_cache(maxsize=1)
def _classes() -> dict[int, str]:
    """id(subschema) -> diagnostic code, for the definitions with codes of their own."""
    defs = schema()["$defs"]
    out: dict[int, str] = {}

    def mark(s: dict, code: str) -> None:
        out[id(s)] = code
        for alt in s.get("oneOf", []):
            out[id(alt)] = code

    mark(defs["name"], "E204")
    mark(defs["pipeline_name"], "E204")
    mark(defs["duration"], "E205")
    mark(defs["schedule"], "E207")
    mark(defs["resources"]["properties"]["cpu"], "E206")
    mark(defs["resources"]["properties"]["memory"], "E206")
    return out


def _allowed_keys(subschema: dict) -> list[str]:
    keys = list(subschema.get("properties", {}))
    defs = schema()["$defs"]
    for part in subschema.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/$defs/"):
            keys += list(defs[ref[len("#/$defs/"):]].get("properties", {}))
    return keys


def did_you_mean(word: str, choices) -> str | None:
    import difflib   # only to word a "did you mean"

    m = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{m[0]}'?" if m else None


def suggest_name(bad: str, hyphen: bool = False) -> str:
    sep = "-" if hyphen else "_"
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", sep, bad)   # learningRate -> learning_Rate
    s = re.sub(r"[^a-z0-9]+", sep, words.lower()).strip(sep)
    if not s or not s[0].isalpha():
        s = "x" + sep + s if s else "x"
    return s[:63 if hyphen else 40].strip(sep)


def _json_type(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    if isinstance(v, list):
        return "array"
    return "object"


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "the document"


@lru_cache(maxsize=8)
def _fast(extra: tuple = ()):
    from .schema_fast import Validity

    return Validity(checked(extra))


def check(tree: Node) -> list[Diagnostic]:
    """All shape errors of the document, positioned. A valid document is recognised without
    importing jsonschema (``schema_fast``); jsonschema explains an invalid one."""
    from .targets import installed_named

    doc = tree.to_python()
    extra, out = installed_named(doc, tree)
    if _fast(extra).valid(checked(extra), doc):
        return out
    validator = _validator(extra)
    for err in validator.iter_errors(doc):
        out.extend(_convert(err, tree))
    return out


def _convert(err, tree: Node) -> list[Diagnostic]:
    from jsonschema.exceptions import best_match

    path = tuple(err.absolute_path)
    node = node_at(tree, path) or tree
    v = err.validator
    # jsonschema reports a bad key under propertyNames with the inner keyword (pattern, not,
    # maxLength) and the path of the mapping: find the key so the position is the key's own
    if ("propertyNames" in err.absolute_schema_path and isinstance(node, MapNode)
            and isinstance(err.instance, str) and err.instance in node):
        v = "propertyNames"
    if v in ("oneOf", "anyOf") and err.context:
        code = _classes().get(id(err.schema))
        if code:
            return [_coded(code, err, node, path)]
        return _convert_branch(err, tree) or _convert(best_match(err.context), tree)
    if v in ("additionalProperties", "unevaluatedProperties") and isinstance(node, MapNode):
        allowed = _allowed_keys(err.schema)
        extras = [k for k in node.keys() if k not in allowed]
        if not allowed and v == "additionalProperties":
            return []  # additionalProperties with a schema: its errors arrive separately
        diags = []
        for k in extras:
            kn = node.key_node(k)
            diags.append(Diagnostic("E201", f"unknown key '{k}' in {_where(path)}", kn.span,
                                    help=did_you_mean(k, allowed) or f"allowed keys: {', '.join(sorted(allowed))}"))
        return diags
    if v == "required":
        missing = [r for r in err.validator_value if not (isinstance(node, MapNode) and r in node)]
        span = node.span if not path else (_key_span(tree, path) or node.span)
        return [Diagnostic("E202", f"missing required key '{m}' in {_where(path)}", span,
                           help=f"add `{m}:`") for m in missing]
    if v == "minProperties":
        return [Diagnostic("E202", f"{_where(path)} needs at least {err.validator_value} entry", node.span)]
    if v == "propertyNames" and isinstance(node, MapNode):
        bad = err.instance if isinstance(err.instance, str) else None
        kn = node.key_node(bad) if bad is not None else None
        span = kn.span if kn else node.span
        if path and path[-1] in ("env", "with"):
            if err.validator == "not":
                return [Diagnostic("E221", f"'{bad}' is reserved: pipespec sets the PIPESPEC_* variables itself",
                                   span, help="choose another name")]
            return [Diagnostic("E222", f"'{bad}' is not a valid {'environment variable' if path[-1] == 'env' else 'argument'} name",
                               span, help="use letters, digits and underscores, not starting with a digit; PIPESPEC_* is reserved")]
        return [_name_diag(bad, span, path)]
    code = _classes().get(id(err.schema))
    if code:
        return [_coded(code, err, node, path)]
    if v == "const" and path == ("pipespec",):
        from .versions import version_hint

        return [Diagnostic("E208", f"unsupported language version {err.instance!r}", node.span,
                           help=version_hint(err.instance, node.span.file))]
    if v == "type":
        want = err.validator_value
        want_s = want if isinstance(want, str) else " or ".join(want)
        if (isinstance(node, ScalarNode) and node.style == "" and want == "string"
                and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)):
            changed = f" (YAML reads {node.source} as {node.value!r})" if str(node.value) != node.source else ""
            return [Diagnostic("E108", f"{node.source} is read as a number here, where {_where(path)} expects a string",
                               node.span, help=f"quote it: \"{node.source}\"{changed}")]
        under = _under_indented(tree, path)
        if under == "follow-on":
            return []
        return [Diagnostic("E200", f"{_where(path)} must be {_article(want_s)}, not {_article(_json_type(err.instance))}",
                           node.span, help=under)]
    if v == "enum":
        choices = [str(c) for c in err.validator_value]
        hint = did_you_mean(str(err.instance), choices) if isinstance(err.instance, str) else None
        return [Diagnostic("E223", f"{err.instance!r} is not one of {', '.join(choices)} (in {_where(path)})", node.span,
                           help=hint)]
    if v == "const":
        return [Diagnostic("E223", f"{_where(path)} must be {err.validator_value!r}", node.span)]
    if v == "maxLength" and isinstance(err.instance, str):
        return [Diagnostic("E224", f"{_where(path)} is {len(err.instance)} characters long; at most "
                           f"{err.validator_value} are allowed", node.span)]
    return [Diagnostic("E203", f"{_where(path)}: {err.message}", node.span)]


def _type_matches(branch: dict, inst) -> bool:
    t = branch.get("type")
    if t is None:
        return "enum" not in branch or inst in branch["enum"]
    types = [t] if isinstance(t, str) else t
    jt = _json_type(inst)
    return jt in types or (jt == "integer" and "number" in types)


def _convert_branch(err, tree: Node) -> list[Diagnostic]:
    """For a oneOf whose alternatives differ by type, report the errors of the one alternative
    whose type the value has (a mapping for retries: {...} is checked as the mapping form)."""
    branches = err.schema.get(err.validator, [])
    fits = [i for i, b in enumerate(branches) if _type_matches(b, err.instance)]
    if len(fits) != 1:
        return []
    out: list[Diagnostic] = []
    for sub in err.context:
        if sub.relative_schema_path and sub.relative_schema_path[0] == fits[0]:
            out.extend(_convert(sub, tree))
    return out


def _article(t: str) -> str:
    t = {"integer": "integer", "number": "number", "boolean": "boolean", "array": "list",
         "object": "mapping", "null": "null"}.get(t, t)
    return ("an " if t[:1] in "aeiou" else "a ") + t


def _key_span(tree: Node, path: tuple):
    parent = node_at(tree, path[:-1])
    if isinstance(parent, MapNode) and isinstance(path[-1], str):
        kn = parent.key_node(path[-1])
        return kn.span if kn else None
    return None


def _name_diag(bad, span, path) -> Diagnostic:
    hyphen = path == ("name",)
    what = {"steps": "step", "finally": "step", "params": "parameter", "secrets": "secret",
            "outputs": "output", "name": "pipeline"}.get(str(path[-1]) if path else "", "")
    rule = ("lower-case letters, digits and single hyphens, starting with a letter" if hyphen
            else "lower-case letters and digits in words joined by single underscores, at most 40 characters")
    return Diagnostic("E204", f"'{bad}' is not a valid {what + ' ' if what else ''}name: use {rule}", span,
                      help=f"e.g. '{suggest_name(str(bad), hyphen)}' (names must be legal on Airflow, Kubeflow and GitHub Actions)")


def _coded(code: str, err, node, path) -> Diagnostic:
    inst = err.instance
    if code == "E204":
        return _name_diag(inst, node.span, path[:-1] if path and path[-1] == "name" and len(path) > 1 else path)
    if code == "E205":
        return Diagnostic("E205", f"{inst!r} is not a duration (in {_where(path)})", node.span,
                          help="use seconds (90) or units: 30s, 5m, 2h, 1h30m, 1d")
    if code == "E206":
        return Diagnostic("E206", f"{inst!r} is not a resource quantity (in {_where(path)})", node.span,
                          help="cpu: 2, 0.5 or '500m'; memory: 512Mi, 4Gi, 1G or bytes")
    return Diagnostic("E207", f"{inst!r} is not a schedule", node.span,
                      help="a 5-field cron expression like \"0 3 * * *\" or @hourly, @daily, @weekly, @monthly, @yearly")


# the keys a step may have (docs/spec.md "Steps"): a step named like one of them, right after a
# step with no value, is that step's key written without its indentation
_STEP_KEYS = frozenset({"run", "call", "with", "needs", "outputs", "env", "if", "foreach", "parallelism",
                        "retries", "timeout", "cache", "image", "resources", "deps", "description", "shell"})


def _under_indented(tree, path: tuple) -> str | None:
    """For a step under steps:/finally: with no value, or named like a step key right after
    one: the help that says its keys lost their indentation ("follow-on" for the second kind,
    already explained by the first)."""
    if len(path) != 2 or path[0] not in ("steps", "finally") or not isinstance(tree, MapNode):
        return None
    parent = tree.get(path[0])
    if not isinstance(parent, MapNode):
        return None
    items = list(parent.items)
    names = [k.value for k, _ in items]
    if path[1] not in names:
        return None
    i = names.index(path[1])
    key, val = items[i]
    prev_empty = i > 0 and isinstance(items[i - 1][1], ScalarNode) and items[i - 1][1].value is None
    if key.value in _STEP_KEYS and prev_empty:
        return "follow-on"
    if isinstance(val, ScalarNode) and val.value is None and i + 1 < len(items) and items[i + 1][0].value in _STEP_KEYS:
        nk = items[i + 1][0]
        return (f"the keys of step '{key.value}' must be indented under it: '{nk.value}:' (line {nk.span.line}) "
                f"is at the same column as '{key.value}:', so it reads as a step of its own")
    return None
