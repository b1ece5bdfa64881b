"""``targets.airflow`` and ``secrets.<NAME>.airflow``: what a spec may configure for Airflow
(``backends/options.py``). Imports nothing heavy: ``pipespec validate`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from .options import KUBERNETES_SECRETS, BaseOptions, SecretStore, TargetOptions


@dataclass(frozen=True)
class AirflowOptions(BaseOptions):
    artifact_root: str | None = None
    image: str | None = None
    operator: str = "python"
    namespace: str | None = None
    tags: tuple[str, ...] | None = None
    pipespec: str | None = None

    @property
    def kubernetes(self) -> bool:
        return self.operator == "kubernetes"


def dag_id(pipeline_name: str, opts: AirflowOptions) -> str:
    """The DAG id a pipeline compiles to: the one derivation, read by the backend and by the
    checks across specs (``pipespec validate`` of several specs: E810)."""
    return pipeline_name


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
        "description": "DAG tags, at most 100 characters each (Airflow's TAG_MAX_LEN).",
        "type": "array",
        "items": {"type": "string", "maxLength": 100},
    },
    "pipespec": {"description": "Command that runs pipespec on workers (default: pipespec).", "type": "string"},
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
