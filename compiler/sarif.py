"""``--format sarif``: diagnostics as a SARIF 2.1.0 log (OASIS Static Analysis Results
Interchange Format), the format code-scanning UIs read (GitHub's ``upload-sarif``, editors).

One run: ``tool.driver`` names pipespec and lists every rule (the codes of ``codes.CODES``, and
the policy codes the results use), each with its summary, default level and the page that
documents it; each result has its rule, level, message (with the help and notes, which SARIF
results have no field for) and the region of the span. Columns count Unicode code points from 1
and ``endColumn`` is the first column after the region, as in SARIF's default ``columnKind``
and in our ``Span``. tests/frontend/test_sarif.py holds the output to the official schema."""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from .codes import CODES, ERROR, PLUGIN_CODES, entry

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {ERROR: "error"}                   # every other severity is a warning


def _uri(path: str) -> str:
    """A file as a URI reference: relative paths stay relative (to the folder the check ran in,
    which code scanning takes as the repository root), absolute ones are file: URIs."""
    posix = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return "file://" + quote(posix)
    return quote(posix)


def _rule(code: str) -> dict:
    name, severity, summary = entry(code)
    rule = {"id": code, "name": name, "shortDescription": {"text": summary},
            "defaultConfiguration": {"level": LEVEL.get(severity, "warning")}}
    if code in CODES:
        rule["help"] = {"text": f"{summary}: docs/diagnostics.md#{code.lower()}-{name}"}
    else:
        rule["help"] = {"text": f"{summary}: a rule of the repository's policies (pipespec.toml; docs/policies.md)"}
    return rule


def render(diags, sources=None, color: bool = False) -> str:
    from . import __version__

    codes = list(CODES) + sorted({d.code for d in diags if d.code in PLUGIN_CODES})
    index = {c: i for i, c in enumerate(codes)}
    results = []
    for d in diags:
        s = d.span
        text = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        region = {"startLine": max(1, s.line), "startColumn": max(1, s.col),
                  "endLine": max(1, s.end_line, s.line), "endColumn": max(1, s.end_col)}
        results.append({
            "ruleId": d.code, "ruleIndex": index[d.code], "level": LEVEL.get(d.severity, "warning"),
            "message": {"text": text},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(s.file)}, "region": region}}],
        })
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pipespec", "version": __version__, "semanticVersion": __version__,
                                "rules": [_rule(c) for c in codes]}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2) + "\n"
