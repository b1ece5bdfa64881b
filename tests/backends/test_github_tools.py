"""The GitHub Actions backend checked by the real tools (tests/tooling): GitHub's own workflow
parser, the SchemaStore workflow schema (check-jsonschema), actionlint, and nektos/act running
the compiled churn workflow on this machine. All slow: the first run builds the tool env."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from support import ROOT, example_specs

from pipespec.backends.base import CompileOptions
from pipespec.backends.github import GithubBackend, dump
from pipespec.frontend import load_spec
from tooling import verify

pytestmark = pytest.mark.slow

KITCHEN_SINK = """\
pipespec: 1
name: kitchen-sink
description: Every construct the GitHub backend maps.
schedule: "@daily"
params:
  mode: {type: string, enum: [fast, full], default: fast}
  label: {type: string, default: ""}
  threshold: {type: float, default: 0.5}
  limit: {type: int, default: 3, minimum: 1}
  verbose: {type: bool, default: false}
  sizes: {type: list, items: int, default: [1, 2, 3]}
  opts: {type: map, default: {depth: 2}}
secrets:
  token: {description: API token, github: API_TOKEN, env: API_TOKEN}
steps:
  plan:
    run: |
      echo "shards=[10, 20]" >> "$PIPESPEC_OUTPUT"
      echo "score=0.75" >> "$PIPESPEC_OUTPUT"
      echo "tag=release" >> "$PIPESPEC_OUTPUT"
    outputs: {shards: list, score: float, tag: string}
  shard:
    foreach: ${{ steps.plan.outputs.shards }}
    parallelism: 2
    run: ["sh", "-c", "echo shard ${{ item }} > ${{ outputs.part }}"]
    outputs: {part: file}
  sized:
    foreach: ${{ params.sizes }}
    run: echo "size ${{ item }} $LABEL $LIMIT $OPTS"
    env: {LABEL: "${{ params.label }}", LIMIT: "${{ params.limit }}", OPTS: "${{ params.opts }}"}
  fixed:
    foreach: [a, b, a]
    run: echo "${{ item }}"
  report:
    if: ${{ steps.plan.outputs.score > params.threshold && startsWith(steps.plan.outputs.tag, 'rel') && !params.verbose }}
    run: cat "${{ steps.shard.outputs.part[0] }}"
    env:
      TOKEN: ${{ secrets.token }}
    outputs: {summary: metrics}
    image: python:3.11-slim
  train:
    needs: [report]
    if: ${{ steps.report.outputs.summary.acc >= 0.9 || params.mode == 'full' }}
    run: echo train
    resources: {gpu: 1, cpu: 4, memory: 16Gi}
    timeout: 2h
    retries: {limit: 2, delay: 1m, backoff: 2}
finally:
  cleanup:
    run: echo "cleanup after ${{ run.status }}"
targets:
  github:
    runners:
      - {runs_on: [self-hosted, linux, x64], gpu: 1, cpu: 8, memory: 32Gi}
    push: {branches: [main]}
    pull_request: {branches: [main]}
    fail_if_skipped: [train]
"""


def _compile(spec: Path, spec_path: str | None = None) -> str:
    res = load_spec(str(spec))
    assert res.pipeline is not None, [d.message for d in res.diagnostics]
    r = GithubBackend().compile(res.pipeline, CompileOptions(spec_path=spec_path or str(spec)))
    assert r.ok, [(d.code, d.message) for d in r.diagnostics]
    return r.text


def _check(path: Path) -> None:
    rep = verify.github_check(path)
    assert set(rep["checkers"]) == {"parser", "schema", "actionlint"}
    assert rep["ok"], rep["errors"]


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_examples_pass_every_checker(spec, tmp_path):
    out = tmp_path / f"{spec.parent.name}.yml"
    out.write_text(_compile(spec, str(spec.relative_to(ROOT))))
    _check(out)


@pytest.mark.parametrize("target", ["", "    setup: false\n    artifact_root: s3://bucket/runs\n"])
def test_kitchen_sink_passes_every_checker(tmp_path, target):
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(KITCHEN_SINK + target)
    out = tmp_path / "wf.yml"
    out.write_text(_compile(spec, "ml/pipeline.yaml"))
    _check(out)


def test_checkers_catch_what_the_backend_avoids(tmp_path):
    """Negative control: the same workflow with an expression moved into run: is flagged."""
    out = tmp_path / "wf.yml"
    doc = yaml.safe_load(_compile(ROOT / "specs/hello/pipeline.yaml", "specs/hello/pipeline.yaml"))
    doc["jobs"]["greet"]["steps"][-2]["run"] = 'echo "${{ github.event.head_commit.message }}"\n'
    out.write_text(dump(doc))
    rep = verify.github_check(out)
    assert not rep["checkers"]["actionlint"]["ok"]
    assert any("potentially untrusted" in e for e in rep["checkers"]["actionlint"]["errors"])


# -- running for real with nektos/act ----------------------------------------------------------
def _churn_copy(tmp_path: Path) -> tuple[Path, Path]:
    """specs/churn with targets.github for this host: no setup (pipespec is on PATH), artifacts
    through a local artifact root (no remote action)."""
    d = tmp_path / "churn"
    d.mkdir()
    shutil.copy(ROOT / "specs/churn/steps.py", d)
    text = (ROOT / "specs/churn/pipeline.yaml").read_text()
    assert "\ntargets:" not in text
    root = tmp_path / "root"
    # a self-hosted runner whose working directory is not the project: the spec's absolute path
    (d / "pipeline.yaml").write_text(text + f"\ntargets:\n  github:\n    setup: false\n    artifact_root: {root}\n"
                                     f"    spec_path: {d / 'pipeline.yaml'}\n")
    return d / "pipeline.yaml", root


def _local_run(spec: Path, store: Path, params: dict) -> dict:
    """(step, index) -> {"values", "metrics"} of a `pipespec run` of the same spec and params."""
    from pipespec.runner.records import Records

    cmd = [sys.executable, "-m", "pipespec", "run", str(spec), "--store", str(store), "--progress", "plain"]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    rec = Records(str(store))
    run = rec.runs(1)[0]
    out = {}
    for e in rec.executions(run["id"]):
        if e["status"] == "succeeded":
            out[(e["step"], None if e["item_index"] < 0 else e["item_index"])] = {
                "values": json.loads(e["values_json"]), "metrics": json.loads(e["metrics_json"])}
    return out


def _act_results(root: Path) -> dict:
    """(step, index) -> {"values", "metrics"} the act run left in the artifact root."""
    # _pipespec: where the finish job keeps the run's status for the next run's on_recovery
    (run,) = [p for p in root.iterdir() if p.is_dir() and p.name != "_pipespec"]
    out = {}
    for f in sorted(run.glob("*/*/_values.json")):
        data = json.loads(f.read_text())
        slot = f.parent.name
        out[(f.parent.parent.name, None if slot == "_" else int(slot))] = {
            "values": data["values"], "metrics": data["metrics"]}
    return out


def _comparable(results: dict) -> dict:
    # deploy.uri names the registry folder, which is relative to where the step ran
    return {k: {"values": {n: v for n, v in r["values"].items() if (k[0], n) != ("deploy", "uri")},
                "metrics": r["metrics"]} for k, r in results.items()}


@pytest.mark.parametrize("params, deployed", [({}, True), ({"min_auc": 0.99}, False)],
                         ids=["default", "gate-closed"])
def test_churn_runs_under_act_like_pipespec_run(tmp_path, params, deployed):
    spec, root = _churn_copy(tmp_path)
    wf = tmp_path / "churn.yml"
    wf.write_text(_compile(spec))
    rep = verify.act_run(wf, params, workdir=tmp_path / "act", timeout=600)
    skipped = {"deploy", "monitor"}
    expected = {j: ("skipped" if j in skipped and not deployed else "success")
                for j in ("ingest", "prepare", "train", "evaluate", "deploy", "monitor", "notify")}
    # the example's notify:/metrics:/tracking: the run's boundary jobs around the steps
    expected = {"pipespec__start": "success", **expected, "pipespec__finish": "success"}
    assert rep["jobs"] == expected, rep.get("errors") or rep["_stderr"]
    assert rep["ok"], rep["errors"]
    assert rep["legs"]['train (item="logreg")'] == rep["legs"]['train (item="forest")'] == "success"

    act = _act_results(root)
    # the finish job ran pipespec observe finish: it kept this run's status for the next run
    assert (root / "_pipespec" / "observe" / "churn" / "github.json").is_file()
    local = _local_run(spec, tmp_path / "store", params)
    assert _comparable(act) == _comparable(local)
    metrics = act[("evaluate", None)]["metrics"]["metrics"]
    assert json.loads(rep["job_outputs"]["evaluate"]["metrics"]) == metrics
    assert (metrics["auc"] >= params.get("min_auc", 0.75)) == deployed
    assert (("deploy", None) in act) == deployed and (("monitor", None) in act) == deployed
    assert ("notify", None) in act


SCHEDULED = textwrap.dedent("""\
    pipespec: 1
    name: scheduled
    schedule: "0 6 * * *"
    params:
      limit: {type: int, default: 900}
      flag: {type: bool, default: true}
    steps:
      count:
        run: echo "n=1000" >> "$PIPESPEC_OUTPUT"
        outputs: {n: int}
      big:
        if: ${{ steps.count.outputs.n >= params.limit && params.flag }}
        run: echo big
      small:
        if: ${{ steps.count.outputs.n < params.limit }}
        run: echo small
    """)


@pytest.mark.parametrize("event, inputs, big", [("schedule", {}, True),
                                                ("workflow_dispatch", {"limit": 2000}, False)])
def test_defaults_apply_on_scheduled_runs(tmp_path, event, inputs, big):
    """On schedule, inputs.* is null: the written-out defaults decide, and numbers compare as
    numbers ('1000' >= '900' is false as text)."""
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SCHEDULED + f"targets:\n  github: {{setup: false, artifact_root: {tmp_path / 'root'}, "
                    f"spec_path: {spec}}}\n")
    wf = tmp_path / "scheduled.yml"
    wf.write_text(_compile(spec))
    rep = verify.act_run(wf, inputs, workdir=tmp_path / "act", event=event, timeout=300)
    assert rep["ok"], rep["errors"] or rep["_stderr"]
    assert rep["jobs"] == {"count": "success", "big": "success" if big else "skipped",
                           "small": "skipped" if big else "success"}


REUSABLE = textwrap.dedent("""\
    pipespec: 1
    name: team-b
    params:
      limit: {type: int, default: 900}
      mode: {type: string, enum: [fast, full], default: fast}
    steps:
      count:
        run: echo "n=1000" >> "$PIPESPEC_OUTPUT"
        outputs: {n: int}
      big:
        if: ${{ steps.count.outputs.n >= params.limit && params.mode == 'full' }}
        run: echo big
    """)

CALLER = textwrap.dedent("""\
    name: platform
    on: push
    permissions: {}
    jobs:
      team-b:
        uses: ./.github/workflows/team-b.yml
        {with_}
    """)


@pytest.mark.parametrize("with_, big", [("with: {limit: 5, mode: full}", True), ("", False)])
def test_a_called_workflow_reads_the_callers_inputs(tmp_path, with_, big):
    """The pitfall of workflow_call: the caller runs on push, and in the called workflow
    github.event_name is 'push' too; the inputs it passes must still decide (limit 5 and full:
    big runs; without them the defaults 900 and fast: it is skipped)."""
    spec = tmp_path / "pipeline.yaml"
    root = tmp_path / "root"
    spec.write_text(REUSABLE + f"targets:\n  github: {{setup: false, workflow_call: true, artifact_root: {root}, "
                    f"spec_path: {spec}}}\n")
    callee = tmp_path / "team-b.yml"
    callee.write_text(_compile(spec))
    _check(callee)
    caller = tmp_path / "platform.yml"
    caller.write_text(CALLER.replace("{with_}", with_))
    rep = verify.act_run(caller, {}, workdir=tmp_path / "act", event="push", timeout=300,
                         files=[f"{callee}:.github/workflows/team-b.yml"])
    assert rep["ok"], rep["errors"] or rep.get("_stderr")
    ran = _act_results(root)
    assert ("count", None) in ran
    assert (("big", None) in ran) == big, sorted(ran)


def test_a_reusable_workflow_still_runs_on_dispatch(tmp_path):
    """Dispatched (act passes the inputs as text), the same params decide as when called."""
    spec = tmp_path / "pipeline.yaml"
    root = tmp_path / "root"
    spec.write_text(REUSABLE + f"targets:\n  github: {{setup: false, workflow_call: true, artifact_root: {root}, "
                    f"spec_path: {spec}}}\n")
    callee = tmp_path / "team-b.yml"
    callee.write_text(_compile(spec))
    rep = verify.act_run(callee, {"limit": 5, "mode": "full"}, workdir=tmp_path / "act", timeout=300)
    assert rep["ok"], rep["errors"] or rep.get("_stderr")
    assert rep["jobs"] == {"count": "success", "big": "success"}
