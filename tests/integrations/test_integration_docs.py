"""docs/integrations/*.md: each page's example is run as written, and what the page says comes
out does.

A page marks its example with HTML comments before a fenced block: ``<!-- file: NAME -->``
(the block is the file NAME of the example's folder), ``<!-- run -->`` (a ``sh`` block: one
command a line, ``VAR=value`` prefixes allowed, ``# exit N`` for a non-zero exit), ``<!-- expect:
PATH -->`` (lines the file PATH holds afterwards) and ``<!-- expect-json -->`` (the shape of a
JSON log record the commands print)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "integrations"
_MARK = re.compile(r"^<!-- (file: (\S+)|run|expect: (\S+)|expect-json) -->$")


def blocks(page: str) -> list[tuple[str, str | None, str]]:
    """(kind, argument, body) of every marked block of a page, in order."""
    lines = (DOCS / page).read_text(encoding="utf-8").split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _MARK.match(lines[i])
        if m:
            assert lines[i + 1].startswith("```"), f"{page}:{i + 2}: a marker must sit right above a fence"
            j = i + 2
            while lines[j] != "```":
                j += 1
            kind = "file" if m.group(2) else "expect" if m.group(3) else m.group(1)
            out.append((kind, m.group(2) or m.group(3), "\n".join(lines[i + 2:j]) + "\n"))
            i = j
        i += 1
    return out


def example(page: str, folder: pathlib.Path, subst: dict[str, str] | None = None) -> list[subprocess.CompletedProcess]:
    """Write the page's files into ``folder`` and run its commands there, each with the exit
    status the page gives it; the results."""
    results = []
    for kind, arg, body in blocks(page):
        if kind == "file":
            (folder / arg).write_text(body, encoding="utf-8")
    for kind, _arg, body in blocks(page):
        if kind != "run":
            continue
        for line in body.splitlines():
            cmd, _, comment = line.partition("   # ")
            if not cmd.strip():
                continue
            m = re.fullmatch(r"exit (\d+)(?::.*)?", comment.strip())
            expected = int(m.group(1)) if m else 0
            for k, v in (subst or {}).items():
                cmd = cmd.replace(k, v)
            words = shlex.split(cmd)
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PIPESPEC_", "MLFLOW_", "ALERT_")) and k != "GITHUB_OUTPUT"}
            while "=" in words[0] and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                k, _, v = words.pop(0).partition("=")
                env[k] = v
            prog = {"pipespec": [sys.executable, "-m", "pipespec"], "python3": [sys.executable]}[words[0]]
            r = subprocess.run(prog + words[1:], cwd=folder, capture_output=True, text=True, timeout=300, env=env)
            assert r.returncode == expected, (line, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
            assert "Traceback" not in r.stderr, r.stderr
            results.append(r)
    return results


def test_every_page_has_a_runnable_example():
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert pages == ["alerts.md", "logs.md", "mlflow.md", "prometheus.md"]
    for page in pages:
        kinds = [k for k, _, _ in blocks(page)]
        assert "file" in kinds and "run" in kinds, page


def test_alerts_example(tmp_path):
    from servers import Recorder

    rec = Recorder().start()
    try:
        compile((dict((a, b) for k, a, b in blocks("alerts.md") if k == "file"))["receive.py"], "receive.py", "exec")
        port = rec.url.rsplit(":", 1)[1]
        first, second, third = example("alerts.md", tmp_path, {"127.0.0.1:8765": f"127.0.0.1:{port}"})
    finally:
        rec.stop()
    got = [r.json() for r in rec.requests]
    assert [(a["event"], a["status"]) for a in got] == [("failure", "failed"), ("recovery", "succeeded"),
                                                        ("condition", "succeeded")]
    assert got[0]["failed_steps"] == ["evaluate"] and got[2]["message"] == "AUC below 0.8"
    assert all(set(a) == {"pipeline", "step", "event", "status", "run_id", "target", "message", "failed_steps",
                          "started", "ended"} and a["pipeline"] == "nightly" for a in got)
    assert ("pipespec: warning: the failure alert to channel 'team' (webhook) was not sent: its secret "
            "'alert_url' is not set") in third.stderr


def test_prometheus_example(tmp_path):
    parser = pytest.importorskip("prometheus_client.parser")
    run, show = example("prometheus.md", tmp_path)
    text = (tmp_path / "metrics" / "nightly.prom").read_text()
    assert show.stdout.strip() == text.strip()
    [(_, path, expected)] = [b for b in blocks("prometheus.md") if b[0] == "expect"]
    assert path == "metrics/nightly.prom"
    lines = set(text.splitlines())
    for line in expected.splitlines():
        assert line in lines, line
    names = {f.name for f in parser.text_string_to_metric_families(text)}
    assert {"pipespec_run_last_success_timestamp_seconds", "pipespec_step_attempts", "pipespec_model_metric"} <= names


def _shape(rec: dict) -> dict:
    """A record without what changes from run to run (times, durations, ids)."""
    out = json.loads(json.dumps(rec))
    out.pop("@timestamp")
    out.get("event", {}).pop("duration", None)
    out.get("labels", {}).pop("run_id", None)
    out["message"] = re.sub(r"\d+\.\d+s|\.pipespec/logs/[^/]+/", "", out["message"])
    return out


def test_logs_example(tmp_path):
    ok, failed, exec_ = example("logs.md", tmp_path)
    [want_run, want_exec] = [json.loads(b) for k, _, b in blocks("logs.md") if k == "expect-json"]
    recs = [json.loads(x) for x in failed.stdout.splitlines()]
    run_id = recs[0]["labels"]["run_id"]
    want_run["message"] = want_run["message"].replace("<run>", run_id)
    [evaluate] = [r for r in recs if r["labels"].get("step") == "evaluate"]
    assert _shape(evaluate) == _shape(want_run)
    assert all(json.loads(x)["ecs.version"] == "1.6.0" for x in ok.stdout.splitlines())
    [got] = [json.loads(x) for x in exec_.stderr.splitlines() if x.startswith("{")]
    assert _shape(got) == _shape(want_exec) and got["labels"]["run_id"] == "manual-1"


@pytest.mark.slow
def test_mlflow_example(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow.tracking import MlflowClient

    run, show = example("mlflow.md", tmp_path)
    out = show.stdout.splitlines()
    assert "train[forest] FINISHED {'auc': 0.9}" in out and "train[logreg] FINISHED {'auc': 0.7}" in out
    assert "tracked FINISHED {'candidates': 2.0}" in out
    c = MlflowClient(f"sqlite:///{tmp_path / '.pipespec' / 'mlflow.db'}")
    eid = c.get_experiment_by_name("tracked").experiment_id
    [pick] = [r for r in c.search_runs([eid]) if r.info.run_name == "pick"]
    assert out[-1] == f"champion: version 1 of run {pick.info.run_id}"
    example("mlflow.md", tmp_path)                      # again: cached, a second parent, no new version
    assert [str(v.version) for v in c.search_model_versions("name = 'tracked'")] == ["1"]
    assert len([r for r in c.search_runs([eid]) if r.info.run_name == "tracked"]) == 2
