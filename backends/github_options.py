"""``targets.github`` and ``secrets.<NAME>.github``: what a spec may configure for GitHub Actions
(``backends/options.py``). Imports nothing heavy: ``pipespec validate`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from .options import BaseOptions, SecretStore, TargetOptions, WorkerSink


@dataclass(frozen=True)
class GithubOptions(BaseOptions):
    runs_on: str | tuple[str, ...] = "ubuntu-latest"
    gpu_runs_on: str | tuple[str, ...] | None = None
    runners: tuple[dict, ...] = ()
    artifact_root: str | None = None
    setup: bool = True
    python: str = "3.11"
    install: str | None = None
    pipespec: str = "pipespec"
    push: dict | None = None
    pull_request: dict | None = None
    path_filters: bool = True
    fail_if_skipped: tuple[str, ...] = ()
    concurrency: dict | bool = True
    workflow_call: bool = False


# on.push / on.pull_request as GitHub's published workflow schema has them (SchemaStore
# github-workflow.json: "branch" and "path" are non-empty lists of globs)
_GLOBS = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
_PR_TYPES = ("assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened",
             "synchronize", "converted_to_draft", "ready_for_review", "locked", "unlocked", "milestoned",
             "demilestoned", "review_requested", "review_request_removed", "auto_merge_enabled",
             "auto_merge_disabled", "enqueued", "dequeued")

SCHEMA: dict[str, dict] = {
    "runs_on": {
        "description": "Runner label(s) for every job without a better match in runners (default ubuntu-latest).",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        ],
    },
    "gpu_runs_on": {
        "description": "Runner label(s) for steps with resources.gpu > 0 and no accelerator, when no runners entry fits.",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        ],
    },
    "runners": {
        "description": ("Runner kinds by capacity, tried in order: a step runs on the first whose cpu, memory, gpu and "
                        "accelerator cover its resources (a missing capacity does not constrain); entries with gpu are "
                        "kept for steps that ask for one."),
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["runs_on"],
            "properties": {
                "runs_on": {
                    "description": "Runner label(s) of this kind.",
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "minItems": 1,
                        },
                    ],
                },
                "cpu": {
                    "description": "CPU cores a runner of this kind has.",
                    "$ref": "#/$defs/resources/properties/cpu",
                },
                "memory": {
                    "description": "Memory a runner of this kind has (4Gi, 16G or bytes).",
                    "$ref": "#/$defs/resources/properties/memory",
                },
                "gpu": {"description": "GPUs a runner of this kind has.", "type": "integer", "minimum": 0},
                "accelerator": {
                    "description": "The GPU type it has, matched against resources.accelerator.",
                    "type": "string",
                },
            },
        },
    },
    "artifact_root": {
        "description": ("Pass artifacts and values through the step executor's artifact root (a folder every runner "
                        "sees, or an fsspec URL such as s3://bucket/prefix) instead of upload/download-artifact: no "
                        "remote action is used."),
        "type": "string",
        "minLength": 1,
    },
    "setup": {
        "description": ("Check out the repository, set up Python and run install in every job (default true). false: "
                        "the runner already has pipespec, the spec and the step code (self-hosted runners, act)."),
        "type": "boolean",
    },
    "python": {
        "description": "Python version set up with actions/setup-python (default 3.11).",
        "type": "string",
    },
    "install": {
        "description": ("Shell command that installs pipespec and the step code's dependencies in every job (default: "
                        "python -m pip install pipespec==<the version that compiled the file>, plus -r the "
                        "requirements.txt beside the spec), e.g. a wheel path, a VCS URL or an --index-url."),
        "type": "string",
        "minLength": 1,
    },
    "pipespec": {
        "description": "Command that runs pipespec in the jobs (default: pipespec).",
        "type": "string",
        "minLength": 1,
    },
    "spec_path": {
        "description": ("Path of the spec as the jobs see it, relative to the repository root or absolute (default: its"
                        " path relative to the project root)."),
        "type": "string",
        "minLength": 1,
    },
    "push": {
        "description": ("Also run on push: the GitHub on.push trigger, e.g. {branches: [main]}. Without paths: or "
                        "paths-ignore:, path_filters adds the paths of this spec's folder."),
        "type": "object",
        "properties": {k: _GLOBS for k in ("branches", "branches-ignore", "tags", "tags-ignore", "paths",
                                           "paths-ignore")},
        "additionalProperties": False,
    },
    "pull_request": {
        "description": ("Also run on pull requests: the GitHub on.pull_request trigger, e.g. {branches: [main]}. "
                        "Without paths: or paths-ignore:, path_filters adds the paths of this spec's folder."),
        "type": "object",
        "properties": {"types": {"type": "array", "minItems": 1, "items": {"enum": list(_PR_TYPES)}},
                       **{k: _GLOBS for k in ("branches", "branches-ignore", "tags", "tags-ignore", "paths",
                                              "paths-ignore")}},
        "additionalProperties": False,
    },
    "path_filters": {
        "description": ("Give push: and pull_request: the paths of this spec (its folder, the deps: outside it, "
                        "the requirements file and the compiled workflow) when they name no paths themselves, so "
                        "one team's push does not run every team's workflow (default true)."),
        "type": "boolean",
    },
    "fail_if_skipped": {
        "description": ("Steps whose skip must fail the run (a skipped job counts as success on GitHub): each gets a "
                        "job that fails when the step was skipped."),
        "type": "array",
        "items": {"$ref": "#/$defs/name"},
        "uniqueItems": True,
    },
    "concurrency": {
        "description": ("One run at a time per concurrency group (default: the pipeline name and the ref, a pull "
                        "request's older run cancelled, any other run left to finish: a newer one waits). false: no "
                        "concurrency: block. An object: group (literal text, default the pipeline name), per_ref "
                        "(append the ref, default true), cancel_in_progress (true, false, or pull_request: cancel "
                        "only on pull-request runs)."),
        "oneOf": [
            {"type": "boolean"},
            {"type": "object", "additionalProperties": False,
             "properties": {"group": {"type": "string", "minLength": 1, "maxLength": 200},
                            "per_ref": {"type": "boolean"},
                            "cancel_in_progress": {"enum": [True, False, "pull_request"]}}},
        ],
    },
    "workflow_call": {
        "description": ("Make the workflow reusable: on.workflow_call with one typed input per param (and the "
                        "secrets it reads), so a platform's workflow can call it with uses:. Params are read from "
                        "inputs on every run; the caller owns the triggers (no schedule, push or pull_request here)."),
        "type": "boolean",
    },
}

# repository or environment secrets
GITHUB_SECRETS = SecretStore(
    "github",
    {
        "description": "GitHub Actions: the repository or environment secret name (default: NAME upper-cased).",
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
    },
    lambda name: name.upper())

OPTIONS = TargetOptions(
    name="github",
    description="GitHub Actions (docs/targets/github.md).",
    schema=SCHEMA,
    options=GithubOptions,
    secret_stores=(GITHUB_SECRETS,),
    # a job step's outputs: what the workflow's job outputs and conditions read
    worker_sinks=(WorkerSink("GITHUB_OUTPUT", "pipespec.backends.github_task:GithubOutputSink"),),
)
