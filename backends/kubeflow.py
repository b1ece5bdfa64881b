"""Kubeflow Pipelines backend: the IR -> a KFP v2 pipeline spec (``schemaVersion: 2.1.0``), the
YAML that the ``kfp`` SDK compiles to and that the KFP UI and API upload.

Generated as data, then serialised with sorted keys (byte-stable). The shape follows what the
kfp 2.17 compiler writes for the same constructs (tests/tooling/fixtures/kfp_sample.yaml):

- each step is a task with its own component and a lightweight-Python executor that calls the
  shared step executor (``pipespec.backends.kubeflow_task.run_task`` -> ``pipespec.runtime``),
  so ``run:`` and ``call:`` steps mean here what they mean everywhere, and run under kfp.local;
- ``if:`` becomes a ``condition-<step>`` sub-DAG whose task has a CEL ``triggerPolicy``; every
  step that depends on a conditional step lives inside that sub-DAG, so a false condition skips
  it too (skip propagation by nesting, as a KFP author would write it);
- ``foreach:`` becomes a ``for-loop-<step>`` sub-DAG task with a ``parameterIterator``; the loop
  DAG's outputs collect each output into a list (fan-in);
- ``finally:`` steps are exit tasks of an ``exit-handler`` sub-DAG holding every other step;
- values crossing a sub-DAG boundary are threaded through its inputs as ``pipelinechannel--``
  parameters/artifacts, as the SDK does.

``kubeflow_dag`` builds the document from three parts: ``kubeflow_layout`` (the DAGs, or
scopes, and where each task lives), ``kubeflow_wiring`` (values, loop items, conditions and
order across them) and ``kubeflow_executor`` (each step's container); CEL is in
``kubeflow_cel``, KFP's spelling of types and values in ``kubeflow_values``, what runs inside
the container in ``kubeflow_task``. What KFP cannot express goes through ``unsupported()``.
"""

from __future__ import annotations

import json

from pipespec import ir
from pipespec.backends import yamlout
from pipespec.backends.base import EMULATED, NATIVE, Backend, CompileOptions

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = "kfp-2.17.3"      # the SDK whose output this mirrors and whose loader accepts it


class KubeflowBackend(Backend):
    name = "kubeflow"
    description = "Kubeflow Pipelines v2: a pipeline spec YAML (schemaVersion 2.1.0) to upload"
    extension = ".yaml"
    capabilities = {
        "params": (NATIVE, "pipeline inputs with parameterType and defaults; enum as literals; "
                           "minimum/maximum checked by pipespec exec in the steps that read them"),
        "schedule": (EMULATED, "a KFP schedule is a recurring run, not part of the pipeline spec: the "
                               "file header gives the cron in KFP's 6-field form for "
                               "create_recurring_run(cron_expression=...)"),
        "run_steps": (NATIVE, "a container in the step's image running pipespec exec"),
        "call_steps": (NATIVE, "a lightweight-Python executor calling pipespec exec"),
        "value_outputs": (NATIVE, "output parameters, taskOutputParameter"),
        "artifacts": (NATIVE, "system.Dataset/Model/Metrics/Artifact, taskOutputArtifact"),
        "if": (NATIVE, "condition sub-DAG with a CEL triggerPolicy; dependents nested inside"),
        "foreach": (NATIVE, "parameterIterator loop sub-DAG; fan-in through LIST / artifact-list outputs"),
        "parallelism": (NATIVE, "iteratorPolicy.parallelismLimit"),
        "finally": (NATIVE, "exit handler; run.status from PipelineTaskFinalStatus"),
        "retries": (NATIVE, "retryPolicy"),
        "timeout": (NATIVE, "kubernetes activeDeadlineSeconds (platform spec) and pipespec exec"),
        "cache": (NATIVE, "cachingOptions.enableCache"),
        "resources": (NATIVE, "container resource requests"),
        "gpu": (NATIVE, "container accelerator type and count"),
        "image": (NATIVE, "container image"),
        "env": (NATIVE, "container env; expression values evaluated by pipespec exec"),
        "secrets": (NATIVE, "Kubernetes secrets as env (platform spec), read by pipespec exec"),
    }

    def generate(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:
        from pipespec.backends.kubeflow_dag import Builder

        builder = Builder(self, pipe, opts)
        doc, platform = builder.build()
        return render(self.header(pipe, opts), doc, platform)

    def header(self, pipe: ir.Pipeline, opts: CompileOptions) -> list[str]:
        lines = self.header_lines(pipe, opts)
        lines += ["PIPELINE DEFINITION", f"Name: {pipe.name}"]
        if pipe.schedule:
            cron = kfp_cron(pipe.schedule)
            lines.append(f"Schedule: {pipe.schedule} -- as a recurring run: cron_expression='{cron}'")
        if pipe.params:
            lines.append("Inputs:")
            for p in pipe.params:
                default = "required" if p.required else "default " + json.dumps(p.default, sort_keys=True)
                lines.append(f"   {p.name}: {p.type} [{default}]")
        return lines


def kfp_cron(schedule: str) -> str:
    """A spec schedule in KFP's cron form: six fields, seconds first (robfig/cron)."""
    if schedule.startswith("@"):
        return schedule            # KFP accepts the same descriptors
    return "0 " + schedule


def render(header: list[str], doc: dict, platform: dict | None) -> str:
    out = yamlout.comment(header)
    out += _dump(doc)
    if platform:
        out += "---\n" + _dump(platform)
    return out


def _dump(data: dict) -> str:
    """Sorted keys (byte-stable); multi-line strings (the embedded step code) as literal blocks."""
    return yamlout.dump(data, sort_keys=True)
