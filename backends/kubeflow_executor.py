"""The Kubeflow backend's executors: for each step, the container that runs it and its
Kubernetes platform settings (secrets as environment, the deadline).

Every task is a KFP lightweight-Python component whose function calls
``kubeflow_task.run_task``, which runs the step through ``pipespec exec``'s executor; the
container installs pipespec and kfp first unless the image has them (``install_command``).
"""

from __future__ import annotations

import math

from pipespec import expr as E
from pipespec import ir
from pipespec.backends.base import shown
from pipespec.backends.kubeflow import SDK_VERSION
from pipespec.backends.kubeflow_options import KubeflowOptions
from pipespec.backends.kubeflow_task import RUN_ID_FLAG
from pipespec.backends.kubeflow_values import cpu_text, memory_text
from pipespec.backends.options import KUBERNETES_SECRETS
from pipespec.diagnostics import Diagnostic

DEFAULT_IMAGE = "python:3.11-slim"

_ANNOTATIONS = {"NUMBER_INTEGER": "int", "NUMBER_DOUBLE": "float", "STRING": "str", "BOOLEAN": "bool",
                "LIST": "list", "STRUCT": "dict", "TASK_FINAL_STATUS": "dsl.PipelineTaskFinalStatus"}
_BOOTSTRAP = ('program_path=$(mktemp -d)\n'
              'printf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
              '_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main'
              ' --component_module_path "$program_path/ephemeral_component.py" "$@"\n')
# What the container installs when it starts, as the kfp SDK's lightweight components do
# (kfp.dsl.component_factory._get_packages_to_install_command): the packages first, then kfp
# itself without its dependencies (the executor, run with _KFP_RUNTIME=true, needs none of them).
_PIP = "python3 -m pip install --quiet --no-warn-script-location"
_INSTALL = ('\nif ! [ -x "$(command -v pip)" ]; then\n'
            '    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip\n'
            'fi\n\n'
            "PIP_DISABLE_PIP_VERSION_CHECK=1 {pip} {pipespec}  &&  {pip} 'kfp=={kfp}' '--no-deps' "
            "'typing-extensions>=3.7.4,<5; python_version<\"3.9\"'")


def install_command(cfg: KubeflowOptions) -> str | None:
    """The shell command each container runs before the step: ``targets.kubeflow.install``, else
    pipespec at the version that compiled the file and kfp at the SDK version the IR mirrors;
    nothing with ``setup: false`` (the image has both)."""
    from pipespec import __version__

    if cfg.setup is False:
        return None
    if cfg.install:
        return cfg.install
    # quoted as kfp quotes a package (repr); a version is PEP 440 text, which holds no quote
    return _INSTALL.format(pip=_PIP, pipespec=repr(f"pipespec=={__version__}"),
                           kfp=SDK_VERSION.removeprefix("kfp-"))


_PREAMBLE = "import kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\nfrom typing import *\n\n"


class Executors:
    """The executors (containers) and platform settings of the steps, one ``add`` per step."""

    def __init__(self, backend, pipe: ir.Pipeline, cfg: dict, spec_path: str, digest: str) -> None:
        self.b = backend
        self.pipe = pipe
        self.cfg = cfg
        self.spec_path = spec_path
        self.install = install_command(cfg)
        self.digest = digest
        self.executors: dict[str, dict] = {}
        self.platform: dict[str, dict] = {}
        self.no_pipespec: list[ir.Step] = []     # steps in the stock image with nothing installed
        self._checked: set[str] = set()         # the signatures whose executor code compiled

    def add(self, st: ir.Step, comp: dict) -> None:
        label = comp["executorLabel"]
        fn = "pipespec_" + st.name
        code = self._function(st, fn, comp)
        command = ["sh", "-ec", _BOOTSTRAP, code]
        if self.install:
            command = ["sh", "-c", f'{self.install} && "$0" "$@"', *command]
        image = st.image or self.cfg.image or DEFAULT_IMAGE
        if not self.install and image == DEFAULT_IMAGE:
            self.no_pipespec.append(st)
        self.no_placeholder(image, f"the image of step '{st.name}'", st.span)
        container: dict = {
            "image": image,
            "command": command,
            "args": ["--executor_input", "{{$}}", "--function_to_execute", fn,
                     RUN_ID_FLAG, "{{$.pipeline_job_uuid}}"],
        }
        env = [{"name": k, "value": E.to_text(v.literal)} for k, v in st.env if v.is_literal]
        if env:
            container["env"] = env
        res = _resources(st.resources)
        if res:
            container["resources"] = res
        self.executors[label] = {"container": container}
        k8s: dict = {}
        if st.secrets:
            k8s["secretAsEnv"] = _secrets_as_env(self.pipe, st.secrets)
        if st.timeout_s is not None:
            k8s["activeDeadlineSeconds"] = str(math.ceil(st.timeout_s))
        if k8s:
            self.platform[label] = k8s

    def _function(self, st: ir.Step, fn: str, comp: dict) -> str:
        """The executor's Python: a signature KFP's executor reads, and one call into pipespec."""
        args: list[str] = []
        ins, outs = comp.get("inputDefinitions", {}), comp.get("outputDefinitions", {})
        for name, spec in sorted(ins.get("artifacts", {}).items()):
            cls = spec["artifactType"]["schemaTitle"].split(".")[1]
            args.append(f"{name}: Input[List[{cls}]] = None" if spec.get("isArtifactList")
                        else f"{name}: Input[{cls}] = None")
        for name, spec in sorted(ins.get("parameters", {}).items()):
            args.append(f"{name}: {_ANNOTATIONS[spec['parameterType']]} = None")
        for name, spec in sorted(outs.get("artifacts", {}).items()):
            args.append(f"{name}: Output[{spec['artifactType']['schemaTitle'].split('.')[1]}] = None")
        for name, spec in sorted(outs.get("parameters", {}).items()):
            args.append(f"{name}: OutputPath({_ANNOTATIONS[spec['parameterType']]}) = None")
        sig = "".join(f"\n    {a}," for a in args)
        from pipespec.backends.kubeflow_observe import outcome_root

        root = outcome_root(self.pipe, self.cfg)
        record = f", record_root={root!r}" if root else ""
        code = (f"{_PREAMBLE}def {fn}({sig}\n):\n"
                f"    from pipespec.backends.kubeflow_task import run_task\n"
                f"    run_task({self.spec_path!r}, {st.name!r}, {self.digest!r}, locals(){record})\n")
        # a generator bug fails here. Steps differ only by a name (an identifier behind a fixed
        # prefix, and a repr) and by the signature: compiling once per distinct signature checks
        # them all (compiling each was a fifth of a 500-step compile)
        if sig not in self._checked:
            compile(code, f"<kubeflow executor of step {st.name}>", "exec")
            self._checked.add(sig)
        return code

    def no_placeholder(self, text: str, what: str, span) -> None:
        """KFP replaces ``{{$...}}`` placeholders in a container's image, command and arguments
        at run time, and has no escape for them: text that holds one would not arrive as written."""
        if isinstance(text, str) and "{{$" in text:
            self.b.unsupported(span, f"{what} holds '{{{{$', which KFP replaces as a placeholder at run time "
                               f"(in {shown(text)})", help="write it without '{{$' on this target")

    def warn_no_pipespec(self) -> None:
        """W601 once, naming every step whose container cannot import pipespec."""
        if self.no_pipespec:
            names = ", ".join(st.name for st in self.no_pipespec)
            self.b.diagnostics.append(Diagnostic(
                "W601", f"kubeflow: targets.kubeflow.setup is false, but step{'s' * (len(self.no_pipespec) > 1)} "
                f"{names} run{'s' * (len(self.no_pipespec) == 1)} in the stock image {DEFAULT_IMAGE}, which has "
                "neither kfp nor pipespec: the task fails at start", self.no_pipespec[0].span,
                help="set targets.kubeflow.image (or the step's image:) to an image that has them, "
                     "or drop setup: false to install them when the container starts"))


def _resources(r: ir.Resources) -> dict:
    res: dict = {}
    if r.cpu is not None:
        res["cpuRequest"] = float(r.cpu)
        res["resourceCpuRequest"] = cpu_text(r.cpu)
    if r.memory is not None:
        res["memoryRequest"] = r.memory / 1e9          # the SDK's (deprecated) float field is in GB
        res["resourceMemoryRequest"] = memory_text(r.memory)
    if r.gpu or r.accelerator:
        kind = r.accelerator or "nvidia.com/gpu"
        count = str(max(r.gpu, 1))
        res["accelerator"] = {"type": kind, "count": count, "resourceType": kind, "resourceCount": count}
    return res


def _secrets_as_env(pipe: ir.Pipeline, names) -> list[dict]:
    """Each secret into the environment variable pipespec exec reads it from (Secret.env)."""
    by_secret: dict[str, list[dict]] = {}
    for name in sorted(names):
        sec = next(s for s in pipe.secrets if s.name == name)
        secret_name, _, key = KUBERNETES_SECRETS.ref(sec).partition("/")
        by_secret.setdefault(secret_name, []).append({"secretKey": key, "envVar": sec.env})
    return [{"secretName": k, "keyToEnv": v} for k, v in sorted(by_secret.items())]
