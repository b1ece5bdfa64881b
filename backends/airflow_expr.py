"""Expressions of ``if:`` and ``foreach:`` as Python source for the generated Airflow DAG file.

A dialect of the shared translator (``backends/translate.py``): takes a typed IR expression
and gives Python source made only of quoted
literals, lookups (``params[...]``, ``_pull(ti, ...)`` over XCom, ``_run_id(context)``),
operators and calls of a fixed set of helpers whose source this module also provides. No user
text is ever evaluated: every string of the spec enters the output through ``py_literal``.

Operators whose Python meaning equals the language's for the operand types the checker proved
(numbers with numbers, text with text, bool with bool) are emitted as Python operators, so the
common condition reads as written (``_pull(...) >= params['min_auc']``). Everything else goes
through a helper that mirrors ``pipespec.expr.evaluate`` exactly (``1 == true`` is false, ``/``
by zero is an error, there is no truthiness).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from pipespec import expr as E
from pipespec.expr.types import is_number, is_text

from .translate import Translator


def py_literal(v: Any) -> str:
    """The Python source of a JSON-like value. The one way spec data enters generated code."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return repr(int(v))
    if isinstance(v, float):
        if math.isnan(v):
            return 'float("nan")'
        if math.isinf(v):
            return 'float("inf")' if v > 0 else '-float("inf")'
        return repr(float(v))
    if isinstance(v, str):
        text = repr(str(v))
        if text[0] == "'" and '"' not in v:
            text = '"' + text[1:-1] + '"'   # no quote of either kind inside: nothing to unescape
        return text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(py_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{py_literal(str(k))}: {py_literal(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as a Python literal")


class PythonTranslator(Translator):
    """The Python dialect. ``fan_in(step)`` says whether a step has foreach, ``output_kind(step,
    output)`` gives the declared output type. ``helpers`` collects the helpers the text calls,
    ``steps_read`` the steps whose results it pulls."""

    target = "airflow"
    QUOTES = "'\""
    FUNCTIONS = {"len": "_len", "join": "_join", "contains": "_contains", "startsWith": "_starts_with",
                 "endsWith": "_ends_with", "format": "_format", "min": "_min", "max": "_max",
                 "round": "_round"}

    def __init__(self, fan_in: Callable[[str], bool], output_kind: Callable[[str, str], str]) -> None:
        super().__init__()
        self.fan_in = fan_in
        self.output_kind = output_kind
        self.helpers: set[str] = set()
        self.steps_read: set[str] = set()

    def write_literal(self, value: Any) -> str:
        return py_literal(value)

    def callee(self, name: str) -> str:
        self.helpers.add(name)
        return name

    # -- nodes -------------------------------------------------------------------------------
    def listexpr(self, n: E.ListExpr) -> str:
        return "[" + ", ".join(self.gen(i) for i in n.items) + "]"

    def ref(self, n: E.Ref) -> str:
        if n.root == "params":
            src = f"params[{py_literal(n.path[0])}]"
            for key in n.path[1:]:
                src = f"{self.callee('_field')}({src}, {py_literal(key)})"
            return src
        if n.root == "run" and n.path in (("id",), ("date",), ("status",)):
            return f"{self.callee('_run_' + n.path[0])}(context)"
        if n.root == "steps" and len(n.path) >= 3:
            step, output, rest = n.path[0], n.path[2], n.path[3:]
            self.steps_read.add(step)
            section = "metrics" if self.output_kind(step, output) == "metrics" else "values"
            if section == "values" and self.output_kind(step, output) not in _VALUE_KINDS:
                self.unsupported(n, f"output '{output}' of step '{step}' is an artifact (a path); "
                                    "a condition can read value outputs and metrics fields only")
            args = ", ".join(py_literal(x) for x in (step, section, output, *rest))
            fan = ", fan_in=True" if self.fan_in(step) else ""
            return f"{self.callee('_pull')}(ti, {args}{fan})"
        self.unsupported(n, f"'{n.dotted}' cannot be read in a condition on Airflow")

    def member(self, n: E.Member) -> str:
        return f"{self.callee('_field')}({self.gen(n.obj)}, {py_literal(n.name)})"

    def index(self, n: E.Index) -> str:
        return f"{self.callee('_index')}({self.gen(n.obj)}, {self.gen(n.index)})"

    def unary(self, n: E.Unary) -> str:
        inner = self.gen(n.operand)
        t = self.type_of(n.operand)
        if n.op == "!":
            return self.paren(f"not {inner}") if t == E.BOOL else self.paren(f"not {self.callee('_bool')}({inner})")
        return self.paren(f"-{inner}") if is_number(t) else f"{self.callee('_neg')}({inner})"

    def binary(self, n: E.Binary) -> str:
        a, b = self.gen(n.left), self.gen(n.right)
        ta, tb = self.type_of(n.left), self.type_of(n.right)
        op = n.op
        if op in ("&&", "||"):
            if ta != E.BOOL:
                a = f"{self.callee('_bool')}({a})"
            if tb != E.BOOL:
                b = f"{self.callee('_bool')}({b})"
            return self.paren(f"{a} {'and' if op == '&&' else 'or'} {b}")
        same = (is_number(ta) and is_number(tb)) or (is_text(ta) and is_text(tb))
        if op in ("==", "!="):
            if same or (ta == E.BOOL and tb == E.BOOL):
                return self.paren(f"{a} {op} {b}")
            eq = f"{self.callee('_eq')}({a}, {b})"
            return eq if op == "==" else self.paren(f"not {eq}")
        if op in ("<", "<=", ">", ">="):
            if same:
                return self.paren(f"{a} {op} {b}")
            return f"{self.callee('_order')}({py_literal(op)}, {a}, {b})"
        if op == "/":
            return f"{self.callee('_div')}({a}, {b})"
        if op == "+" and same or op in ("-", "*") and is_number(ta) and is_number(tb):
            return self.paren(f"{a} {op} {b}")
        return f"{self.callee('_arith')}({py_literal(op)}, {a}, {b})"


_VALUE_KINDS = ("string", "int", "float", "bool", "path", "list", "map")


# -- helpers emitted into the DAG file, each only when an expression uses it -----------------
# They mirror pipespec.expr.evaluate / functions / values; tests run both on the same inputs.
# Order matters: a helper appears after the helpers it calls.
HELPERS: dict[str, str] = {}

HELPERS["_kind"] = '''
def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    return {int: "int", float: "float", str: "string", list: "list", dict: "map"}.get(type(v), type(v).__name__)
'''
HELPERS["_is_num"] = '''
def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
'''
HELPERS["_text"] = '''
def _text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    return str(v)
'''
HELPERS["_eq"] = '''
def _eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) and _is_num(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
'''
HELPERS["_bool"] = '''
def _bool(v):
    if not isinstance(v, bool):
        raise TypeError(f"expected a bool, not {_kind(v)}: there is no truthiness")
    return v
'''
HELPERS["_neg"] = '''
def _neg(v):
    if not _is_num(v):
        raise TypeError(f"cannot negate {_kind(v)}: '-' needs a number")
    return -v
'''
HELPERS["_order"] = '''
def _order(op, a, b):
    if not (_is_num(a) and _is_num(b) or isinstance(a, str) and isinstance(b, str)):
        raise TypeError(f"cannot compare {_kind(a)} and {_kind(b)} with {op!r}")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
'''
HELPERS["_arith"] = '''
def _arith(op, a, b):
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_num(a) and _is_num(b)):
        raise TypeError(f"cannot apply {op!r} to {_kind(a)} and {_kind(b)}")
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b}[op]()
'''
HELPERS["_div"] = '''
def _div(a, b):
    if not (_is_num(a) and _is_num(b)):
        raise TypeError(f"cannot divide {_kind(a)} and {_kind(b)}: '/' needs numbers")
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b
'''
HELPERS["_field"] = '''
def _field(obj, key):
    if not isinstance(obj, dict):
        raise TypeError(f"cannot read field {key!r} of {_kind(obj)}: only maps have fields")
    if key not in obj:
        raise KeyError(f"the map has no key {key!r} (keys: {', '.join(sorted(map(str, obj))[:10]) or 'none'})")
    return obj[key]
'''
HELPERS["_index"] = '''
def _index(obj, i):
    if isinstance(obj, dict):
        if not isinstance(i, str):
            raise TypeError(f"a map key must be a string, not {_kind(i)}")
        return _field(obj, i)
    if not isinstance(obj, list):
        raise TypeError(f"cannot index {_kind(obj)}: only lists and maps have items")
    if not isinstance(i, int) or isinstance(i, bool):
        raise TypeError(f"a list index must be an int, not {_kind(i)}")
    if not 0 <= i < len(obj):
        raise IndexError(f"index {i} is out of range for a list of {len(obj)} items")
    return obj[i]
'''
HELPERS["_len"] = '''
def _len(v):
    if not isinstance(v, (str, list, dict)):
        raise TypeError(f"len() takes a list, string or map, not {_kind(v)}")
    return len(v)
'''
HELPERS["_join"] = '''
def _join(items, sep=","):
    if not isinstance(items, list) or not isinstance(sep, str):
        raise TypeError("join() takes a list and a string separator")
    return sep.join(_text(i) for i in items)
'''
HELPERS["_contains"] = '''
def _contains(hay, needle):
    if isinstance(hay, str):
        if not isinstance(needle, str):
            raise TypeError(f"contains() on a string looks for a string, not {_kind(needle)}")
        return needle in hay
    if not isinstance(hay, list):
        raise TypeError(f"contains() takes a list or string, not {_kind(hay)}")
    return any(_eq(x, needle) for x in hay)
'''
HELPERS["_starts_with"] = '''
def _starts_with(s, prefix):
    if not (isinstance(s, str) and isinstance(prefix, str)):
        raise TypeError("startsWith() takes strings")
    return s.startswith(prefix)
'''
HELPERS["_ends_with"] = '''
def _ends_with(s, suffix):
    if not (isinstance(s, str) and isinstance(suffix, str)):
        raise TypeError("endsWith() takes strings")
    return s.endswith(suffix)
'''
HELPERS["_format"] = '''
def _format(fmt, *args):
    if not isinstance(fmt, str):
        raise TypeError(f"format() takes a format string first, not {_kind(fmt)}")
    out, i = [], 0
    while i < len(fmt):
        if fmt.startswith("{{", i) or fmt.startswith("}}", i):
            out.append(fmt[i])
            i += 2
        elif fmt[i] == "{":
            close = fmt.find("}", i)
            digits = fmt[i + 1:close] if close > 0 else ""
            if not (digits.isascii() and digits.isdigit()) or int(digits) >= len(args):
                raise ValueError(f"format string has a bad placeholder at {i}")
            out.append(_text(args[int(digits)]))
            i = close + 1
        elif fmt[i] == "}":
            raise ValueError(f"format string has a lone '}}' at {i}")
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)
'''
_EXTREME = '''
def _{name}(*args):
    values = args[0] if len(args) == 1 else list(args)
    if not isinstance(values, list) or not values or not all(_is_num(v) for v in values):
        raise TypeError("{name}() takes numbers, or one non-empty list of numbers")
    result = {name}(values)
    return float(result) if any(isinstance(v, float) for v in values) else result
'''
HELPERS["_min"] = _EXTREME.format(name="min")
HELPERS["_max"] = _EXTREME.format(name="max")
HELPERS["_round"] = '''
def _round(x, digits=None):
    if not _is_num(x):
        raise TypeError(f"round() takes a number, not {_kind(x)}")
    if digits is None:
        return int(round(x))
    if not isinstance(digits, int) or isinstance(digits, bool):
        raise TypeError(f"round() digits must be an int, not {_kind(digits)}")
    return float(round(x, digits))
'''
HELPERS["_pull"] = '''
def _pull(ti, step, section, output, *fields, fan_in=False):
    """A value output ("values") or a metrics output ("metrics") of an upstream step, read
    from the XCom its task returned; with fan_in, a list over its foreach instances."""
    # task_ids as a list: a mapped task with one instance would otherwise give a bare value
    results = ti.xcom_pull(task_ids=[step])
    got = []
    for result in results:
        if not isinstance(result, dict) or output not in result.get(section, {}):
            raise KeyError(f"step {step!r} returned no {section[:-1] if section == 'values' else section} output {output!r}")
        value = result[section][output]
        for key in fields:
            value = _field(value, key)
        got.append(value)
    if fan_in:
        return got
    if len(got) != 1:
        raise KeyError(f"expected one result of step {step!r}, got {len(got)}")
    return got[0]
'''

# helper -> helpers it calls
DEPENDS: dict[str, tuple[str, ...]] = {
    "_eq": ("_is_num",), "_bool": ("_kind",), "_neg": ("_is_num", "_kind"),
    "_order": ("_is_num", "_kind"), "_arith": ("_is_num", "_kind"), "_div": ("_is_num", "_kind"),
    "_field": ("_kind",), "_index": ("_kind", "_field"), "_len": ("_kind",), "_join": ("_text",),
    "_contains": ("_kind", "_eq"), "_format": ("_kind", "_text"), "_min": ("_is_num",),
    "_max": ("_is_num",), "_round": ("_is_num", "_kind"), "_pull": ("_field",),
}


def helper_source(names: set[str]) -> str:
    """The source of ``names`` and of everything they call, in a stable order."""
    need: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in need or n not in HELPERS:
            continue
        need.add(n)
        todo.extend(DEPENDS.get(n, ()))
    return "".join("\n" + HELPERS[n].strip("\n") + "\n" for n in HELPERS if n in need)
