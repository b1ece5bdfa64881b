"""The step executor shared by every target: run ONE step instance of a pipeline.

Takes the IR ``Pipeline``, a step, typed parameter values, the upstream results and this
step's output paths; gives a ``StepResult`` (value outputs, metrics, artifact paths, exit
status, duration). ``pipespec exec`` is a thin CLI over it, the local runner drives the same
attempt machine (``attempt``) and phases (``execute``) over the same spawn/kill module
(``processes``), and every target's worker is one ``WorkerRequest`` to ``run_request``
(``worker.py``: ``pipespec exec`` for Airflow and GitHub Actions, ``kubeflow_task.run_task``
for Kubeflow), so a step means the same thing everywhere. The contract for step
authors is docs/steps.md.

    from pipespec.runtime import coerce_params, run_step, StepInputs
    params = coerce_params(pipeline, {"n": "3"})
    res = run_step(pipeline, pipeline.step("train"), StepInputs(params, values, artifacts,
                   item="forest", index=1, run_id="r1"), {"model": "/tmp/out/model"})
"""

from .context import Lookup, StepInputs, secret_value, spec_dir
from .attempt import NoRetry, Outcome, Status
from .execute import (EXIT_CANCELLED, EXIT_NOT_FOUND, EXIT_OUTPUTS, EXIT_TIMEOUT, Invocation,
                      StepError, StepResult, retry_delay, run_step)
from .layout import ConventionInputs, LayoutError, Root, check_run_id, run_id_problem, slot
from .outputs import OutputError
from .params import ParamError, coerce_params, parse_assignments
from .worker import EXIT_SPEC_CHANGED, EXIT_USAGE, WorkerError, WorkerRequest, check_digest, run_request

__all__ = [
    "coerce_params", "parse_assignments", "ParamError", "StepInputs", "Lookup", "secret_value",
    "spec_dir", "run_step", "StepResult", "StepError", "Invocation", "OutputError",
    "retry_delay", "Root", "ConventionInputs", "LayoutError", "slot", "check_run_id",
    "run_id_problem", "EXIT_OUTPUTS",
    "EXIT_NOT_FOUND", "EXIT_TIMEOUT", "EXIT_CANCELLED",
    "Status", "NoRetry", "Outcome",
    "WorkerRequest", "run_request", "WorkerError", "check_digest", "EXIT_USAGE", "EXIT_SPEC_CHANGED",
]
