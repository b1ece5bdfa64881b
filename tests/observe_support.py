"""What the targets' observe tests share (tests/backends/test_{airflow,github,kubeflow}_observe.py):
the `watched` test spec (a step that fails when `fail` is true, a Slack and a PagerDuty channel
for failure and recovery, tracking, a Pushgateway), its secrets' values, and the MLflow parent
runs read back. The servers themselves are tests/integrations/servers.py's."""

from __future__ import annotations

import pathlib

PD_KEY = "PDKEY0123456789abcdef0123456789ab"
SLACK_TOKEN = "SL4CK-path-5ecret-77aa"

WATCHED = """\
pipespec: 1
name: watched
params:
  fail: {type: bool, default: false}
secrets:
  slack_hook: {env: SLACK_HOOK}
  pd_key: {env: PD_KEY, github: PAGERDUTY_KEY}
steps:
  evaluate:
    run: |
      test ${{ params.fail }} = false || exit 1
      printf '{"auc": 0.7}' > ${{ outputs.scores }}
    outputs: {scores: metrics}
  report:
    needs: [evaluate]
    run: echo report
notify:
  channels:
    team: {type: slack, secret: slack_hook}
    oncall: {type: pagerduty, secret: pd_key, severity: critical, url: "PD_URL"}
  on_failure: [oncall, team]
  on_recovery: [oncall, team]
WHEN\
tracking:
  mlflow: {uri: "MLFLOW_URI", experiment: watched}
metrics:
  pushgateway: "PUSH_URL"
"""

# a metric condition (the auc of 0.7 is below it): Airflow carries it out, Kubeflow says W701
WHEN = """\
  when:
    - if: ${{ steps.evaluate.outputs.scores.auc < 0.8 }}
      send: [team]
      message: AUC below 0.8
"""


def watched(url: str, mlflow_uri: str, *, push_url: str | None = None, when: bool = False, tail: str = "") -> str:
    """The spec, PagerDuty at ``url``/v2/enqueue, pushes to ``push_url`` (default ``url``)."""
    return (WATCHED.replace("PD_URL", url + "/v2/enqueue").replace("PUSH_URL", push_url or url)
            .replace("MLFLOW_URI", mlflow_uri).replace("WHEN", WHEN if when else "") + tail)


def write_watched(proj: pathlib.Path, url: str, mlflow_uri: str, **kw) -> pathlib.Path:
    spec = proj / "pipeline.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(watched(url, mlflow_uri, **kw))
    return spec


def parents(uri: str, experiment: str = "watched") -> list:
    """The parent runs (no mlflow.parentRunId) of ``experiment`` in the store at ``uri``."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(experiment)
    return [r for r in c.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]


def compile_kubeflow(spec: pathlib.Path, out: pathlib.Path) -> tuple[list, object]:
    """``spec`` compiled for Kubeflow into ``out``: the diagnostics compile says (the backend's and
    W701-W704 of what the target does not carry out) and the pipeline."""
    from pipespec.backends.base import CompileOptions
    from pipespec.backends.kubeflow import KubeflowBackend
    from pipespec.frontend import load_spec
    from pipespec.integrations.targets import not_carried_out

    res = load_spec(str(spec))
    assert res.ok, [d.message for d in res.diagnostics]
    r = KubeflowBackend().compile(res.pipeline, CompileOptions(spec.name, None))
    assert r.ok, [d.message for d in r.diagnostics]
    out.write_text(r.text)
    return list(r.diagnostics) + not_carried_out(res.pipeline, "kubeflow"), res.pipeline
