"""Peers' environments (check-jsonschema, actionlint, yamllint, snakemake, dvc, Airflow + dag-factory, kfp), built once
and reused through the test tooling's cached-venv machinery (tests/tooling/envs.py)."""

from __future__ import annotations

from pathlib import Path

from tests.tooling import envs

HERE = Path(__file__).resolve().parent

BENCH_ENVS = {
    "bench-checkjsonschema": HERE / "requirements-checkjsonschema.txt",
    "bench-actionlint": HERE / "requirements-actionlint.txt",
    "bench-yamllint": HERE / "requirements-yamllint.txt",
    "bench-snakemake": HERE / "requirements-snakemake.txt",
    "bench-dvc": HERE / "requirements-dvc.txt",
    "bench-dagfactory": HERE / "requirements-dagfactory.txt",
}
for _name, _req in BENCH_ENVS.items():
    envs.ENVS.setdefault(_name, {"requirements": _req})


def env_exe(name: str, exe: str) -> str:
    """Path of ``exe`` in the (built on first use) environment ``name``."""
    return str(envs.env_bin(envs.ensure(name, quiet=True), exe))


def env_python(name: str) -> str:
    return str(envs.env_python(envs.ensure(name, quiet=True)))
