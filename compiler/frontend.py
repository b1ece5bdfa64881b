"""The front end in one call: YAML text -> diagnostics and, when there are no errors, the IR.

``load_spec(path)`` is what ``pipespec validate``, ``compile``, ``run`` and ``graph`` use.
"""

from __future__ import annotations

import os
import stat
from .record import record, field

from .diagnostics import Diagnostic, Diagnostics
from .loader import MAX_BYTES, load, too_large
from .syntax import MapNode

TYPE_CHECKING = False                  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:  # the IR is built only when asked for; validate never imports it
    from . import ir


@record
class Result:
    file: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    pipeline: "ir.Pipeline | None" = None
    tree: MapNode | None = None          # the spec as written, for the checks across specs

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


def check_text(text: str | bytes, file: str = "<string>", build_ir: bool = True, policies: bool = False) -> Result:
    """Every diagnostic of one spec and, when it has no errors and ``build_ir``, its IR.
    ``validate`` passes ``build_ir=False``: the IR adds no diagnostics, only time. With
    ``policies`` (``validate`` and ``compile``), the rules of the repository's policy config
    run too (docs/policies.md); a worker's ``pipespec exec`` does not run them."""
    from . import schema
    from .analysis import Analysis
    from .checks import Context, run_all
    from .graph import build as build_graph
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
    res.tree = tree
    diags.extend(schema.check(tree))
    shape_ok = not diags.has_errors
    raw = RawPipeline.read(file, tree)
    analysis = Analysis(raw, diags).run()
    graph = build_graph(raw, analysis)
    run_all(Context(raw, analysis, graph, diags))
    if policies:
        diags.extend(_policy_diagnostics(raw, shape_ok))
    if build_ir and not diags.has_errors:
        from .lower import Lowering

        res.pipeline = Lowering(raw, analysis, graph).pipeline()
    res.diagnostics = diags.sorted()
    return res


def _policy_diagnostics(raw, shape_ok: bool) -> list[Diagnostic]:
    """What the policies of the spec's repository find. Only a config file on disk selects
    them; the rules run on a spec whose shape is right (their model is then complete), and the
    config's own problems (E831) are reported either way."""
    from .files import policy_config

    if not os.path.isfile(raw.file):
        return []
    config = policy_config(os.path.dirname(os.path.abspath(raw.file)))
    if config is None:
        return []
    from .policies import config as policy_cfg, run

    rules, problems = policy_cfg.load(config)
    return problems + (run(rules, raw, policy_cfg.shown(config)) if shape_ok else [])


def load_spec(path: str, build_ir: bool = True, policies: bool = False) -> Result:
    """Read and check one spec file. Raises SpecIOError when it cannot be read."""
    return check_text(read_spec_bytes(path), path, build_ir, policies) if _small(path) else _too_large(path)


def _small(path: str) -> bool:
    try:
        return os.stat(path).st_size <= MAX_BYTES
    except OSError:
        return True        # read_spec_bytes says what is wrong


def _too_large(path: str) -> Result:
    size = os.path.getsize(path)
    r = Result(path, "")
    r.diagnostics = [too_large(size, path)]
    return r


def read_spec_bytes(path: str) -> bytes:
    """The bytes of a spec file. Opened without blocking and checked to be a regular file
    before a byte is read: a FIFO or a device named like a spec is refused at once, never
    waited on. Raises SpecIOError with the reason in words."""
    from .files import special_kind

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise SpecIOError(f"{path}: is a directory") from None
    except FileNotFoundError:
        raise SpecIOError(f"{path}: no such file") from None
    except OSError as e:
        raise SpecIOError(f"{path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SpecIOError(f"{path}: is a directory")
        kind = special_kind(st.st_mode)
        if kind:
            raise SpecIOError(f"{path}: {kind}, not a regular file")
        if st.st_size > MAX_BYTES:
            raise SpecIOError(f"{path}: grew over the {MAX_BYTES}-byte bound while it was read")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SpecIOError(f"{path}: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_BYTES:
        raise SpecIOError(f"{path}: grew over the {MAX_BYTES}-byte bound while it was read")
    return data
