"""Issue 14's "every target": the churn example (tracking, the champion alias, alerts, metrics)
runs on the local runner, `airflow dags test`, a real Airflow scheduler, kfp.local and act,
each against one real `mlflow server` and one real HTTP receiver on 127.0.0.1 — a failed run
(`models=[logreg,svm]`), then a successful one (the defaults) — and the same MLflow runs, the
same registered versions and the same alerts come out of each (harness: every_target.py).

What each target produced is written side by side to `<tmp>/what-each-target-produced.md`
and printed (pytest -s); docs/integrations/mlflow.md keeps a measured copy."""

from __future__ import annotations

import json
import math

import pytest

import every_target as et
from servers import Recorder, mlflow_server

pytestmark = pytest.mark.slow
pytest.importorskip("mlflow")

# The example's step instances: a failed run stops after train (evaluate needs every leg);
# notify is its finally step.
FAILED_NESTED = {"ingest", "prepare", "train[logreg]", "train[svm]", "notify"}
NESTED = {"ingest", "prepare", "train[logreg]", "train[forest]", "evaluate", "deploy", "monitor", "notify"}


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    base = tmp_path_factory.mktemp("every-target")
    (base / "mlflow").mkdir()
    http = Recorder().start()
    out: dict = {}
    try:
        with mlflow_server(base / "mlflow") as url:
            world = et.World(base, url, http)
            client = MlflowClient(url)
            try:
                for target in et.TARGETS:
                    got = out[target] = {"runs": {}, "seconds": {}, "said": {}}
                    world.clear_textfile()
                    try:
                        for n, (kind, params) in enumerate(et.RUNS):
                            eid = _experiment(client)
                            before = set(et.parents(client, eid)) if eid else set()
                            said, secs = world.run(target, params, n)
                            got["said"][kind], got["seconds"][kind] = said, secs
                            eid = _experiment(client)
                            new = [r for i, r in et.parents(client, eid).items() if i not in before]
                            got.setdefault("parents_per_run", []).append(len(new))
                            if new:
                                got["runs"][kind] = et.read_run(client, eid, new[0])
                        champion = client.get_model_version_by_alias("churn", "champion")
                        got["champion"] = int(champion.version)
                        got["champion_run"] = champion.run_id
                        got["up_s"] = world.scheduler_up_s if target == "scheduler" else 0
                    except Exception as e:          # one target that cannot run must not hide the others
                        got["error"] = f"{type(e).__name__}: {e}"
                    got["alerts"] = [q.json() for q in http.at(f"/alerts/{et.KEY[target]}")]
                    got["prom"] = et.prom(world.textfile())
            finally:
                world.stop()
    finally:
        http.stop()
    report = et.table(out)
    (base / "what-each-target-produced.md").write_text(report)
    (base / "produced.json").write_text(json.dumps(
        {t: {**g, "prom": sorted(f"{n}{dict(lb)} {v}" for (n, lb), v in g.get("prom", {}).items())}
         for t, g in out.items()}, indent=1, default=str))
    print("\n" + report)
    return out


def _experiment(client):
    exp = client.get_experiment_by_name("churn")
    return exp.experiment_id if exp else None


@pytest.mark.parametrize("target", et.TARGETS)
def test_the_target_ran_both_runs(produced, target):
    got = produced[target]
    assert not got.get("error"), got
    assert not got["said"]["failure"]["ok"], got["said"]["failure"]      # train[svm] fails the run
    assert got["said"]["recovery"]["ok"], got["said"]["recovery"]
    assert got["parents_per_run"] == [1, 1], "one MLflow parent run per pipeline run"


@pytest.mark.parametrize("target", et.TARGETS)
def test_parent_and_nested_runs(produced, target):
    got = produced[target]
    failed, ok = got["runs"]["failure"], got["runs"]["recovery"]
    assert (failed["status"], ok["status"]) == ("FAILED", "FINISHED")
    assert failed["name"] == ok["name"] == "churn"
    assert ok["tags"]["pipespec.target"] == et.TAG[target]
    assert ok["tags"]["pipespec.pipeline"] == "churn"
    assert failed["tags"]["pipespec.run_id"] != ok["tags"]["pipespec.run_id"]
    assert set(failed["nested"]) == FAILED_NESTED, sorted(failed["nested"])
    assert failed["nested"]["train[svm]"]["status"] == "FAILED"
    assert all(v["status"] == "FINISHED" for k, v in failed["nested"].items() if k != "train[svm]")
    assert set(ok["nested"]) == NESTED, sorted(ok["nested"])
    assert all(v["status"] == "FINISHED" for v in ok["nested"].values()), ok["nested"]
    for run in (failed, ok):
        for name, kid in run["nested"].items():          # every nested run says whose it is
            assert kid["tags"]["pipespec.run_id"] == run["tags"]["pipespec.run_id"], name
            assert kid["tags"]["pipespec.spec_digest"] == run["tags"]["pipespec.spec_digest"], name
            assert kid["tags"]["pipespec.target"] == et.TAG[target], name
    assert ok["nested"]["train[forest]"]["params"] == {"item": "forest"}


def test_the_same_runs_from_every_target(produced):
    """Same spec digest, same parent params, same nested runs and metric keys everywhere; the
    values equal too (the example is seeded and single-threaded)."""
    local = produced["local"]["runs"]
    for target in et.TARGETS[1:]:
        runs = produced[target]["runs"]
        for kind in ("failure", "recovery"):
            assert runs[kind]["tags"]["pipespec.spec_digest"] == local[kind]["tags"]["pipespec.spec_digest"], target
            assert runs[kind]["params"] == local[kind]["params"], (target, kind)
            assert set(runs[kind]["nested"]) == set(local[kind]["nested"]), (target, kind)
        for name, kid in local["recovery"]["nested"].items():
            theirs = runs["recovery"]["nested"][name]["metrics"]
            assert set(theirs) == set(kid["metrics"]), (target, name)
            for k, v in kid["metrics"].items():
                assert math.isclose(theirs[k], v, rel_tol=1e-9), (target, name, k, theirs[k], v)
    ev = local["recovery"]["nested"]["evaluate"]["metrics"]
    assert {"auc", "f1", "accuracy", "auc_logreg", "auc_forest"} <= set(ev) and ev["auc"] >= 0.75
    assert {"max_psi", "drifted_features"} <= set(local["recovery"]["nested"]["monitor"]["metrics"])


def test_a_registered_version_per_successful_run_with_the_alias_on_the_latest(produced):
    seen = []
    for target in et.TARGETS:
        got = produced[target]
        assert got["runs"]["failure"]["versions"] == [], target      # deploy never ran
        (v,) = got["runs"]["recovery"]["versions"]
        assert v["step"] == "deploy" and v["tag_run_id"] == got["runs"]["recovery"]["tags"]["pipespec.run_id"]
        # the alias moved to this target's version when its run deployed (read right after it)
        assert got["champion"] == v["version"] and got["champion_run"] == v["run_id"], target
        seen.append(v["version"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen


# What a target cannot know, as its page says (docs/targets/): Kubeflow's exit task sees the exit
# handler's final status only, not which task failed, so its failure alert names no failed step.
FAILED_STEPS = {"kubeflow": []}


def test_the_same_alerts_from_every_target(produced):
    for target in et.TARGETS:
        got = produced[target]
        tag = et.TAG[target]
        alerts = [(a["event"], a["status"], a["failed_steps"], a["target"], a["pipeline"], a["step"])
                  for a in got["alerts"]]
        assert alerts == [("failure", "failed", FAILED_STEPS.get(tag, ["train"]), tag, "churn", None),
                          ("recovery", "succeeded", [], tag, "churn", None)], (target, got["alerts"])
        ids = [a["run_id"] for a in got["alerts"]]
        assert ids == [got["runs"][k]["tags"]["pipespec.run_id"] for k in ("failure", "recovery")], target


# What a target's finish task cannot measure (docs/spec.md, "What changes per target"): the
# attempt and cache-hit counters are the local run store's, which no target keeps; GitHub's `needs`
# context holds job results only (no durations); Kubeflow's exit task gets neither the steps'
# outputs and states nor the run's start time (run-level metrics only, without the duration).
COUNTERS = {"pipespec_step_attempts_total", "pipespec_step_cache_hits_total"}
NOT_MADE = {"airflow": COUNTERS,
            "github": COUNTERS | {"pipespec_step_duration_seconds", "pipespec_run_duration_seconds"},
            "kubeflow": COUNTERS | {"pipespec_run_duration_seconds", "pipespec_step_duration_seconds",
                                    "pipespec_step_success", "pipespec_model_metric"}}


def _series(m: dict, skip=()) -> set:
    return {(n, tuple((k, v) for k, v in lb if k != "target")) for n, lb in m if n not in skip}


def test_prometheus_textfile_from_every_target(produced):
    local = produced["local"]["prom"]
    for target in et.TARGETS:
        m, tag = produced[target]["prom"], et.TAG[target]
        labels = {dict(lb).get("target") for _, lb in m}
        assert labels == {tag}, (target, labels)
        run = (("pipeline", "churn"), ("target", tag))
        assert m[("pipespec_run_success", run)] == 1.0, target
        assert ("pipespec_run_last_success_timestamp_seconds", run) in m, target
        skip = NOT_MADE.get(tag, set())
        # the same series as the local run's, but for what the target cannot measure
        assert _series(m) == _series(local, skip), (target, _series(m) ^ _series(local, skip))
        for (n, lb), v in m.items():        # the model metrics: the same values
            if n == "pipespec_model_metric":
                ref = local[(n, tuple(sorted({**dict(lb), "target": "local"}.items())))]
                assert math.isclose(v, ref, rel_tol=1e-9), (target, lb)
