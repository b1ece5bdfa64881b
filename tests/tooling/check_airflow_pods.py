#!/usr/bin/env python
"""Load pipespec's kubernetes-mode DAG files with the real Airflow 3 + cncf-kubernetes provider
and build (not run) the pod of every unmapped PipespecPodOperator and PipespecObservePod task;
print a JSON report.

Runs INSIDE the `airflow-k8s` env (tests/tooling/envs.py). Usage:
    <airflow-k8s-env>/bin/python tests/tooling/check_airflow_pods.py DAG_FOLDER [--run JSON|@FILE]

Each task's own ``execute`` runs (building its arguments and environment from the context, as
on a worker) up to the call of KubernetesPodOperator.execute, which is where a cluster would be
contacted: there the pod is built with ``build_pod_request_obj(dry_run=True)`` and reported
instead. No cluster is contacted, none is faked. The context stands in for a task instance of
one run: ``--run`` gives what the Task SDK would answer it, as JSON ``{"run_id": ..., "xcom":
{task_id: value}, "breadcrumbs": [{"task_id", "map_index", "state", "duration"}], "conf": {param:
value}}`` (default: run manual__2026-01-02T03:04:05+00:00, no XCom, no task states, the params'
defaults).

Report: {"ok", "errors", "warnings", "import_errors", "pods": {"dag_id.task_id": {operator,
image, command, args, env, env_from_secrets, requests, limits, namespace, xcom_sidecar}}}.
(Added by the Airflow backend; the shared verifiers are check_airflow.py and run_airflow.py.)
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import warnings


class _DagRun:
    run_after = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)
    start_date = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


class _TaskInstance:
    """What the tasks' execute() asks of the Task SDK's task instance, answered from ``--run``."""

    def __init__(self, dag_id: str, task_id: str, run: dict) -> None:
        self.dag_id, self.task_id, self.map_index, self.try_number = dag_id, task_id, -1, 1
        self.run_id = run.get("run_id", "manual__2026-01-02T03:04:05+00:00")
        self._run = run

    def xcom_pull(self, task_ids, **_):
        return self._run.get("xcom", {}).get(task_ids)

    def get_task_breadcrumbs(self, dag_id, run_id):
        assert (dag_id, run_id) == (self.dag_id, self.run_id)
        return list(self._run.get("breadcrumbs", []))

    def get_task_states(self, dag_id, run_ids, task_ids, **_):
        assert dag_id == self.dag_id and run_ids == [self.run_id]
        return {self.run_id: {c["task_id"]: c["state"] for c in self._run.get("breadcrumbs", [])
                              if c["task_id"] in task_ids}}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--run"):
        print(__doc__, file=sys.stderr)
        return 2
    run = {}
    if len(argv) == 3:
        if argv[2].startswith("@"):
            with open(argv[2][1:], encoding="utf-8") as f:
                run = json.load(f)
        else:
            run = json.loads(argv[2])
    with tempfile.TemporaryDirectory(prefix="pipespec-airflow-home-") as home:
        os.environ["AIRFLOW_HOME"] = home
        return _main(argv, run)


def _main(argv: list[str], run: dict) -> int:
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from _report import emit, json_stdout
    out = json_stdout()
    errors: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from airflow.dag_processing.dagbag import DagBag
        del caught[:]
        bag = DagBag(dag_folder=os.path.abspath(argv[0]))
    warns = [f"{w.category.__name__}: {w.message}" for w in caught]
    import_errors = {str(k): str(v) for k, v in bag.import_errors.items()}
    errors += [f"import error in {k}: {v}" for k, v in import_errors.items()]
    for k, ws in (getattr(bag, "captured_warnings", None) or {}).items():
        errors += [f"captured warning in {k}: {w}" for w in ws]
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    built = []

    def at_the_cluster(self, context):        # KubernetesPodOperator.execute: where a cluster is needed
        built.append(self.build_pod_request_obj(context, dry_run=True))

    KubernetesPodOperator.execute = at_the_cluster
    pods = {}
    for dag_id, dag in sorted(bag.dags.items()):
        for t in dag.tasks:
            if type(t).__name__ not in ("PipespecPodOperator", "PipespecObservePod"):
                continue
            params = {k: dag.params[k] for k in dag.params}
            params.update(run.get("conf", {}))
            ti = _TaskInstance(dag_id, t.task_id, run)
            ctx = {"run_id": ti.run_id, "dag_run": _DagRun(), "ti": ti, "dag": dag, "params": params}
            del built[:]
            try:
                t.execute(ctx)
            except Exception as e:               # the task would fail on a worker too
                errors.append(f"{dag_id}.{t.task_id}: {type(e).__name__}: {e}")
                continue
            (pod,) = built
            c = pod.spec.containers[0]
            res = c.resources
            pods[f"{dag_id}.{t.task_id}"] = {
                "operator": type(t).__name__,
                "image": c.image, "command": c.command, "args": c.args,
                "namespace": pod.metadata.namespace,
                "requests": dict(res.requests or {}) if res else {},
                "limits": dict(res.limits or {}) if res else {},
                "env": {e.name: e.value for e in (c.env or []) if not e.value_from},
                "env_from_secrets": sorted(
                    f"{e.name}={e.value_from.secret_key_ref.name}/{e.value_from.secret_key_ref.key}"
                    for e in (c.env or []) if e.value_from and e.value_from.secret_key_ref),
                "xcom_sidecar": any(x.name == "airflow-xcom-sidecar" for x in pod.spec.containers),
            }
    report = {"ok": not errors, "errors": errors, "warnings": warns, "import_errors": import_errors,
              "pods": pods}
    return emit(out, json.loads(json.dumps(report, default=repr)))


if __name__ == "__main__":
    sys.exit(main())
