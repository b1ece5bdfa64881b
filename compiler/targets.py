"""The open parts of the schema: ``targets.<name>`` and the stores under ``secrets.<NAME>``.

The published schema (``schemas/pipeline.v1.schema.json``) holds the built-in targets' options
(merged from ``backends/<name>_options.py``) and leaves both mappings open, so that an editor
accepts a target installed through the ``pipespec.backends`` entry point. A spec is checked
against the schema closed again: to the built-in targets, plus the installed ones when the spec
names a target or store that is not built in (only then is entry-point metadata read; the
installed target's fragment is merged in, so its options are checked with positions and an
unknown target is E201 with a did-you-mean over every installed name).
"""

from __future__ import annotations

import copy

from .diagnostics import Diagnostic
from .syntax import MapNode, Node

# name -> TargetOptions | None of the installed targets, as read by installed_named
_INSTALLED: dict = {}


def installed_named(doc, tree: Node) -> tuple[tuple, list[Diagnostic]]:
    """The installed (not built-in) targets the schema must know to check ``doc``: none when
    the spec names only built-in targets and stores. Diagnostics for installed targets whose
    declaration does not load (E230), at the spec's use of them."""
    from .schema import schema

    if not isinstance(doc, dict):
        return (), []
    defs = schema()["$defs"]
    known_targets = set(defs["targets"]["properties"])
    known_stores = set(defs["secret"]["properties"])
    targets = doc.get("targets") if isinstance(doc.get("targets"), dict) else {}
    secrets = doc.get("secrets") if isinstance(doc.get("secrets"), dict) else {}
    stores = {k for s in secrets.values() if isinstance(s, dict) for k in s}
    if set(targets) <= known_targets and stores <= known_stores:
        return (), []
    from pipespec import backends

    found, broken = backends.registered_options()
    _INSTALLED.update(found)
    _INSTALLED.update(dict.fromkeys(broken))     # reported below: not also an unknown target
    out = []
    tnode = tree.get("targets") if isinstance(tree, MapNode) else None
    for name, why in sorted(broken.items()):
        if name in targets and isinstance(tnode, MapNode):
            out.append(Diagnostic("E230", f"target '{name}' is installed, but its options cannot be loaded: {why}",
                                  tnode.key_node(name).span,
                                  help="fix or reinstall the package that registers it (pipespec targets lists them)"))
    return tuple(sorted(set(found) | set(broken))), out


def closed(schema: dict, extra: tuple = ()) -> dict:
    """``schema`` with ``targets`` closed to its own targets plus the installed ``extra`` (their
    fragments merged in) and a secret's stores closed likewise. Every other subschema is the
    published one's own object (``schema._classes`` keys codes on their ids)."""
    declared = [_INSTALLED[n] for n in extra if _INSTALLED.get(n) is not None]
    if declared:
        from pipespec.backends.options import merge

        out = merge(schema, declared)
    else:
        out = {**schema, "$defs": {**schema["$defs"], "targets": copy.deepcopy(schema["$defs"]["targets"]),
                                   "secret": copy.deepcopy(schema["$defs"]["secret"])}}
    targets, secret = out["$defs"]["targets"], out["$defs"]["secret"]
    for n in extra:
        if _INSTALLED.get(n) is None:        # installed without options: any mapping
            targets["properties"][n] = {"type": "object", "description": f"Target '{n}' (declares no options)."}
    targets["additionalProperties"] = False
    secret["additionalProperties"] = False
    return out
