"""``targets.airflow`` and ``secrets.<NAME>.airflow``: what a spec may configure for Airflow
(``backends/options.py``). Imports nothing heavy: ``pipespec validate`` reads it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .options import KUBERNETES_SECRETS, BaseOptions, SecretStore, TargetOptions

DEFAULT_TAG = "pipespec"                # every DAG's first tag; targets.airflow.tags are added to it
# Airflow's rule for a dag_id (airflow.sdk.definitions._internal.node.validate_key, 3.3.2):
# ^[\w.-]+$, at most 250 characters. A pipeline name is at most 63 characters of [a-z0-9-], so a
# prefix of at most 187 ASCII characters of that class always makes a legal dag_id.
DAG_ID_MAX = 250
NAME_MAX = 63
DAG_ID_PREFIX_PATTERN = "^[A-Za-z0-9_.-]+$"
MAX_ACTIVE_RUNS_MAX = 2**31 - 1         # DagModel.max_active_runs is an SQL INTEGER


@dataclass(frozen=True)
class AirflowOptions(BaseOptions):
    artifact_root: str | None = None
    image: str | None = None
    operator: str = "python"
    namespace: str | None = None
    tags: tuple[str, ...] | None = None
    pipespec: str | None = None
    owner: str | None = None
    pool: str | None = None
    queue: str | None = None
    max_active_runs: int | None = None
    dagrun_timeout: int | str | None = None
    dag_id_prefix: str | None = None
    steps: dict | None = None           # step name -> {pool, queue}: beside default_args, per task

    def step_args(self, step: str) -> dict[str, str]:
        """The pool and queue of one step's task(s): ``steps.<step>`` over the DAG's own."""
        own = (self.steps or {}).get(step) or {}
        return {k: own[k] for k in ("pool", "queue") if k in own}

    @property
    def kubernetes(self) -> bool:
        return self.operator == "kubernetes"

    @property
    def dag_tags(self) -> list[str]:
        """The DAG's tags: ``pipespec`` first, then the spec's own (in order, each once)."""
        out = [DEFAULT_TAG]
        for t in self.tags or ():
            if t not in out:
                out.append(t)
        return out

    @property
    def dagrun_timeout_s(self) -> float | None:
        """``dagrun_timeout`` in seconds (the schema admitted it as a duration)."""
        if self.dagrun_timeout is None:
            return None
        from pipespec.units import seconds

        return seconds(self.dagrun_timeout)

    @property
    def default_args(self) -> dict[str, str]:
        """What every task of the DAG gets through ``default_args`` (only the keys the spec set)."""
        return {k: v for k, v in (("owner", self.owner), ("pool", self.pool), ("queue", self.queue))
                if v is not None}


def legal_dag_id(s: str) -> bool:
    """Whether Airflow accepts ``s`` as a dag_id."""
    return len(s) <= DAG_ID_MAX and re.fullmatch(r"[\w.-]+", s) is not None


def dag_id(pipeline_name: str, opts: "AirflowOptions | dict | None" = None) -> str:
    """The DAG id a pipeline compiles to, ``dag_id_prefix`` + its name: the one derivation, read
    by the backend (the DAG file's ``dag_id=``) and by the checks across specs (``pipespec
    validate`` of several specs: E810). ``opts`` is ``targets.airflow`` typed (a compile) or as
    written (validate builds no IR; schema-checked)."""
    prefix = opts.get("dag_id_prefix") if isinstance(opts, dict) else getattr(opts, "dag_id_prefix", None)
    return (prefix if isinstance(prefix, str) else "") + pipeline_name


SCHEMA: dict[str, dict] = {
    "artifact_root": {
        "description": ("Where artifacts live between tasks: a folder shared by the workers (relative: to the spec's "
                        "folder; default .pipespec/airflow), or an fsspec URL (s3://bucket/prefix)."),
        "type": "string",
    },
    "spec_path": {
        "description": ("Path of this spec on the workers (default: its path relative to the project root). A relative "
                        "path is resolved against $PIPESPEC_PROJECT_DIR on the worker, else the nearest folder above "
                        "the DAG file that holds it."),
        "type": "string",
        "minLength": 1,
    },
    "image": {
        "description": ("Image for steps without image: under the kubernetes operator (must hold pipespec and the step "
                        "code)."),
        "type": "string",
        "minLength": 1,
    },
    "operator": {
        "description": ("How a step runs: 'python' (on the worker itself, the default) or 'kubernetes' "
                        "(KubernetesPodOperator in the step's image, with resources)."),
        "enum": ["python", "kubernetes"],
    },
    "namespace": {"description": "Kubernetes namespace for the kubernetes operator.", "type": "string"},
    "tags": {
        "description": ("DAG tags, added to the tag 'pipespec' every DAG has; at most 100 characters each "
                        "(Airflow's TAG_MAX_LEN)."),
        "type": "array",
        "items": {"type": "string", "maxLength": 100},
    },
    "pipespec": {"description": "Command that runs pipespec on workers (default: pipespec).", "type": "string"},
    "owner": {
        "description": "Owner of every task and so of the DAG (default_args owner; default: Airflow's, 'airflow').",
        "type": "string",
        "minLength": 1,
    },
    "pool": {
        "description": ("Airflow pool every task runs in (default_args pool; default: Airflow's default_pool). The "
                        "pool must exist in the deployment."),
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
    },
    "queue": {
        "description": ("Executor queue every task is sent to (default_args queue; default: Airflow's "
                        "[operators] default_queue)."),
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
    },
    "max_active_runs": {
        "description": ("Most runs of this DAG active at once (default: Airflow's [core] max_active_runs_per_dag, "
                        "16)."),
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_ACTIVE_RUNS_MAX,
    },
    "dagrun_timeout": {
        "description": ("How long a run may take before Airflow fails it, a duration like 2h (default, or 0: no "
                        "limit). Airflow checks it when it schedules the run's next tasks."),
        "$ref": "#/$defs/duration",
    },
    "steps": {
        "description": ("Per step (by name): the pool and queue of its task(s), over the DAG's own pool and queue, "
                        "e.g. {train: {pool: gpu, queue: gpu}} to send one step to the GPU workers."),
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "pool": {"description": "Airflow pool of this step's task(s); it must exist in the deployment.",
                         "type": "string", "minLength": 1, "maxLength": 256},
                "queue": {"description": "Executor queue this step's task(s) are sent to.",
                          "type": "string", "minLength": 1, "maxLength": 256},
            },
        },
    },
    "dag_id_prefix": {
        "description": ("Prefix of the dag_id (dag_id = prefix + name, e.g. team_a. gives team_a.churn), so teams "
                        "sharing one Airflow cannot collide: letters, digits, '_', '.', '-', at most "
                        f"{DAG_ID_MAX - NAME_MAX} characters."),
        "type": "string",
        "maxLength": DAG_ID_MAX - NAME_MAX,
        "pattern": DAG_ID_PREFIX_PATTERN,
    },
}

# Airflow Variables (or, with conn:ID, a connection URI): the python operator
AIRFLOW_VARIABLES = SecretStore(
    "airflow",
    {
        "description": ("Airflow: read from this Variable (default: the secret's name) or a connection URI with "
                        "'conn:ID'."),
        "type": "string",
    },
    lambda name: name)

OPTIONS = TargetOptions(
    name="airflow",
    description="Apache Airflow 3.",
    schema=SCHEMA,
    options=AirflowOptions,
    secret_stores=(AIRFLOW_VARIABLES, KUBERNETES_SECRETS),
)
