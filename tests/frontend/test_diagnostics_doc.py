"""docs/diagnostics.md documents every code in codes.py, and every example prints exactly what
the page shows.

Conventions (stated at the top of the page): an example is a ```yaml title="FILE"``` block
followed by a ```text``` block whose first line is ``$ pipespec ...``, run in a folder that
holds only FILE; the other lines are its exact standard output (standard error for
``pipespec compile``, whose standard output is the compiled file, and ``pipespec upgrade``). A code without an example
carries ``<!-- no-example: REASON -->``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex

import pytest

from support import ROOT
from pipespec.cli import main
from pipespec.codes import CODES

DOC = ROOT / "docs" / "diagnostics.md"
TEXT = DOC.read_text(encoding="utf-8")

SECTION = re.compile(r"^### ([EW]\d{3}) (\S+)$", re.M)
EXAMPLE = re.compile(r'```yaml title="(?P<file>[^"]+)"\n(?P<yaml>.*?)```\s*```text\n\$ (?P<cmd>[^\n]*)\n(?P<out>.*?)```',
                     re.S)
# The codes without an example, and why: an E105 example would be a 2 MiB file
# (tests/cases/err/e105_file_too_large.yaml covers it). E230 and E231 need a broken backend
# installed (tests/backends/test_third_party_target.py, test_capabilities.py).
# E810 and E813-E815 need a second spec or a compiled file beside FILE (tests/test_check_repo.py).
NO_EXAMPLE = {"E105", "E111", "E800", "E230", "E231", "E810", "E813", "E814", "E815",
              "E830", "E831", "E832", "E833", "E834",   # policies need a pipespec.toml (test_policies.py)
              "E610", "E612", "E613", "E614", "E615", "W611"}  # a Docker daemon, or a file beside FILE (tests/containers)


def sections() -> dict[str, str]:
    heads = list(SECTION.finditer(TEXT))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(TEXT)
        out[m.group(1)] = TEXT[m.start():end]
    return out


def examples():
    for code, body in sections().items():
        for m in EXAMPLE.finditer(body):
            yield pytest.param(code, m.group("file"), m.group("yaml"), m.group("cmd"), m.group("out"),
                               id=f"{code}-{m.group('file')}")


def test_every_code_has_a_section():
    assert sorted(sections()) == sorted(CODES)


def test_no_section_names_an_unknown_code_and_names_match():
    for m in SECTION.finditer(TEXT):
        assert m.group(1) in CODES, m.group(0)
        assert m.group(2) == CODES[m.group(1)][0], m.group(0)


def test_each_section_says_what_and_why():
    for code, body in sections().items():
        assert "**What it finds.**" in body and "**Why it matters.**" in body, code


def test_codes_without_an_example_are_exactly_the_listed_ones_and_say_why():
    without = set()
    for code, body in sections().items():
        if not EXAMPLE.search(body):
            without.add(code)
            m = re.search(r"<!-- no-example: (.+?) -->", body, re.S)
            assert m and m.group(1).strip(), f"{code} has no example and no reason"
    assert without == NO_EXAMPLE


@pytest.mark.parametrize("code, file, yaml, cmd, expected", list(examples()))
def test_example_output_is_what_the_tool_prints(code, file, yaml, cmd, expected, tmp_path):
    (tmp_path / file).write_text(yaml, encoding="utf-8")
    argv = shlex.split(cmd)
    assert argv[0] == "pipespec"
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv[1:])
    finally:
        os.chdir(cwd)
    # compile prints the compiled file on standard output and its diagnostics on standard error;
    # upgrade --check prints the diff on standard output, image the tag
    shown = err.getvalue() if argv[1] in ("compile", "upgrade", "image") else out.getvalue()
    assert shown == expected
    assert f"[{code}]" in expected, f"the example of {code} does not show {code}"
