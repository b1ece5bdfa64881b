"""Expressions of ``if:`` and ``foreach:`` as Python source for the generated Airflow DAG file.

A dialect of the shared translator (``backends/translate.py``): takes a typed IR expression and
gives Python source made only of quoted literals, lookups (``params[...]``, ``_pull(ti, ...)``
over XCom, ``_run_id(context)``), operators and calls of helpers. No user text is ever
evaluated: every string of the spec enters the output through ``py_literal``.

Comparisons whose Python meaning equals the language's for the operand types the checker proved
(numbers with numbers, text with text, bool with bool) are Python operators, so the common
condition reads as written (``_pull(...) >= params['min_auc']``). Everything else calls the
language's own run-time functions (``_binary``, ``_member``, ``_fn_join``, ...).

Those are not a copy. The DAG file may import only Airflow and the standard library (pipespec
need not be installed on the scheduler), so the helpers must be in the file; they are the source
of ``pipespec.expr.runtime`` itself, the module the local runner evaluates with, taken with
``inspect.getsource`` and cut into its top-level definitions: a DAG gets the ones it calls and
those they name. One implementation, so there is nothing to keep in step (the former ~190 lines
of hand-written twins, kept honest by a parity test, had already lost the bounds on text, lists
and int64 and the evaluator's messages). runtime.py stays stdlib-only with ``_``-named top-level
definitions so that a copy stands alone in a DAG and no step's task can shadow it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
from typing import Any, Callable

from pipespec import expr as E
from pipespec.expr import runtime
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
    FUNCTIONS = {"len": "_fn_len", "join": "_fn_join", "contains": "_fn_contains",
                 "startsWith": "_fn_starts_with", "endsWith": "_fn_ends_with", "format": "_fn_format",
                 "min": "_fn_min", "max": "_fn_max", "round": "_fn_round"}

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
                src = f"{self.callee('_member')}({src}, {py_literal(key)})"
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
        return f"{self.callee('_member')}({self.gen(n.obj)}, {py_literal(n.name)})"

    def index(self, n: E.Index) -> str:
        return f"{self.callee('_index')}({self.gen(n.obj)}, {self.gen(n.index)})"

    def unary(self, n: E.Unary) -> str:
        inner = self.gen(n.operand)
        if n.op == "!":
            if self.type_of(n.operand) != E.BOOL:
                inner = self.need_bool(inner, "!")
            return self.paren(f"not {inner}")
        v = n.operand.value if isinstance(n.operand, E.Literal) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return py_literal(-v)               # a negative literal: '-' and a number, in range
        return f"{self.callee('_negate')}({inner})"

    def need_bool(self, src: str, op: str) -> str:
        return f"{self.callee('_need_bool')}({src}, {py_literal(op)})"

    def binary(self, n: E.Binary) -> str:
        """Comparisons whose Python meaning is the language's for the proven operand types are
        Python operators; arithmetic always goes through ``_binary`` (it bounds what it makes)."""
        a, b = self.gen(n.left), self.gen(n.right)
        ta, tb = self.type_of(n.left), self.type_of(n.right)
        op = n.op
        if op in ("&&", "||"):
            if ta != E.BOOL:
                a = self.need_bool(a, op)
            if tb != E.BOOL:
                b = self.need_bool(b, op)
            return self.paren(f"{a} {'and' if op == '&&' else 'or'} {b}")
        same = (is_number(ta) and is_number(tb)) or (is_text(ta) and is_text(tb))
        if op in ("==", "!=") and (same or ta == tb == E.BOOL) or op in ("<", "<=", ">", ">=") and same:
            return self.paren(f"{a} {op} {b}")
        return f"{self.callee('_binary')}({py_literal(op)}, {a}, {b})"


_VALUE_KINDS = ("string", "int", "float", "bool", "path", "list", "map")


# -- helpers emitted into the DAG file, each only when an expression uses it -----------------
# What the language does at run time is pipespec.expr.runtime's: the DAG gets the source of the
# definitions it calls (and of those they call), copied from that module as written. Only
# _pull, which reads Airflow's XCom, is Airflow's own.
_PULL = '''
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
            value = _member(value, key)
        got.append(value)
    if fan_in:
        return got
    if len(got) != 1:
        raise KeyError(f"expected one result of step {step!r}, got {len(got)}")
    return got[0]
'''


def _definitions(source: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (source, the names it uses) of each top-level definition in ``source``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found: dict[str, tuple[str, set[str]]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [e.id for t in node.targets for e in ast.walk(t) if isinstance(e, ast.Name)]
        else:
            continue                      # imports, the docstring: the DAG file has its own
        used = {e.id for e in ast.walk(node) if isinstance(e, ast.Name)}
        for name in names:
            # whole lines: a top-level statement starts a line and ends one (get_source_segment
            # re-splits the source per call, 0.3 s for runtime.py)
            found[name] = ("\n".join(lines[node.lineno - 1:node.end_lineno]), used)
    return found


@functools.cache
def helpers() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (its source, the helpers it calls): runtime's definitions and _pull. Made on
    first use, so a spec without if:/foreach: expressions never parses runtime.py."""
    found = {**_definitions(inspect.getsource(runtime)), **_definitions(_PULL)}
    return {n: (src, frozenset(used & found.keys() - {n})) for n, (src, used) in found.items()}


def helper_source(names: set[str]) -> str:
    """The source of ``names`` and of everything they call, in runtime's order, _pull last."""
    table = helpers()
    need: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in need or n not in table:
            continue
        need.add(n)
        todo.extend(table[n][1])
    return "".join("\n" + src + "\n" for n, (src, _) in table.items() if n in need)
