"""``pipespec.fastargs`` gives exactly what argparse gives, or hands the command line to it:
compared on generated command lines of every command."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipespec import cli
from pipespec.fastargs import Table, parse


def _argparse(argv: list[str]):
    parser = cli._parser_for(argv)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return vars(parser.parse_args(argv))
        except SystemExit:
            return None


def _tokens(command: str) -> list[str]:
    table = Table()
    try:
        cli._module(command).add_arguments(table)
    except Exception:  # noqa: BLE001 - a command fastargs hands to argparse whole
        return ["x"]
    out = ["spec.yaml", "b.yml", "dir", "", "-", "--", "-h", "--help", "-1", "2", "0", "a b", "x=y",
           "-x", "--nope", "---", "--pa", "--st"]
    for name, opt in table.options.items():
        out.append(name)
        values = [str(c) for c in opt.choices] if opt.choices else ["3", "1.5", "v", "-2", "inf", "k=v"]
        for v in values[:3]:
            out += [v, f"{name}={v}" if name.startswith("--") else f"{name}{v}"]
        if not name.startswith("--"):
            out += [f"{name}=v", name + name[1:], name + "q"]
    return out


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_fastargs_agrees_with_argparse(command):
    tokens = _tokens(command)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(tokens), max_size=7))
    def agree(rest):
        fast = parse(command, cli._module(command).add_arguments, rest)
        if fast is None:
            return
        assert vars(fast) == _argparse([command, *rest]), rest

    agree()


@pytest.mark.parametrize("argv", [
    ["validate", "-q", "a.yaml", "b.yaml"],
    ["validate", "a.yaml", "--format", "json", "-t", "airflow", "--target=kubeflow", "--strict"],
    ["run", "p.yaml", "-j", "2", "--explain", "-p", "n=3", "--param=m=4", "--kill-grace", "0.5"],
    ["run", "-j2", "--from", "train", "p.yaml"],
])
def test_plain_command_lines_take_the_fast_path(argv):
    fast = parse(argv[0], cli._module(argv[0]).add_arguments, argv[1:])
    assert fast is not None
    assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", [
    ["validate"], ["validate", "a", "-q", "b"], ["validate", "--form", "json", "a"], ["run", "p", "q"],
    ["run", "p", "-j", "x"], ["run", "p", "--progress", "nope"], ["validate", "-qt", "airflow", "a"],
    ["run", "p", "-j=2"], ["validate", "--", "a"], ["validate", "--strict=1", "a"],
])
def test_what_argparse_must_explain_goes_to_argparse(argv):
    assert parse(argv[0], cli._module(argv[0]).add_arguments, argv[1:]) is None


def test_validate_does_not_import_argparse():
    from support import SPECS

    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipespec", "validate", "-q",
                        str(SPECS / "churn" / "pipeline.yaml")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    mods = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "pipespec.frontend" in mods
    assert not mods & {"argparse", "gettext", "shutil"}


def test_usage_errors_still_read_as_argparse_wrote_them():
    r = subprocess.run([sys.executable, "-m", "pipespec", "validate", "--form", "xml", "a.yaml"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "invalid choice: 'xml'" in r.stderr
