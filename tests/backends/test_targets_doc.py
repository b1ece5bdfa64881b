"""docs/targets/ kept true to the code.

- README.md holds the capability table that `pipespec targets --markdown` prints; the test
  fails when they drift (refresh with pytest --update-golden).
- Each target page's "Deploying for real" section quotes lines of a compiled file after an
  `<!-- emitted by: pipespec compile SPEC -t TARGET -->` marker: every quoted line (stripped)
  must occur in what that compile writes today, and every test file the section cites must exist.
"""

from __future__ import annotations

import re

import pytest

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


# -- "Deploying for real" (issue 12.7): every line a section quotes from a compiled file is in
# what `pipespec compile` writes today, and every test file it cites exists.
DEPLOY = "\n## Deploying for real\n"
EMITTED = re.compile(r"<!-- emitted by: pipespec compile (\S+) -t (\w+) -->\n```\w*\n(.*?)```", re.S)


def _compiled(spec: str, target: str) -> str:
    from pipespec import backends
    from pipespec.backends.base import CompileOptions
    from pipespec.frontend import load_spec

    res = load_spec(str(ROOT / spec))
    assert res.ok, [d.message for d in res.diagnostics]
    r = backends.get(target)().compile(res.pipeline, CompileOptions(spec_path=str(ROOT / spec)))
    assert r.ok, [d.message for d in r.diagnostics]
    return r.text


@pytest.mark.parametrize("target", ["airflow", "kubeflow", "github"])
def test_deploying_for_real_quotes_what_compile_emits(target):
    text = (ROOT / "docs" / "targets" / f"{target}.md").read_text(encoding="utf-8")
    assert DEPLOY in text, f"docs/targets/{target}.md has no 'Deploying for real' section"
    section = text.split(DEPLOY, 1)[1].split("\n## ", 1)[0]
    blocks = EMITTED.findall(section)
    assert blocks, "the section quotes no compiled lines (<!-- emitted by: pipespec compile SPEC -t T -->)"
    for spec, tgt, body in blocks:
        assert tgt == target
        out = _compiled(spec, tgt)
        quoted = [ln.strip() for ln in body.splitlines() if ln.strip() and ln.strip() != "..."]
        assert quoted
        missing = [ln for ln in quoted if ln not in out]
        assert not missing, f"docs/targets/{target}.md quotes lines that {spec} -t {tgt} does not emit: {missing}"
    cited = set(re.findall(r"`(tests/[\w/.]+\.py)", section))
    assert cited, "the section names no test"
    assert all((ROOT / p).is_file() for p in cited), sorted(p for p in cited if not (ROOT / p).is_file())
