"""What a compiled target does not carry out of ``notify:``/``metrics:``/``tracking:``: one
W701 per key at compile time, so that nothing is dropped in silence. ``CARRIED`` lists what each
target renders natively (its tasks run ``pipespec observe start|finish``, docs/targets/); the
local runner does all three itself. Plain data: validate imports no backend for it."""

from __future__ import annotations

from ..diagnostics import Diagnostic


CARRIED: dict[str, frozenset[str]] = {
    "airflow": frozenset({"notify:", "metrics:", "tracking:"}),
    "github": frozenset({"notify:", "metrics:", "tracking:"}),
    "kubeflow": frozenset({"notify:", "metrics:", "tracking:"}),
}
def _kfp_root(pipe) -> bool:
    return bool(pipe.target("kubeflow").get("pipeline_root"))


_KFP_ROOT_HELP = ("set targets.kubeflow.pipeline_root to the lasting store the runs use (an object store URL such "
                  "as s3://BUCKET/PATH or gs://BUCKET/PATH, or a folder every task shares): each step's task then "
                  "records its outcome there for the exit task; or run it with pipespec run")
# parts of a key a target still leaves out: target -> ((part, used(pipe), what is lost, why, help))
PARTS = {
    "kubeflow": (
        ("notify.steps", lambda p: not _kfp_root(p) and any(r.step is not None for r in p.observe.alerts),
         "no alert about one step is sent",
         "the exit task sees the run's final status only: each task's own end reaches it only through a "
         "lasting pipeline root", _KFP_ROOT_HELP),
        ("notify.when", lambda p: not _kfp_root(p) and any(r.event == "condition" for r in p.observe.alerts),
         "no when: condition is checked",
         "the exit task cannot read the steps' outputs: they reach it only through a lasting pipeline root",
         _KFP_ROOT_HELP),
    ),
}
# where finish keeps the previous run's record on a target whose tasks run on fresh machines
HISTORY_OPTION = {"github": "artifact_root", "kubeflow": "pipeline_root"}


def carried(pipe, target: str) -> frozenset[str]:
    """The keys ``target`` carries out for this spec (Airflow under ``operator: kubernetes`` too:
    its start and finish tasks are pods, like its steps)."""
    return CARRIED.get(target, frozenset())


# targets whose every task runs on a machine of its own, gone afterwards (what a task is called there)
FRESH_MACHINES = {"github": "job", "kubeflow": "task"}


def _fresh(pipe, target: str) -> str | None:
    """What a task of ``target`` runs in when that machine is gone afterwards, else None: Airflow's
    workers last, but under ``operator: kubernetes`` every task is a pod of its own."""
    if target == "airflow" and pipe.target("airflow").get("operator") == "kubernetes":
        return "pod"
    return FRESH_MACHINES.get(target)


def _history(pipe, target: str) -> bool:
    """Whether ``pipespec observe finish`` on ``target`` can find the previous run's status: in
    the record under a lasting artifact root, or in MLflow's previous parent run."""
    obs = pipe.observe
    fresh = _fresh(pipe, target)
    if obs.tracking and (obs.mlflow_uri or not fresh):
        return True
    if target == "airflow" and fresh:    # the record lasts only in an object store (no pod mounts a folder)
        return "://" in str(pipe.target("airflow").get("artifact_root") or "")
    if fresh:
        return bool(pipe.target(target).get(HISTORY_OPTION[target]))
    return True                          # Airflow: its artifact root is shared by the workers


def not_carried_out(pipe, target: str) -> list[Diagnostic]:
    obs = pipe.observe
    if obs is None:
        return []
    done = carried(pipe, target)
    fresh = _fresh(pipe, target)
    out = []
    spans = dict(obs.spans)
    what = (("notify:", bool(obs.alerts) or bool(obs.channels), "no alert is sent from its runs"),
            ("metrics:", bool(obs.textfile or obs.pushgateway or obs.pushgateway_secret), "no metrics are written"),
            ("tracking:", obs.tracking, "nothing is logged to MLflow"))
    if "tracking:" in done and obs.tracking and not obs.mlflow_uri and fresh:
        out.append(Diagnostic("W702", f"{target}: tracking: has no uri: every {fresh} runs on a "
                              "fresh machine, so the default store (.pipespec/mlflow.db beside the spec) is lost with "
                              "it, unless the runners set MLFLOW_TRACKING_URI", spans.get("tracking", pipe.span),
                              help="set tracking.mlflow.uri to an MLflow tracking server"))
    if "metrics:" in done and obs.textfile and fresh:
        out.append(Diagnostic("W704", f"{target}: metrics.textfile is written by the run's finish task, and every "
                              f"{fresh} runs on a fresh machine: the file is gone with it, before any "
                              "node_exporter reads it", spans.get("metrics", pipe.span),
                              help="push the metrics to a Pushgateway (metrics.pushgateway or metrics.pushgateway_secret)"
                              ", which keeps them between runs"))
    recovery = any(r.event == "recovery" for r in obs.alerts)
    if "notify:" in done and recovery and not _history(pipe, target):
        out.append(Diagnostic("W703", f"{target}: on_recovery needs the status of the previous run, which this "
                              f"target does not keep: no recovery alert is sent (and PagerDuty is never resolved)",
                              spans.get("notify", pipe.span),
                              help=f"set targets.{target}.{HISTORY_OPTION.get(target, 'artifact_root')} to a lasting "
                              f"store ({'an' if fresh == 'pod' else 'a shared folder or an'} "
                              "object store URL), or track to an MLflow server (tracking.mlflow.uri)"))
    for part, used, effect, why, fix in PARTS.get(target, ()) if "notify:" in done else ():
        if used(pipe):
            out.append(Diagnostic("W701", f"{target}: {part} is carried out by pipespec run only, not by the "
                                  f"{target} target ({why}): {effect}", spans.get("notify", pipe.span), help=fix))
    if target == "kubeflow" and "notify:" in done and _kfp_root(pipe):
        out += _kfp_unrecorded(pipe)
    for key, used, effect in what:
        if used and key not in done:
            out.append(Diagnostic("W701", f"{target}: {key} is carried out by pipespec run only, not yet by the "
                                  f"{target} target: {effect}", spans.get(key[:-1], pipe.span),
                                  help="run it with pipespec run, or drop the key for this target"))
    return out


def _kfp_unrecorded(pipe) -> list[Diagnostic]:
    """Kubeflow with a pipeline root: the step alerts and ``when:`` conditions that still depend on
    a run where a task records nothing — a KFP cache hit (no container runs), or a ``finally:``
    step (its task runs beside the exit task, not before it)."""
    obs = pipe.observe
    told = {r.step for r in obs.alerts if r.step is not None and r.event in ("success", "recovery")}
    failing = {r.step for r in obs.alerts if r.step is not None}
    read = {s for r in obs.alerts if r.event == "condition" for s in r.reads}
    out = []
    where = dict(obs.spans).get("notify", pipe.span)
    for st in pipe.all_steps:
        parts = [p for p, on in (("notify.steps", st.name in (failing if st.is_finally else told)),
                                 ("notify.when", st.name in read)) if on]
        if not parts:
            continue
        what = " and ".join(parts)
        if st.is_finally:
            out.append(Diagnostic(
                "W701", f"kubeflow: {what} about finally: step '{st.name}' is carried out by pipespec run only, not "
                "by the kubeflow target (the exit task runs beside the finally: tasks, not after them): its alerts "
                "and the conditions reading it are not checked", where,
                help="run it with pipespec run, or drop it for this target"))
        elif st.cache:
            out.append(Diagnostic(
                "W701", f"kubeflow: {what} about step '{st.name}' is not carried out on a run where KFP takes the "
                "step from its cache (a cache hit runs no container, so the task records nothing): no success or "
                "recovery alert about it, and no condition reading it, on such runs", where,
                help=f"set cache: false on step '{st.name}' (or accept it on cache hits)"))
    return out
