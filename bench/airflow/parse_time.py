"""Runs inside the Airflow venv: DagBag parse time of each DAG file, after a warm-up parse that
pays the one-off imports. Prints JSON {file: {"median": s, "tasks": n}}."""
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["DO_NOT_TRACK"] = "True"
os.environ["SCARF_NO_ANALYTICS"] = "True"

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

reps = int(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    bag = DagBag(dag_folder=path)
    if bag.import_errors or not bag.dags:
        raise SystemExit(f"{path}: {bag.import_errors or 'no DAG'}")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        bag = DagBag(dag_folder=path)
        times.append(time.perf_counter() - t0)
    out[path] = {"median": statistics.median(times), "tasks": sum(len(d.tasks) for d in bag.dags.values())}
print(json.dumps(out))
