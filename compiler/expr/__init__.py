"""The ``${{ }}`` expression language: parse, type-check and evaluate expressions in strings.

Takes the text of a spec's strings; gives parsed expressions (``ast``), their static types
(``typecheck``) and their values (``evaluate``). Importing this package is cheap: each submodule
loads when a name of it is first used.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType as _ModuleType   # not 'types': a submodule of that name

# name -> submodule. Attributes load on first use (PEP 562): the runner's cached path needs the
# IR's Template and Type but not the type checker, the evaluator or the function table.
_WHERE = {
    "Binary": "ast", "Call": "ast", "Expr": "ast", "Index": "ast", "ListExpr": "ast", "Literal": "ast",
    "Member": "ast", "Ref": "ast", "Unary": "ast", "refs": "ast", "walk": "ast",
    "EvalError": "errors", "ExprSyntaxError": "errors",
    "evaluate": "evaluate",
    "FUNCTIONS": "functions", "Function": "functions",
    "parse": "parser",
    "Template": "template", "TemplateError": "template", "TemplateExpr": "template", "split_template": "template",
    "TypeIssue": "typecheck", "typecheck": "typecheck",
    "ANY": "types", "BOOL": "types", "FLOAT": "types", "INT": "types", "MAP": "types", "NULL": "types",
    "PATH": "types", "STRING": "types", "Type": "types", "list_of": "types",
    "to_text": "values",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'pipespec.expr' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(_ModuleType):
    """``evaluate`` and ``typecheck`` are functions in submodules of the same name, and importing
    a submodule sets the package's attribute to the module: read through it to the function."""

    def __getattribute__(self, name: str):
        value = super().__getattribute__(name)
        if name in ("evaluate", "typecheck") and isinstance(value, _ModuleType):
            value = getattr(value, name)
        return value


sys.modules[__name__].__class__ = _Package
