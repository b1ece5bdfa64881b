"""The worker contract: what every target's task hands pipespec, and how the result goes back.

One ``WorkerRequest`` (step, params, upstream results, item/index, run id, artifact paths, the
IR digest the file was compiled from) -> ``run_request(pipeline, request, sinks)`` -> the shared
executor (``run_step``: prepare, attempt, finish) -> the ``StepResult`` handed to each sink:

- ``ResultJsonSink``: ``--result-json PATH`` (Airflow's XCom return value, a pod's return.json);
- ``RootSink``: the artifact-root convention (``--artifact-root``);
- the sinks a target declares for its workers' environment (``TargetOptions.worker_sinks``:
  ``backends.github_task.GithubOutputSink`` when ``$GITHUB_OUTPUT`` is set);
- ``backends.kubeflow_task.KfpSink``: KFP output parameters and metrics artifacts.

``pipespec exec`` (Airflow, GitHub) and ``kubeflow_task.run_task`` (Kubeflow) are adapters
that turn what their platform hands a task into a request. Documented in docs/steps.md.
"""

from __future__ import annotations

import os
import sys
from ..record import record, field
from typing import Any, Callable, Protocol, Sequence

from .. import ir
from .context import StepInputs
from .execute import StepResult, run_step
from .params import ParamError, coerce_params

EXIT_USAGE = 2            # unknown step, bad parameter, missing upstream result, bad index
EXIT_SPEC_CHANGED = 65    # the spec on the worker is not the one compiled (EX_DATAERR)

_UNSET: Any = object()


class WorkerError(Exception):
    """The request cannot run (nothing was started): ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@record
class WorkerRequest:
    step: str
    params: dict[str, Any] = field(default_factory=dict)         # as given: coerced here
    values: dict[str, dict] = field(default_factory=dict)        # upstream value outputs
    artifacts: dict[str, dict] = field(default_factory=dict)     # upstream artifact paths
    output_paths: dict[str, str] = field(default_factory=dict)   # this step's artifact outputs
    run_id: str = ""
    run_date: str = ""
    run_status: str | None = None                                # finally: steps
    index: int | None = None                                     # which foreach instance
    item: Any = _UNSET                                           # given (KFP), else from index
    expected_digest: str | None = None                           # "sha256:..." from the compiled file
    spec_path: str = ""                                          # for messages
    retry: bool = False                                          # executor-side retries (GitHub)


class Sink(Protocol):
    def write(self, step: ir.Step, result: StepResult) -> None: ...


def check_digest(pipeline: ir.Pipeline, expected: str | None, spec_path: str = "") -> None:
    """Fail unless the spec here compiles to the IR the file was compiled from."""
    if not expected:
        return
    actual = "sha256:" + pipeline.digest()
    if actual != expected:
        where = f"{spec_path}: " if spec_path else ""
        raise WorkerError(f"{where}the spec changed after compiling; recompile (compiled from IR "
                          f"{expected}, the spec here is IR {actual})", EXIT_SPEC_CHANGED)


def step_and_params(pipeline: ir.Pipeline, req: WorkerRequest) -> tuple[ir.Step, dict[str, Any]]:
    """The digest checked, the request's step, its parameters coerced."""
    check_digest(pipeline, req.expected_digest, req.spec_path)
    try:
        step = pipeline.step(req.step)
    except KeyError:
        raise WorkerError(f"no step '{req.step}' in {req.spec_path or pipeline.name} (steps: "
                          f"{', '.join(s.name for s in pipeline.all_steps)})") from None
    try:
        return step, coerce_params(pipeline, req.params)
    except ParamError as e:
        raise WorkerError(str(e)) from None


def resolve(pipeline: ir.Pipeline, req: WorkerRequest,
            items: Callable[[ir.Step], list] | None = None) -> tuple[ir.Step, StepInputs]:
    """Check the request against the pipeline: digest, step, params, item; the step's inputs."""
    step, params = step_and_params(pipeline, req)
    item, index = None, req.index
    if step.foreach is not None:
        if req.item is not _UNSET:
            item = req.item
            index = 0 if index is None else index
        else:
            if index is None:
                raise WorkerError(f"step '{step.name}' has foreach: pass --item-index N")
            listed = items(step) if items is not None else []
            if not 0 <= index < len(listed):
                raise WorkerError(f"--item-index {index} is out of range: the foreach of "
                                  f"'{step.name}' has {len(listed)} items")
            item = listed[index]
    elif index is not None:
        raise WorkerError(f"step '{step.name}' has no foreach: --item-index does not apply")
    return step, StepInputs(params, req.values, req.artifacts, item=item, index=index,
                            run_id=req.run_id, run_date=req.run_date, run_status=req.run_status)


class TextLog:
    """What a worker says on standard error, as text (``--log-format json``:
    ``integrations.logs.WorkerJsonLog``, the same events as ECS objects)."""

    def __init__(self, label: str = "pipespec") -> None:
        self.label = label

    def retry(self, step: ir.Step, inputs: StepInputs, n: int, delay: float, why: str) -> None:
        print(f"{self.label}: {step.name}: attempt {n} failed ({why}); retrying in {delay:g}s", file=sys.stderr)

    def ended(self, step: ir.Step, inputs: StepInputs, res: StepResult) -> None:
        name = step.name + (f"[{inputs.index}]" if inputs.index is not None else "")
        if res.ok:
            print(f"{self.label}: {name} succeeded in {res.duration_s:.2f}s", file=sys.stderr)
        else:
            why = res.error or f"exit {res.exit_code}"
            print(f"{self.label}: {name} {res.status.upper()} after {res.attempts} attempt"
                  f"{'s' if res.attempts > 1 else ''}: {why}", file=sys.stderr)

    def warning(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        print(f"{self.label}: error: {message}", file=sys.stderr)


def run_request(pipeline: ir.Pipeline, req: WorkerRequest, sinks: Sequence[Sink] = (), *,
                resolved: tuple[ir.Step, StepInputs] | None = None, label: str = "pipespec",
                log: TextLog | None = None) -> StepResult:
    """Run one step instance for a request and write its result through every sink.

    With ``tracking:`` and ``$PIPESPEC_TRACKING_PARENT`` (the target's MLflow parent run), the
    instance is one nested run of it (``integrations.tracking.StepTracker``): the step's
    process gets ``MLFLOW_RUN_ID``, and a SIGTERM (the platform killing the task) stops the
    step so that its run ends KILLED. Raises ``WorkerError`` when nothing could start; a
    failure of the step itself is the returned result (``res.ok`` false, ``res.exit_code``
    the status to exit with).
    """
    step, inputs = resolved or resolve(pipeline, req)
    log = log or TextLog(label)
    tracker, base_env, cancel, restore = None, None, None, None
    if pipeline.observe is not None and pipeline.observe.tracking and os.environ.get("PIPESPEC_TRACKING_PARENT"):
        from ..integrations.tracking import StepTracker

        tracker = StepTracker.open(pipeline, step, inputs, log.warning, given=req.params)
    if tracker is not None:
        base_env = {**os.environ, **tracker.env()}
        cancel, restore = _cancel_on_signals()
    try:
        res = run_step(pipeline, step, inputs, req.output_paths, retry=req.retry, base_env=base_env, cancel=cancel,
                       on_retry=lambda n, d, why: log.retry(step, inputs, n, d, why), warn=log.warning)
    finally:
        if restore is not None:
            restore()
    if tracker is not None:
        tracker.close(res)          # before the sinks: a remote root's sink replaces the local paths
    for sink in sinks:
        sink.write(step, res)
    log.ended(step, inputs, res)
    return res


def _cancel_on_signals():
    """A cancel event set by SIGTERM/SIGINT (main thread only), and how to put the old handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None, None
    event = threading.Event()
    old = {sig: signal.signal(sig, lambda *_: event.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return event, restore


class ResultJsonSink:
    """``{values, metrics, artifacts, status, exit_code, ...}`` to a file (Airflow's XCom)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, step: ir.Step, result: StepResult) -> None:
        import json

        from ..files import write_atomic

        write_atomic(self.path, json.dumps(result.to_json(), indent=1, sort_keys=True))


class RootSink:
    """The artifact-root convention: publish a succeeded instance under ROOT/<run>/<step>/<index>."""

    def __init__(self, root, run_id: str, index: int | None) -> None:
        self.root, self.run_id, self.index = root, run_id, index

    def write(self, step: ir.Step, result: StepResult) -> None:
        if not result.ok:
            return
        from .layout import slot

        root, run_id, index = self.root, self.run_id, self.index
        published = {o: root.join(run_id, step.name, slot(index), o) for o in result.artifacts}
        root.publish(run_id, step.name, index, {
            "values": result.values, "metrics": result.metrics, "artifacts": sorted(result.artifacts),
            "run_id": run_id, "step": step.name, "index": index}, result.artifacts)
        if root.remote:
            result.artifacts = published
