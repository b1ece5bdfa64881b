"""``targets.kubeflow`` and ``secrets.<NAME>.kubernetes``: what a spec may configure for Kubeflow
(``backends/options.py``). Imports nothing heavy: ``pipespec validate`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from .options import KUBERNETES_SECRETS, BaseOptions, TargetOptions


@dataclass(frozen=True)
class KubeflowOptions(BaseOptions):
    pipeline_root: str | None = None
    image: str | None = None
    pipespec: str | None = None
    install: str | None = None
    setup: bool = True


SCHEMA: dict[str, dict] = {
    "pipeline_root": {
        "description": "defaultPipelineRoot: where KFP stores artifacts (gs://, s3://, minio://).",
        "type": "string",
    },
    "image": {
        "description": "Image for call: steps without image: (must hold pipespec and the step code).",
        "type": "string",
    },
    "pipespec": {
        "description": "Command that runs pipespec in the containers (default: pipespec).",
        "type": "string",
    },
    "spec_path": {
        "description": ("Path of this spec inside the step images (default: its path relative to the project root); a "
                        "relative path resolves against $PIPESPEC_PROJECT_DIR in the container, else its working "
                        "directory."),
        "type": "string",
        "minLength": 1,
    },
    "install": {
        "description": ("Shell command run in each container before the step (default: pip install the pipespec version"
                        " that compiled the file, and kfp, as the kfp SDK's lightweight components do), e.g. a wheel "
                        "path, a VCS URL or an --index-url."),
        "type": "string",
        "minLength": 1,
    },
    "setup": {
        "description": ("Install pipespec and kfp when each container starts (default true). false: the image already "
                        "has them (warning W601 for steps left in the stock default image)."),
        "type": "boolean",
    },
}

OPTIONS = TargetOptions(
    name="kubeflow",
    description="Kubeflow Pipelines v2.",
    schema=SCHEMA,
    options=KubeflowOptions,
    secret_stores=(KUBERNETES_SECRETS,),
    order=("pipeline_root", "image", "pipespec", "output", "spec_path", "install", "project_root", "setup"),
)
