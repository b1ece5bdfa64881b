"""pipespec.expr.runtime is copied, definition by definition, into generated Airflow DAG files
(backends/airflow_expr.py): the rules that make a copy stand alone there."""

from __future__ import annotations

import ast
import inspect
import re
import types

from support import ROOT

from pipespec.backends.airflow_expr import helper_source, helpers
from pipespec.expr import runtime

TREE = ast.parse(inspect.getsource(runtime))
TEMPLATE = (ROOT / "backends" / "templates" / "airflow_dag.py.j2").read_text()


def _globals_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _globals_used(c)
    return names


def test_imports_only_modules_the_dag_file_imports():
    imported = {a.name for n in TREE.body if isinstance(n, ast.Import) for a in n.names}
    froms = {n.module for n in TREE.body if isinstance(n, ast.ImportFrom)}
    assert froms <= {"__future__"}                       # nothing of pipespec, no relative import
    dag_imports = set(re.findall(r"^import (\w+)$", TEMPLATE, re.M))
    assert imported and imported <= dag_imports, imported - dag_imports
    assert not [n for n in ast.walk(TREE) if isinstance(n, (ast.Import, ast.ImportFrom)) and n not in TREE.body]


def test_every_top_level_name_starts_with_an_underscore():
    names = [t.id for n in TREE.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    names += [n.name for n in TREE.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert names and all(n.startswith("_") and "__" not in n.strip("_") for n in names), names


def test_each_helper_runs_alone_with_what_it_names():
    # a copy of one definition and of the ones it names, in a namespace of the DAG's imports only
    for name in helpers():
        ns: dict = {m: __import__(m) for m in ("json", "os")}
        exec(compile(helper_source({name}), f"<{name}>", "exec"), ns)      # test only: our own source
        assert name in ns
        for obj in ns.values():
            if isinstance(obj, types.FunctionType):
                missing = {n for n in _globals_used(obj.__code__) if n in helpers()} - ns.keys()
                assert not missing, (name, obj.__name__, missing)
    ns = {m: __import__(m) for m in ("json", "os")}
    exec(compile(helper_source({"_fn_format", "_binary", "_index"}), "<several>", "exec"), ns)
    assert ns["_fn_format"]("{0}-{1}", 1.0, [True]) == "1.0-[true]"
    assert ns["_binary"]("==", 1, 1.0) is True and ns["_binary"]("==", 1, True) is False
    assert ns["_index"]({"a": (1, 2)}, "a") == [1, 2]
