"""What every backend shares: the ``Backend`` base class, the capability table, and the one
``unsupported()`` path through which a target reports what it cannot express (an error) or
only emulates (a warning) -- positioned at the spec, naming the target. Never a silent drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pipespec import ir
from pipespec.backends.options import BaseOptions, TargetOptions
from pipespec.diagnostics import Diagnostic
from pipespec.span import Span

NATIVE = "native"
EMULATED = "emulated"
UNSUPPORTED = "unsupported"

# The language features every capability table covers, in display order.
FEATURES: dict[str, str] = {
    "params": "typed parameters with defaults and constraints",
    "schedule": "cron / preset schedule",
    "run_steps": "run: shell commands and argv",
    "call_steps": "call: Python functions",
    "value_outputs": "value outputs between steps",
    "artifacts": "artifacts between steps",
    "if": "if: conditions with skip propagation",
    "foreach": "foreach: fan-out and fan-in",
    "parallelism": "parallelism: limit of a fan-out",
    "finally": "finally: exit handlers with run.status",
    "retries": "retries with backoff",
    "timeout": "timeouts",
    "cache": "cache: on/off per step",
    "resources": "cpu / memory requests",
    "gpu": "gpu / accelerator",
    "image": "container image per step",
    "env": "environment variables",
    "secrets": "secrets by reference",
}


@dataclass(frozen=True)
class CompileOptions:
    spec_path: str                      # the spec as the user named it (for the header and workers)
    output_path: str | None = None      # where the result will be written, if known


@dataclass
class CompileResult:
    text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.text is not None and not any(d.is_error for d in self.diagnostics)


class Backend:
    """Subclass per target: set ``name``, ``description``, ``capabilities``, ``extension`` and
    ``options`` (a ``TargetOptions``, declared in a light module of its own: ``backends/options.py``);
    implement ``generate``. Call ``self.unsupported(...)`` for everything the target cannot express.
    ``compile`` builds ``self.opts`` (the typed ``targets.<name>``) once, before anything reads it."""

    name: str = ""
    description: str = ""
    extension: str = ""
    capabilities: dict[str, tuple[str, str]] = {}   # feature -> (NATIVE|EMULATED|UNSUPPORTED, how)
    options: TargetOptions | None = None
    step_image: str | None = None                   # pipespec compile --image TAG (docs/containers.md)

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.opts: BaseOptions = BaseOptions()
        self._configured_for: ir.Pipeline | None = None

    def configure(self, pipe: ir.Pipeline) -> BaseOptions:
        """``self.opts`` for ``pipe``: built once (by ``compile``, or by whoever generates first)."""
        if self._configured_for is not pipe:
            self.opts, self._configured_for = self.parse_options(pipe), pipe
            if self.step_image and hasattr(self.opts, "image"):   # compile --image: a built step image
                import dataclasses
                self.opts = dataclasses.replace(self.opts, image=self.step_image,
                                                **({"setup": False} if hasattr(self.opts, "setup") else {}))
        return self.opts

    def parse_options(self, pipe: ir.Pipeline) -> BaseOptions:
        """``targets.<name>`` as this target's options object (``BaseOptions`` without a declaration)."""
        raw = pipe.target(self.name)
        if self.options is None:
            return TargetOptions(self.name, "", {}, BaseOptions).parse(raw)
        return self.options.parse(raw)

    # -- the shared path for what a target cannot express --------------------------------------
    def unsupported(self, span: Span, message: str, *, emulated: bool = False, help: str | None = None,
                    limit: bool = False) -> None:
        code = "W600" if emulated else ("E601" if limit else "E600")
        self.diagnostics.append(Diagnostic(code, f"{self.name}: {message}", span, help=help))

    # features whose uses generate() reports itself, with more precise messages
    reported_by_generate: tuple[str, ...] = ()

    def capability_table(self, pipe: ir.Pipeline) -> dict[str, tuple[str, str]]:
        """The table that applies to this pipeline (a backend with modes may pick one)."""
        return self.capabilities

    def check_capabilities(self, pipe: ir.Pipeline) -> None:
        """An error at every use of an unsupported feature; ONE warning per emulated feature,
        at its first use, naming every step that uses it (not one per step)."""
        table = self.capability_table(pipe)
        emulated: dict[str, list[tuple[Span, str | None]]] = {}
        missing: dict[str, Span] = {}
        for feature, span, what, step in uses(pipe):
            if feature in self.reported_by_generate:
                continue
            if feature not in table:            # a table that does not say: never a silent "native"
                missing.setdefault(feature, span)
                continue
            level, how = table[feature]
            if level == UNSUPPORTED:
                self.unsupported(span, f"{what} is not supported on {self.name}" + (f": {how}" if how else ""))
            elif level == EMULATED:
                emulated.setdefault(feature, []).append((span, step))
        for feature, span in missing.items():
            self.diagnostics.append(Diagnostic(
                "E231", f"{self.name}: the backend's capability table does not say how it handles "
                f"{FEATURES[feature]} ('{feature}'), which this spec uses", span,
                help="a bug in the backend: its capabilities must name every feature (pipespec targets shows them)"))
        for feature, items in emulated.items():
            steps = [s for _, s in items if s]
            who = f" (step{'s' * (len(steps) > 1)} {', '.join(steps)})" if steps else ""
            how = table[feature][1]
            self.unsupported(items[0][0], f"{FEATURES[feature]} is emulated on {self.name}"
                             + (f": {how}" if how else "") + who, emulated=True)

    def default_filename(self, pipe: ir.Pipeline) -> str:
        return f"{pipe.name}{self.extension}"

    def header_lines(self, pipe: ir.Pipeline, opts: CompileOptions) -> list[str]:
        """The lines every output opens with (as comments, or the Airflow docstring): printable
        text only, so a file name with a line break cannot end a comment and start a key."""
        from pipespec import __version__

        return [f"Generated by pipespec from {shown(self.project_path(pipe, opts))} -- do not edit; edit the spec "
                "and recompile.",
                f"Target: {self.name}. pipespec {__version__}. IR digest: sha256:{pipe.digest()}"]

    def project_path(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:
        """The spec as the compiled file names it: relative to the project root (the git top
        level, or ``targets.<target>.project_root``), whatever folder the compile ran from."""
        from pipespec.files import project_path

        return project_path(opts.spec_path, self.opts.project_root)

    def spec_on_worker(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:
        """The spec path the workers are given: ``targets.<target>.spec_path``, else
        ``project_path`` (resolved on the worker against ``$PIPESPEC_PROJECT_DIR``)."""
        return self.opts.spec_path or self.project_path(pipe, opts)

    def compile(self, pipe: ir.Pipeline, opts: CompileOptions) -> CompileResult:
        self.diagnostics = []
        self.configure(pipe)
        self.check_capabilities(pipe)
        try:
            text = self.generate(pipe, opts)
        except Exception:
            # generation may not finish once an error was reported; the error is the answer.
            # Without one, it is a bug in the backend: let the CLI report an internal error.
            if not any(d.is_error for d in self.diagnostics):
                raise
            text = None
        diags = sorted(self.diagnostics, key=Diagnostic.sort_key)
        if any(d.is_error for d in diags):
            return CompileResult(None, diags)
        return CompileResult(text, diags)

    def generate(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:  # pragma: no cover
        raise NotImplementedError


def shown(text: str) -> str:
    """``text`` for a header or message: as it is when every character is printable, else as a
    JSON string (quoted, every other character escaped)."""
    return text if text.isprintable() else json.dumps(text)


def uses(pipe: ir.Pipeline):
    """(feature, span, description, step name or None) for every feature use in the pipeline."""
    if pipe.schedule:
        yield "schedule", pipe.span, "schedule:", None
    for p in pipe.params:
        yield "params", p.span, f"param '{p.name}'", None
    for st in pipe.all_steps:
        n = st.name
        checks = (
            ("run_steps", st.kind == "run", st.span, f"run: step '{n}'"),
            ("call_steps", st.kind == "call", st.span, f"call: step '{n}'"),
            ("if", st.condition is not None, st.condition.span if st.condition else st.span, f"if: of step '{n}'"),
            ("foreach", st.foreach is not None, st.foreach.span if st.foreach else st.span, f"foreach: of step '{n}'"),
            ("parallelism", st.parallelism is not None, st.span, f"parallelism: of step '{n}'"),
            ("finally", st.is_finally, st.span, f"finally: step '{n}'"),
            ("retries", st.retries.limit > 0, st.span_of("retries"), f"retries of step '{n}'"),
            ("timeout", st.timeout_s is not None, st.span_of("timeout"), f"timeout of step '{n}'"),
            ("cache", not st.cache, st.span_of("cache"), f"cache: false of step '{n}'"),
            ("resources", st.resources.cpu is not None or st.resources.memory is not None, st.span_of("resources"),
             f"resources of step '{n}'"),
            ("gpu", bool(st.resources.gpu or st.resources.accelerator), st.span_of("resources"), f"gpu of step '{n}'"),
            ("image", bool(st.image), st.span_of("image"), f"image of step '{n}'"),
            ("env", bool(st.env), st.span, f"env of step '{n}'"),
            ("secrets", bool(st.secrets), st.span, f"secrets of step '{n}'"),
            ("artifacts", bool(st.artifact_outputs), st.span, f"artifact outputs of step '{n}'"),
            ("value_outputs", bool(st.value_outputs), st.span, f"value outputs of step '{n}'"),
        )
        for feature, used, span, what in checks:
            if used:
                yield feature, span, what, n
