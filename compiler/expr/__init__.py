"""The ``${{ }}`` expression language: parse, type-check and evaluate expressions in strings.

Takes the text of a spec's strings; gives parsed expressions (``ast``), their static types
(``typecheck``) and their values (``evaluate``). Importing this package is cheap: lark is
loaded only when the first expression is parsed.
"""

from .ast import Binary, Call, Expr, Index, ListExpr, Literal, Member, Ref, Unary, refs, walk
from .errors import EvalError, ExprSyntaxError
from .evaluate import evaluate
from .functions import FUNCTIONS, Function
from .parser import parse
from .template import Template, TemplateError, TemplateExpr, split_template
from .typecheck import TypeIssue, typecheck
from .types import ANY, BOOL, FLOAT, INT, MAP, NULL, PATH, STRING, Type, list_of
from .values import to_text

__all__ = [
    "parse", "ExprSyntaxError", "split_template", "Template", "TemplateExpr", "TemplateError",
    "Expr", "Literal", "Ref", "Index", "Member", "Unary", "Binary", "Call", "ListExpr",
    "Type", "STRING", "INT", "FLOAT", "BOOL", "PATH", "MAP", "NULL", "ANY", "list_of",
    "typecheck", "TypeIssue", "evaluate", "EvalError", "to_text", "FUNCTIONS", "Function",
    "walk", "refs",
]
