"""``notify:``/``metrics:``/``tracking:`` in a Kubeflow pipeline spec: tasks at the run's
boundary that run ``pipespec observe`` (docs/targets/kubeflow.md).

- every step lives in the ``exit-handler`` sub-DAG (added when the spec has no ``finally:``);
- ``pipespec--finish`` is an exit task of it: ``ALL_UPSTREAM_TASKS_COMPLETED``, its input
  ``run__status`` the handler's ``PipelineTaskFinalStatus``; it ends the MLflow parent run,
  pushes the metrics and sends the alerts, with the channels' secrets as Kubernetes secrets in
  its environment;
- with a lasting ``targets.kubeflow.pipeline_root`` (``outcome_root``), every step's task
  records its outcome (and values) under ``ROOT/_pipespec/runs/RUN/...``
  (``kubeflow_task.OutcomeSink``) and the finish reads them (``--outcomes``), so that step
  alerts, ``when:`` conditions and step metrics are made as ``pipespec run`` makes them;
- with ``tracking:``, ``pipespec--start`` runs before the exit handler (its dependentTasks) and
  opens the parent run; each step's task finds it by its tags (``kubeflow_task.run_task``) and
  hands ``pipespec exec`` its id as ``PIPESPEC_TRACKING_PARENT``.

A step's task name never holds ``--`` (step names hold no ``__``): these cannot collide.
"""

from __future__ import annotations

from pipespec.backends.kubeflow_executor import DEFAULT_IMAGE, _BOOTSTRAP, _PREAMBLE, _secrets_as_env
from pipespec.backends.kubeflow_layout import EXIT_TASK
from pipespec.backends.kubeflow_task import RUN_ID_FLAG
from pipespec.backends.kubeflow_values import param_type

START = "pipespec--start"
FINISH = "pipespec--finish"
_ANN = {"NUMBER_INTEGER": "int", "NUMBER_DOUBLE": "float", "STRING": "str", "BOOLEAN": "bool",
        "LIST": "list", "STRUCT": "dict"}


def wanted(pipe) -> bool:
    from pipespec.integrations.targets import carried

    return pipe.observe is not None and bool(carried(pipe, "kubeflow"))


def outcome_root(pipe, cfg) -> str | None:
    """The lasting pipeline root under which every step's task records its outcome for the
    exit task, when the spec has one and asks for what needs it (``notify.steps``,
    ``notify.when``, ``metrics:``); None otherwise (the file stays as without it)."""
    obs = pipe.observe
    if not cfg.pipeline_root or not wanted(pipe):
        return None
    if any(r.step is not None or r.event == "condition" for r in obs.alerts) or \
            obs.textfile or obs.pushgateway or obs.pushgateway_secret:
        return cfg.pipeline_root
    return None


def add(builder) -> None:
    """The boundary tasks, their components and executors (after every step is in place)."""
    pipe, layout, ex = builder.pipe, builder.layout, builder.ex
    if not wanted(pipe):
        return
    obs = pipe.observe
    root = builder.cfg.pipeline_root
    if root:       # embedded in the finish's command (and the steps' with outcome_root), which KFP rewrites
        ex.no_placeholder(root, "targets.kubeflow.pipeline_root", pipe.span)
    if obs.tracking:
        comp = layout.alloc("comp-" + START)
        builder.components[comp] = {"executorLabel": "exec-" + comp[len("comp-"):],
                                    "outputDefinitions": {"parameters": {"parent": {"parameterType": "STRING"}}}}
        # never cached: a cached start would hand out an earlier run's parent
        layout.add_task(layout.root, START, {"componentRef": {"name": comp}, "taskInfo": {"name": START},
                                             "cachingOptions": {}}, pipe.span)
        handler = layout.root.tasks[EXIT_TASK]
        handler["dependentTasks"] = sorted({*handler.get("dependentTasks", []), START})
        _executor(builder, builder.components[comp], "start", ["parent: OutputPath(str) = None"], None)
    params = {f"params__{p.name}": {"parameterType": param_type(p.type)} for p in pipe.params}
    comp = layout.alloc("comp-" + FINISH)
    builder.components[comp] = {
        "executorLabel": "exec-" + comp[len("comp-"):],
        "inputDefinitions": {"parameters": {
            "run__status": {"parameterType": "TASK_FINAL_STATUS", "isOptional": True}, **params}}}
    inputs = {"run__status": {"taskFinalStatus": {"producerTask": EXIT_TASK}}}
    inputs.update({f"params__{p.name}": {"componentInputParameter": p.name} for p in pipe.params})
    layout.add_task(layout.root, FINISH, {
        "componentRef": {"name": comp}, "taskInfo": {"name": FINISH}, "cachingOptions": {},
        "dependentTasks": [EXIT_TASK], "triggerPolicy": {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"},
        "inputs": {"parameters": inputs}}, pipe.span)
    args = ["run__status: dsl.PipelineTaskFinalStatus = None"]
    args += [f"{n}: {_ANN[s['parameterType']]} = None" for n, s in sorted(params.items())]
    names = [c.secret for c in obs.channels] + ([obs.pushgateway_secret] if obs.pushgateway_secret else [])
    label = _executor(builder, builder.components[comp], "finish", args, root)
    if names:
        ex.platform[label] = {"secretAsEnv": _secrets_as_env(pipe, set(names))}


def _executor(builder, comp: dict, action: str, args: list[str], record_root: str | None) -> str:
    ex = builder.ex
    label = comp["executorLabel"]
    fn = f"pipespec_observe_{action}"
    sig = "".join(f"\n    {a}," for a in args)
    code = (f"{_PREAMBLE}def {fn}({sig}\n):\n"
            f"    from pipespec.backends.kubeflow_task import observe_task\n"
            f"    observe_task({action!r}, {ex.spec_path!r}, {ex.digest!r}, {record_root!r}, locals())\n")
    compile(code, f"<kubeflow executor of pipespec observe {action}>", "exec")
    command = ["sh", "-ec", _BOOTSTRAP, code]
    if ex.install:
        command = ["sh", "-c", f'{ex.install} && "$0" "$@"', *command]
    ex.executors[label] = {"container": {
        "image": builder.cfg.image or DEFAULT_IMAGE, "command": command,
        # not {{$.pipeline_job_create_time_utc}}: kfp.local fails on it (IndexError in its
        # placeholder resolver), so the run's start time is not known here
        "args": ["--executor_input", "{{$}}", "--function_to_execute", fn, RUN_ID_FLAG, "{{$.pipeline_job_uuid}}"]}}
    return label
