"""Checks across specs (E810-E812): what no single spec can show, over the specs that one
``pipespec validate`` (or ``check-repo``) was given -- and, for outputs, across the targets of
one spec (two targets writing one file).

Takes the ``frontend.Result`` of each spec (its syntax tree); adds diagnostics to them: two
specs that publish the same name on one target (the Airflow DAG id, the Kubeflow pipeline
name, the GitHub workflow name: E810), two targets that write the same compiled file (E811),
or one that writes a file inside another's file (E812). Every clash is reported at both specs,
each with a note naming the other's position.

Names and paths are read from the spec as written, through each target's light options module
(``backends/*_options.py``): no backend is imported, so ``validate`` stays light. A target a
spec does not name under ``targets:`` is not compared, unless the spec has no ``targets:`` at
all (then it can be compiled to any built-in target under its own name).
"""

from __future__ import annotations

import os

from .diagnostics import Diagnostic
from .record import named_tuple
from .span import Span
from .syntax import MapNode, ScalarNode

BUILTIN_TARGETS = ("airflow", "kubeflow", "github")
# Backend.extension of the built-in targets, for an output that names a folder (the file is then
# Backend.default_filename inside it); a test keeps it equal to the backends' own
EXTENSIONS = {"airflow": ".py", "kubeflow": ".yaml", "github": ".yml"}
# what each target calls the name a pipeline is published under
NAME_WORDS = {"airflow": "DAG id", "kubeflow": "pipeline name", "github": "workflow name"}


OUTPUT_CLASHES = ("E811", "E812")      # a spec with one of these is not compiled by check-repo


@named_tuple
class Published:
    target: str
    name: str
    span: Span               # the spec's name:


@named_tuple
class Output:
    target: str
    path: str                # absolute, normalised
    shown: str               # as a message names it (relative to the working directory)
    span: Span               # the value of targets.T.output


def published_name(target: str, name: str, options: dict) -> str:
    """The name ``target`` publishes a pipeline under: Airflow's through ``airflow_options.dag_id``
    (the one function the Airflow backend also uses), the pipeline name elsewhere."""
    if target == "airflow":
        from pipespec.backends.airflow_options import OPTIONS, dag_id

        return dag_id(name, OPTIONS.parse(options))
    return name


def _targets(tree: MapNode) -> list[tuple[str, MapNode | None, dict]]:
    targets = tree.get("targets")
    if not isinstance(targets, MapNode):
        return [(t, None, {}) for t in BUILTIN_TARGETS] if targets is None else []
    out = []
    for k, v in targets.items:
        if isinstance(k.value, str):
            m = v if isinstance(v, MapNode) else None
            out.append((k.value, m, m.to_python() if m is not None else {}))
    return out


def names_of(result) -> list[Published]:
    tree = getattr(result, "tree", None)
    if not isinstance(tree, MapNode):
        return []
    node = tree.get("name")
    if not (isinstance(node, ScalarNode) and isinstance(node.value, str)):
        return []
    return [Published(t, published_name(t, node.value, opts), node.span) for t, _, opts in _targets(tree)]


def outputs_of(result) -> list[Output]:
    """Every compiled file the spec names (``targets.T.output``, relative to its folder), as
    ``compile --all`` resolves it; a folder (``dags/``) holds ``<name><extension>``."""
    tree = getattr(result, "tree", None)
    if not isinstance(tree, MapNode):
        return []
    name = tree.get("name")
    out = []
    for t, m, opts in _targets(tree):
        node = m.get("output") if m is not None else None
        if not (isinstance(node, ScalarNode) and isinstance(node.value, str) and node.value):
            continue
        rel = os.path.join(os.path.dirname(result.file), node.value)
        if os.path.isdir(rel) or node.value.endswith(("/", os.sep)):
            if t not in EXTENSIONS or not isinstance(name, ScalarNode) or not isinstance(name.value, str):
                continue
            rel = os.path.join(rel, name.value + EXTENSIONS[t])
        out.append(Output(t, os.path.normpath(os.path.abspath(rel)), os.path.normpath(rel), node.span))
    return out


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}:{span.col}"


def check(results: list) -> None:
    """Add E810-E812 to the results of the valid specs (a spec with errors is fixed first)."""
    valid = [r for r in results if r.valid]
    extra: dict[int, list[Diagnostic]] = {}

    def report(i: int, d: Diagnostic) -> None:
        extra.setdefault(i, []).append(d)

    by_name: dict[tuple[str, str], list[tuple[int, Published]]] = {}
    for i, r in enumerate(valid if len(valid) > 1 else ()):
        for p in names_of(r):
            by_name.setdefault((p.target, p.name), []).append((i, p))
    # one diagnostic per pair of specs and name, listing every target the name clashes on
    pairs: dict[tuple[int, int, str], list[str]] = {}
    for (target, name), users in by_name.items():
        for i, p in users:
            for j, q in users:
                if j != i:
                    pairs.setdefault((i, j, name), []).append(target)
    spans = {(i, p.target): p.span for users in by_name.values() for i, p in users}
    for (i, j, name), targets in sorted(pairs.items()):
        on = ", ".join(f"{t} ({NAME_WORDS.get(t, 'pipeline name')})" for t in targets)
        other = spans[(j, targets[0])]
        report(i, Diagnostic(
            "E810", f"another spec publishes the name '{name}' too, on {on}: the target keeps only one of them",
            spans[(i, targets[0])], notes=(f"{_where(other)}: the other spec's name:",),
            help="give one of the pipelines another name:"))

    outs = [(i, o) for i, r in enumerate(valid) for o in outputs_of(r)]
    for a, (i, o) in enumerate(outs):
        for b, (j, q) in enumerate(outs):
            if a == b:
                continue
            if o.path == q.path:
                who = "another target of this spec" if i == j else "another spec"
                report(i, Diagnostic(
                    "E811", f"{o.target} writes {o.shown}, and so does {who} ({q.target}): one file would "
                    "overwrite the other", o.span, notes=(f"{_where(q.span)}: the other targets.{q.target}.output",),
                    help="give each target its own output file"))
            elif q.path.startswith(o.path.rstrip(os.sep) + os.sep):
                report(i, Diagnostic(
                    "E812", f"{o.target} writes the file {o.shown}, which {q.shown} (targets.{q.target}.output) "
                    "needs as a folder", o.span, notes=(f"{_where(q.span)}: the other targets.{q.target}.output",),
                    help="put the compiled files side by side, not one inside the other"))
            elif o.path.startswith(q.path.rstrip(os.sep) + os.sep):
                report(i, Diagnostic(
                    "E812", f"{o.target} writes {o.shown} inside {q.shown}, which targets.{q.target}.output "
                    "writes as a file", o.span, notes=(f"{_where(q.span)}: the other targets.{q.target}.output",),
                    help="put the compiled files side by side, not one inside the other"))
            elif o.path.lower() == q.path.lower():
                report(i, Diagnostic(
                    "E812", f"{o.target} writes {o.shown}, and {q.shown} (targets.{q.target}.output) differs from "
                    "it only in letter case: one file on macOS and Windows", o.span,
                    notes=(f"{_where(q.span)}: the other targets.{q.target}.output",),
                    help="name the compiled files apart by more than case"))
    for i, diags in extra.items():
        r = valid[i]
        r.diagnostics = sorted(r.diagnostics + diags, key=Diagnostic.sort_key)
