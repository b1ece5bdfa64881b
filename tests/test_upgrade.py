"""``pipespec upgrade`` (issue 16 point 4): the migration machinery, proven with migrations that
exist only in this file (there is no language version 2 yet). The edits are made by source span:
every byte outside the renamed keys and the version value is the file as it was written."""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from pipespec import versions
from pipespec.cli import main
from pipespec.syntax import MapNode

SPEC = """\
# team churn -- owned by data-platform
pipespec: 1   # the language version
name: churn
defaults:
  timeout: 10m        # every step
steps:
  fetch:
    run: python fetch.py
    "timeout": 5m
  train: {run: python train.py, timeout: 1h, retries: 2}

  # the report has no timeout of its own
  report:
    run: python report.py
finally:
  notify:
    run: echo done
    timeout: 1m
"""


def rename_timeouts(root, text):
    """1 -> 2 (a test migration): `timeout:` of steps and defaults becomes `time_limit:`."""
    edits = versions.rename_key(root.get("defaults"), "timeout", "time_limit")
    for section in ("steps", "finally"):
        block = root.get(section)
        for _, step in (block.items if isinstance(block, MapNode) else ()):
            edits += versions.rename_key(step, "timeout", "time_limit")
    return edits


def rename_params(root, text):
    """2 -> 3 (a test migration): the top-level `name:` becomes `title:`; it runs on the text
    and tree that the 1 -> 2 step gave."""
    assert "time_limit" in text
    return versions.rename_key(root, "name", "title")


@pytest.fixture
def migrations():
    versions.register(versions.Migration(1, "timeout: is time_limit:", rename_timeouts))
    versions.register(versions.Migration(2, "name: is title:", rename_params))
    try:
        yield
    finally:
        versions.unregister(1)
        versions.unregister(2)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["upgrade", "--color", "never", *map(str, argv)])
    return rc, out.getvalue(), err.getvalue()


EXPECTED = (SPEC.replace("pipespec: 1 ", "pipespec: 3 ").replace("name: churn", "title: churn")
            .replace("  timeout: 10m", "  time_limit: 10m").replace('"timeout": 5m', '"time_limit": 5m')
            .replace("timeout: 1h", "time_limit: 1h").replace("    timeout: 1m", "    time_limit: 1m"))


def test_the_registry_ships_no_migration_beyond_the_language_version():
    """What the package itself registers reaches exactly the version it validates."""
    assert versions.MIGRATIONS == {} and versions.latest() == versions.LANGUAGE_VERSION == 1


def test_upgrade_rewrites_by_span_keeping_comments_and_layout(tmp_path, migrations):
    f = tmp_path / "pipeline.yaml"
    f.write_text(SPEC)
    rc, out, err = run("--check", f)
    assert rc == 1 and f.read_text() == SPEC                  # --check writes nothing
    assert f"{f}: would upgrade, version 1 -> 2 -> 3; run: pipespec upgrade {f}" in err
    assert '-    "timeout": 5m\n-  train: {run: python train.py, timeout: 1h, retries: 2}\n+    "time_limit": 5m\n' in out
    rc, _, err = run(f)
    assert rc == 0 and err == f"upgraded {f}: version 1 -> 2 -> 3\n"
    assert f.read_text() == EXPECTED
    assert "# the report has no timeout of its own" in EXPECTED   # comments are not keys
    rc, _, err = run("--check", f)
    assert rc == 0 and err == f"{f}: at version 3 already\n"


def test_upgrade_keeps_crlf_bom_and_mode(tmp_path, migrations):
    f = tmp_path / "p.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + SPEC.replace("\n", "\r\n").encode())
    os.chmod(f, 0o640)
    assert run(f)[0] == 0
    assert f.read_bytes() == b"\xef\xbb\xbf" + EXPECTED.replace("\n", "\r\n").encode()
    assert os.stat(f).st_mode & 0o777 == 0o640


def test_a_file_that_cannot_be_upgraded_is_e816_and_the_others_are_done(tmp_path, migrations):
    new = tmp_path / "new.yaml"
    new.write_text("pipespec: 7\nname: x\n")
    none = tmp_path / "none.yaml"
    none.write_text("name: x\n")
    text = tmp_path / "text.yaml"
    text.write_text('pipespec: "1"\nname: x\n')
    ok = tmp_path / "ok.yaml"
    ok.write_text(SPEC)
    rc, _, err = run(new, none, text, ok, tmp_path / "missing.yaml")
    assert rc == 1
    assert f"{new}:1:11: error[E816]: cannot upgrade: version 7 is newer than this pipespec knows (3)" in err
    assert f"{none}:1:1: error[E816]: cannot upgrade: the file has no integer `pipespec:` version" in err
    assert f"{text}:1:11: error[E816]: cannot upgrade: the file has no integer `pipespec:` version" in err
    assert f"{tmp_path / 'missing.yaml'}:1:1: error[E111]: cannot read the file" in err
    assert ok.read_text() == EXPECTED


def test_a_migration_whose_edits_break_the_file_writes_nothing(tmp_path):
    """The result is parsed again before the next step and before writing: a broken migration is
    E816, never a corrupt spec."""
    def breaks(root, text):
        return [versions.Edit(root.key_node("name").span, "name: [")]

    versions.register(versions.Migration(1, "a broken one", breaks))
    try:
        f = tmp_path / "p.yaml"
        f.write_text(SPEC)
        rc, _, err = run(f)
    finally:
        versions.unregister(1)
    assert rc == 1 and f.read_text() == SPEC
    assert "error[E816]: cannot upgrade: the migration from version 1 (a broken one) gave a file that does not load" in err


def test_overlapping_edits_are_refused():
    span = versions.Span("f", 1, 1, 1, 5)
    with pytest.raises(ValueError):
        versions.apply("abcdefgh", [versions.Edit(span, "x"), versions.Edit(versions.Span("f", 1, 3, 1, 6), "y")])
    assert versions.apply("abcdefgh", [versions.Edit(span, "x"), versions.Edit(versions.Span("f", 1, 5, 1, 6), "y")]) == "xyfgh"


def test_e208_hint_says_what_to_do(tmp_path, migrations):
    """Version 2 in a file: newer than this pipespec reads; with a migration chain from an old
    version (here: 1 is old once 3 is the newest) the hint names pipespec upgrade."""
    assert "newer than this pipespec reads (1)" in versions.version_hint(2, "p.yaml")
    assert "pip install -U pipespec" in versions.version_hint(2, "p.yaml")
    versions.LANGUAGE_VERSION, saved = 3, versions.LANGUAGE_VERSION
    try:
        assert versions.version_hint(1, "p.yaml") == (
            "version 1 is no longer read; rewrite the file for version 3: pipespec upgrade p.yaml")
    finally:
        versions.LANGUAGE_VERSION = saved
    assert versions.version_hint("1", "p.yaml") == "this pipespec reads version 1: `pipespec: 1`"
