#!/usr/bin/env python
"""Load Airflow DAG file(s) with the real Airflow 3 DagBag; print a JSON report.

Runs INSIDE the `airflow` env (tests/tooling/envs.py). Usage:
    <airflow-env>/bin/python tests/tooling/check_airflow.py DAG_FILE_OR_DIR [--known-pools a,b]

Report: {"ok", "errors", "warnings", "import_errors", "captured_warnings", "dag_warnings",
"dags": {dag_id: {...}}}. ok only when there is no import error, no captured warning and no
DeprecationWarning on import. With --known-pools, DagBag(known_pools=...) names the DAGs whose
tasks use another pool in "dag_warnings" (Airflow's own check; they do not make ok false).
Exit 0 when ok, 1 when not, 2 on usage errors.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings


def _jsonable(v):
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


def _schedule(dag):
    tt = getattr(dag, "timetable", None)
    sched = getattr(dag, "schedule", None)
    out = {"schedule": _jsonable(sched) if not hasattr(sched, "__dict__") else repr(sched)}
    if tt is not None:
        out["timetable"] = type(tt).__name__
        out["timetable_summary"] = getattr(tt, "summary", None)
    return out


def _params(dag):
    out = {}
    params = getattr(dag, "params", None) or {}
    for name in params:
        p = params.get_param(name) if hasattr(params, "get_param") else params[name]
        value = getattr(p, "value", p)
        try:
            from airflow.sdk.definitions.param import NOTSET  # type: ignore
        except Exception:  # pragma: no cover
            NOTSET = object()
        out[name] = {
            "schema": _jsonable(getattr(p, "schema", {})),
            "default": None if value is NOTSET or repr(value) == "NOTSET" else _jsonable(value),
            "has_default": not (value is NOTSET or repr(value) == "NOTSET"),
            "description": getattr(p, "description", None),
        }
    return out


def _task(t):
    d = {
        "task_id": t.task_id,
        "operator": type(t).__name__,
        "operator_module": type(t).__module__,
        "task_type": getattr(t, "task_type", type(t).__name__),
        "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
        "upstream": sorted(t.upstream_task_ids),
        "downstream": sorted(t.downstream_task_ids),
        "retries": getattr(t, "retries", None),
        "retry_delay": str(getattr(t, "retry_delay", None)),
        "execution_timeout": str(getattr(t, "execution_timeout", None)),
        "pool": getattr(t, "pool", None),
        "pool_slots": getattr(t, "pool_slots", None),
        "queue": getattr(t, "queue", None),
        "owner": getattr(t, "owner", None),
        "mapped": any(c.__name__.endswith("MappedOperator") for c in type(t).__mro__),
        "task_group": getattr(getattr(t, "task_group", None), "group_id", None),
        "is_setup": bool(getattr(t, "is_setup", False)),
        "is_teardown": bool(getattr(t, "is_teardown", False)),
        "on_failure_fail_dagrun": bool(getattr(t, "on_failure_fail_dagrun", False)),
    }
    if d["mapped"]:
        oc = getattr(t, "operator_class", None)
        d["operator"] = getattr(oc, "__name__", None) or d["task_type"]
        d["operator_module"] = getattr(oc, "__module__", d["operator_module"])
    if hasattr(t, "bash_command") and not d["mapped"]:
        d["bash_command"] = _jsonable(t.bash_command)
    return d


def check(path: str, known_pools: list[str] | None = None) -> dict:
    """DagBag-load ``path`` with a throwaway AIRFLOW_HOME, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pipespec-airflow-home-") as home:
        os.environ["AIRFLOW_HOME"] = home
        return _check(path, known_pools)


def _check(path: str, known_pools: list[str] | None = None) -> dict:
    errors: list[str] = []
    warns: list[str] = []
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path)))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.x path
        # Warnings raised while importing Airflow itself are not the DAG's fault: drop them.
        del caught[:]
        bag = DagBag(dag_folder=os.path.abspath(path),
                     known_pools=set(known_pools) if known_pools is not None else None)
    for w in caught:
        msg = f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)) \
                or "Deprecat" in w.category.__name__:
            errors.append("deprecation on import: " + msg)
        else:
            warns.append(msg)
    import_errors = {str(k): str(v) for k, v in bag.import_errors.items()}
    captured = {}
    for k, v in (getattr(bag, "captured_warnings", None) or {}).items():
        captured[str(k)] = [str(x) for x in v]
    for f, e in import_errors.items():
        errors.append(f"import error in {f}: {e}")
    for f, ws in captured.items():
        for w in ws:
            errors.append(f"captured warning in {f}: {w}")
    dag_warnings = sorted(str(w.message) for w in bag.dag_warnings)
    dags = {}
    for dag_id, dag in sorted(bag.dags.items()):
        dags[dag_id] = {
            "dag_id": dag_id,
            "fileloc": dag.fileloc,
            **_schedule(dag),
            "catchup": getattr(dag, "catchup", None),
            "max_active_runs": getattr(dag, "max_active_runs", None),
            "dagrun_timeout": None if getattr(dag, "dagrun_timeout", None) is None else str(dag.dagrun_timeout),
            "owner": getattr(dag, "owner", None),
            "tags": sorted(getattr(dag, "tags", []) or []),
            "params": _params(dag),
            "tasks": {t.task_id: _task(t) for t in dag.tasks},
        }
    if not dags and not import_errors:
        errors.append(f"no DAG found in {path}")
    return {"ok": not errors, "errors": errors, "warnings": warns,
            "import_errors": import_errors, "captured_warnings": captured, "dag_warnings": dag_warnings,
            "dags": dags}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    known_pools = None
    if "--known-pools" in argv:
        i = argv.index("--known-pools")
        if i + 1 >= len(argv):
            print(__doc__, file=sys.stderr)
            return 2
        known_pools = [p for p in argv[i + 1].split(",") if p]
        del argv[i:i + 2]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(argv[0]):
        print(json.dumps({"ok": False, "errors": [f"no such file: {argv[0]}"], "warnings": []}))
        return 1
    from _report import emit, json_stdout
    out = json_stdout()
    report = check(argv[0], known_pools)
    return emit(out, report)


if __name__ == "__main__":
    sys.exit(main())
