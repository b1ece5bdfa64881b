"""docs/targets/README.md holds the capability table that `pipespec targets --markdown` prints;
this test fails when they drift (refresh with pytest --update-golden)."""

from __future__ import annotations

import re

from support import ROOT

from pipespec.commands.targets import capability_table

DOC = ROOT / "docs" / "targets" / "README.md"
BLOCK = re.compile(r"(<!-- capability-table -->\n)(.*?)(<!-- /capability-table -->)", re.S)


def test_capability_table_is_current(update_golden):
    text = DOC.read_text(encoding="utf-8")
    m = BLOCK.search(text)
    assert m, "docs/targets/README.md lost its capability-table markers"
    table = capability_table(markdown=True)
    if update_golden:
        DOC.write_text(text[:m.start(2)] + table + text[m.end(2):], encoding="utf-8")
        return
    assert m.group(2) == table, "capability table drifted from the backends; run pytest --update-golden"


def test_every_builtin_backend_declares_every_feature():
    from pipespec import backends
    from pipespec.backends.base import EMULATED, FEATURES, NATIVE, UNSUPPORTED

    for name in backends.available():
        cls = backends.get(name)
        assert set(cls.capabilities) == set(FEATURES), f"{name}: capability table must cover every feature"
        for feat, (level, how) in cls.capabilities.items():
            assert level in (NATIVE, EMULATED, UNSUPPORTED)
            assert how, f"{name}.{feat}: say how ({level})"
