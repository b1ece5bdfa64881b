"""docs/grafana/pipespec-dashboard.json reads only metrics that pipespec writes, with labels it
sets: a renamed metric or label breaks this test, not the dashboard in silence."""

from __future__ import annotations

import json
import pathlib
import re

from pipespec.integrations.prometheus import FAMILIES

DASH = pathlib.Path(__file__).resolve().parents[2] / "docs" / "grafana" / "pipespec-dashboard.json"
LABELS = {"pipeline", "target", "step", "item", "output", "metric"}


def test_dashboard_reads_only_exported_metrics_and_labels():
    dash = json.loads(DASH.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs.append(dash["templating"]["list"][1]["query"]["query"])
    used = set()
    for e in exprs:
        for name in re.findall(r"\b(pipespec_[a-z_]+)", e):
            assert name in FAMILIES, f"{name} is not a metric pipespec writes"
            used.add(name)
        for labels in re.findall(r"\{([^}]*)\}", re.sub(r"\{\{[^}]*\}\}", "", e)):
            for label in re.findall(r"([a-z_]+)\s*=~?", labels):
                assert label in LABELS, f"{label} is not a label pipespec sets"
        for words in re.findall(r"by \(([^)]*)\)", e):
            assert {w.strip() for w in words.split(",")} <= LABELS
    for p in dash["panels"]:
        for t in p["targets"]:
            for label in re.findall(r"\{\{(\w+)\}\}", t["legendFormat"]):
                assert label in LABELS
    assert used == set(FAMILIES), f"metrics without a panel: {sorted(set(FAMILIES) - used)}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
