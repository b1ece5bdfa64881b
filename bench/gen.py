"""Generators of the same DAG for every tool compared: a pipespec spec, a Makefile, a Snakefile,
a dvc.yaml. Shapes: ``chain`` (each step needs the previous) and ``fanout`` (independent steps)."""

from __future__ import annotations

from pathlib import Path


def spec(shape: str, n: int, name: str = "bench") -> str:
    lines = ["pipespec: 1", f"name: {name}", "steps:"]
    for i in range(n):
        lines.append(f"  s{i}:")
        lines.append('    run: "true"')
        if shape == "chain" and i:
            lines.append(f"    needs: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def makefile(shape: str, n: int) -> str:
    """Each step makes a file (so make has something to compare for its no-op run)."""
    out = [f"all: {' '.join(f's{i}.done' for i in range(n)) if shape == 'fanout' else f's{n - 1}.done'}", ""]
    for i in range(n):
        dep = f" s{i - 1}.done" if shape == "chain" and i else ""
        out += [f"s{i}.done:{dep}", "\t@touch $@", ""]
    return "\n".join(out)


def snakefile(shape: str, n: int) -> str:
    targets = [f"s{i}.done" for i in range(n)] if shape == "fanout" else [f"s{n - 1}.done"]
    out = ["rule all:", f"    input: {targets!r}", ""]
    for i in range(n):
        out.append(f"rule s{i}:")
        if shape == "chain" and i:
            out.append(f"    input: 's{i - 1}.done'")
        out += [f"    output: 's{i}.done'", "    shell: 'touch {output}'", ""]
    return "\n".join(out)


def dvc_yaml(shape: str, n: int) -> str:
    out = ["stages:"]
    for i in range(n):
        out += [f"  s{i}:", f"    cmd: touch s{i}.done"]
        if shape == "chain" and i:
            out.append(f"    deps: [s{i - 1}.done]")
        out.append(f"    outs: [s{i}.done]")
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
