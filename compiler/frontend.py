"""The front end in one call: YAML text -> diagnostics and, when there are no errors, the IR.

``load_spec(path)`` is what ``pipespec validate``, ``compile``, ``run`` and ``graph`` use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, Diagnostics
from .loader import MAX_BYTES, load
from .span import Span
from .syntax import MapNode

if TYPE_CHECKING:  # the IR is built only when asked for; validate never imports it
    from . import ir


@dataclass
class Result:
    file: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    pipeline: "ir.Pipeline | None" = None

    @property
    def valid(self) -> bool:
        """No errors (warnings allowed)."""
        return not any(d.is_error for d in self.diagnostics)

    @property
    def ok(self) -> bool:
        """Valid, and the IR was built."""
        return self.pipeline is not None and self.valid


class SpecIOError(Exception):
    """The file cannot be read at all (missing, a directory, no permission): a usage error."""


def check_text(text: str | bytes, file: str = "<string>", build_ir: bool = True) -> Result:
    """Every diagnostic of one spec and, when it has no errors and ``build_ir``, its IR.
    ``validate`` passes ``build_ir=False``: the IR adds no diagnostics, only time."""
    from . import schema
    from .analysis import Analysis
    from .checks import Context, run_all
    from .spec import RawPipeline

    diags = Diagnostics()
    shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
    res = Result(file, shown)
    tree, load_diags = load(text, file)
    diags.extend(load_diags)
    if tree is None:
        res.diagnostics = diags.sorted()
        return res
    if not isinstance(tree, MapNode):
        diags.add("E200", "a pipeline spec is a mapping (pipespec: 1, name: ..., steps: ...)", tree.span)
        res.diagnostics = diags.sorted()
        return res
    diags.extend(schema.check(tree))
    raw = RawPipeline.read(file, tree)
    analysis = Analysis(raw, diags).run()
    ctx = Context(raw, analysis, diags)
    run_all(ctx)
    if build_ir and not diags.has_errors:
        from .lower import Lowering

        res.pipeline = Lowering(raw, analysis, ctx.graph).pipeline()
    res.diagnostics = diags.sorted()
    return res


def load_spec(path: str, build_ir: bool = True) -> Result:
    """Read and check one spec file. Raises SpecIOError when it cannot be read."""
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            r = Result(path, "")
            r.diagnostics = [Diagnostic("E105", f"file is {size} bytes, over the {MAX_BYTES}-byte bound",
                                        Span(path, 1, 1, 1, 2), help="split the pipeline or move data out of the spec")]
            return r
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise SpecIOError(f"{path}: is a directory") from None
    except FileNotFoundError:
        raise SpecIOError(f"{path}: no such file") from None
    except OSError as e:
        raise SpecIOError(f"{path}: {e.strerror or e}") from None
    return check_text(data, path, build_ir)
