"""Parameter declarations: a default must have the declared type and meet enum/minimum/maximum;
constraints must fit the type."""

from __future__ import annotations

from ..syntax import ScalarNode, SeqNode

# the words YAML 1.1 read as bools (yes/no, on/off, y/n): strings in YAML 1.2
_YAML11_BOOLS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}

_PY = {"string": (str,), "path": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
       "list": (list,), "map": (dict,)}


def type_ok(kind: str, v) -> bool:
    if kind in ("int", "float") and isinstance(v, bool):
        return False
    return isinstance(v, _PY.get(kind, (object,)))


def check(ctx) -> None:
    d = ctx.diags
    for name, p in ctx.raw.params.items():
        node, kind, items = p.node, p.type, p.items
        if kind not in _PY:
            continue  # the schema reported it
        for c in ("minimum", "maximum"):
            if c in node and kind not in ("int", "float"):
                d.add("E214", f"{c}: applies to int and float parameters, not {kind}", node.key_node(c).span)
        if "items" in node and kind != "list":
            d.add("E214", f"items: applies to list parameters, not {kind}", node.key_node("items").span)
        enum = p.enum
        enum_vals = enum.to_python() if isinstance(enum, SeqNode) else None
        if enum_vals is not None:
            for i, v in zip(enum.items, enum_vals):
                if not type_ok(kind, v):
                    d.add("E209", f"enum value {v!r} is not {kind}", i.span)
        dn = p.default
        if dn is None:
            continue
        v = dn.to_python()
        if not type_ok(kind, v):
            extra = ""
            if isinstance(dn, ScalarNode) and dn.style == "" and kind in ("string", "path") and isinstance(v, (int, float)):
                extra = f"; quote it: \"{dn.source}\""
            elif (isinstance(dn, ScalarNode) and dn.style == "" and kind == "bool" and isinstance(v, str)
                  and v.lower() in _YAML11_BOOLS):
                extra = (f": write {str(_YAML11_BOOLS[v.lower()]).lower()} ('{v}' is a string in YAML 1.2, which "
                         "pipespec reads; only YAML 1.1 made it a bool)")
            d.add("E209", f"default {v!r} of parameter '{name}' is not {kind}", dn.span,
                  help=f"give {'an' if kind[0] in 'aeiou' else 'a'} {kind} value{extra}")
            continue
        if kind == "list" and items and isinstance(v, list):
            for i, x in enumerate(v):
                if not type_ok(items, x):
                    span = dn.items[i].span if isinstance(dn, SeqNode) else dn.span
                    d.add("E209", f"item {x!r} of the default of '{name}' is not {items}", span)
        if enum_vals is not None and v not in enum_vals:
            d.add("E209", f"default {v!r} of parameter '{name}' is not one of the enum values", dn.span,
                  help=f"allowed: {', '.join(map(repr, enum_vals))}")
        for c, ok in (("minimum", lambda lim: v >= lim), ("maximum", lambda lim: v <= lim)):
            lim = p.minimum if c == "minimum" else p.maximum
            if lim is not None and kind in ("int", "float") and isinstance(lim.to_python(), (int, float)):
                if not ok(lim.to_python()):
                    d.add("E209", f"default {v!r} of parameter '{name}' is outside its {c} {lim.to_python()!r}", dn.span)
