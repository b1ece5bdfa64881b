#!/usr/bin/env python
"""Load pipespec's kubernetes-mode DAG files with the real Airflow 3 + cncf-kubernetes provider
and build (not run) the pod of every unmapped PipespecPodOperator task; print a JSON report.

Runs INSIDE the `airflow-k8s` env (tests/tooling/envs.py). Usage:
    <airflow-k8s-env>/bin/python tests/tooling/check_airflow_pods.py DAG_FOLDER

Report: {"ok", "errors", "warnings", "import_errors", "pods": {"dag_id.task_id": {image, command,
args, resources, env_from_secrets, namespace, xcom_sidecar}}}. No cluster is contacted:
KubernetesPodOperator.build_pod_request_obj only assembles the V1Pod.
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pipespec-airflow-home-") as home:
        os.environ["AIRFLOW_HOME"] = home
        return _main(argv)


def _main(argv: list[str]) -> int:
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
    pods = {}
    for dag_id, dag in sorted(bag.dags.items()):
        for t in dag.tasks:
            if type(t).__name__ != "PipespecPodOperator":
                continue
            mod = sys.modules[type(t).__module__]
            ti = type("TI", (), {"dag_id": dag_id, "task_id": t.task_id, "map_index": -1, "try_number": 1})()
            ctx = {"run_id": "manual__2026-01-02T03:04:05+00:00", "dag_run": _DagRun(), "ti": ti, "dag": dag,
                   "params": {k: dag.params[k] for k in dag.params}}
            t.arguments = mod._exec_args(t.step, ctx, "/airflow/xcom/return.json", t.index)
            pod = t.build_pod_request_obj(ctx, dry_run=True)  # dry run: no cluster client
            c = pod.spec.containers[0]
            res = c.resources
            pods[f"{dag_id}.{t.task_id}"] = {
                "image": c.image, "command": c.command, "args": c.args,
                "namespace": pod.metadata.namespace,
                "requests": dict(res.requests or {}) if res else {},
                "limits": dict(res.limits or {}) if res else {},
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
