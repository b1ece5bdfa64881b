"""``pipespec graph FILE --format mermaid|dot``: the step DAG as a picture for docs."""

from __future__ import annotations

from .common import require_valid


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")


def _label(step) -> str:
    parts = [step.name]
    if step.foreach is not None:
        parts.append("foreach")
    if step.condition is not None:
        parts.append("if")
    if step.is_finally:
        parts.append("finally")
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def edges(pipe):
    for st in pipe.steps:
        data = {i.step for i in st.inputs}
        for up in st.depends_on:
            yield up, st.name, "data" if up in data else "order"


def _always_edges(pipe):
    """finally: steps run after the steps nothing depends on (the leaves), whatever happened."""
    used = {d for t in pipe.steps for d in t.depends_on}
    leaves = [s.name for s in pipe.steps if s.name not in used]
    return [(leaf, f.name) for f in pipe.finally_steps for leaf in leaves]


def mermaid(pipe) -> str:
    lines = ["flowchart TD"]
    for st in pipe.all_steps:
        shape = ("{{", "}}") if st.condition is not None else (("[/", "/]") if st.is_finally else ("[", "]"))
        lines.append(f'  {st.name}{shape[0]}"{_label(st)}"{shape[1]}')
    for a, b, kind in edges(pipe):
        lines.append(f"  {a} {'-->' if kind == 'data' else '-.->'} {b}")
    for leaf, f in _always_edges(pipe):
        lines.append(f"  {leaf} -. always .-> {f}")
    return "\n".join(lines) + "\n"


def dot(pipe) -> str:
    lines = [f'digraph "{pipe.name}" {{', "  rankdir=TB;", "  node [shape=box, fontname=Helvetica];"]
    for st in pipe.all_steps:
        shape = "diamond" if st.condition is not None else ("parallelogram" if st.is_finally else "box")
        extra = ", peripheries=2" if st.foreach is not None else ""
        lines.append(f'  {st.name} [label="{_label(st)}", shape={shape}{extra}];')
    for a, b, kind in edges(pipe):
        lines.append(f"  {a} -> {b}{' [style=dashed]' if kind == 'order' else ''};")
    for leaf, f in _always_edges(pipe):
        lines.append(f'  {leaf} -> {f} [style=dotted, label="always"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(args) -> int:
    pipe = require_valid(args.file).pipeline
    print({"mermaid": mermaid, "dot": dot}[args.format](pipe), end="")
    return 0
