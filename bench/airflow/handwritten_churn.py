"""The churn pipeline as a person would write it by hand for Airflow 3 (bench case 4: the
generated DAG's parse time is compared with this one). Same tasks, same task arguments, same
mapping, gate and exit handler as specs/churn compiled by pipespec; the code is written once per
concept instead of generated. Airflow DAG."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile

from airflow.sdk import DAG, Param, task

SPEC = os.path.join(os.environ.get("PIPESPEC_PROJECT_DIR", "."), "specs/churn/pipeline.yaml")
RETRY = dict(retries=1, retry_delay=datetime.timedelta(seconds=5), retry_exponential_backoff=2.0,
             max_retry_delay=datetime.timedelta(hours=1), execution_timeout=datetime.timedelta(minutes=30))


def _exec(step, context, index=None, status=None):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = ["pipespec", "exec", SPEC, "--step", step, "--run-id", context["run_id"],
               "--params-json", json.dumps(dict(context["params"])), "--result-json", out]
        if index is not None:
            cmd += ["--item-index", str(index)]
        if status is not None:
            cmd += ["--run-status", status]
        subprocess.run(cmd, check=True)
        with open(out) as f:
            return json.load(f)


@task
def run_step(step, index=None, **context):
    return _exec(step, context, index)


@task
def notify(**context):
    states = context["dag_run"].get_task_instances()
    failed = any(ti.state in ("failed", "upstream_failed") for ti in states)
    return _exec("notify", context, status="failed" if failed else "succeeded")


with DAG(
    dag_id="churn_handwritten",
    schedule="0 3 * * *",
    catchup=False,
    params={
        "rows": Param(5000, type="integer", minimum=100),
        "seed": Param(7, type="integer"),
        "test_size": Param(0.2, type="number"),
        "models": Param(["logreg", "forest"], type="array", items={"type": "string"}),
        "n_estimators": Param(200, type="integer", minimum=1),
        "min_auc": Param(0.75, type="number"),
        "registry": Param("registry", type="string"),
        "current_seed": Param(11, type="integer"),
        "drift_shift": Param(0.3, type="number"),
        "psi_threshold": Param(0.2, type="number"),
    },
):
    ingest = run_step.override(task_id="ingest", **RETRY)("ingest")
    prepare = run_step.override(task_id="prepare", **RETRY)("prepare")

    @task
    def models(**context):
        return list(range(len(context["params"]["models"])))

    train_items = models()
    train = run_step.override(task_id="train", **RETRY).partial(step="train").expand(index=train_items)
    evaluate = run_step.override(task_id="evaluate", **RETRY)("evaluate")

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def gate(**context):
        metrics = context["ti"].xcom_pull(task_ids="evaluate")["metrics"]["metrics"]
        return metrics["auc"] >= context["params"]["min_auc"]

    deploy = run_step.override(task_id="deploy", **RETRY)("deploy")
    monitor = run_step.override(task_id="monitor", **RETRY)("monitor")
    done = notify.override(task_id="notify", **RETRY)().as_teardown()

    ingest >> prepare >> [train, train_items]
    [prepare, train] >> evaluate >> gate() >> deploy >> monitor
    main = [ingest, prepare, train_items, train, evaluate, deploy, monitor]
    main >> done
