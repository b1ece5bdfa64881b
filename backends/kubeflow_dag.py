"""The Kubeflow backend's layout: IR steps -> nested DAGs (scopes), tasks, wiring, executors.

Scopes are the DAGs of the pipeline spec: ``root``; ``exit-handler`` (every non-finally step,
when there are finally steps); ``condition-<step>`` (a conditional step and every step that
depends on it); ``for-loop-<step>`` (the one task of a foreach step). A value produced in one
scope and read in a deeper one is threaded down through each sub-DAG's inputs under one
``pipelinechannel--<task>--<key>`` name (``pipelinechannel--<param>`` for parameters), as the
SDK does; fan-in leaves a loop through the loop DAG's outputs. Dependencies become
``dependentTasks`` between the two tasks that represent producer and consumer in their lowest
common scope.
"""

from __future__ import annotations

import json
import keyword
import math
from dataclasses import dataclass, field

from pipespec import expr as E
from pipespec import ir
from pipespec.backends.base import CompileOptions, shown
from pipespec.backends.kubeflow import SCHEMA_VERSION, SDK_VERSION
from pipespec.backends.kubeflow_cel import CelError, cel_string, to_cel
from pipespec.backends.kubeflow_options import KubeflowOptions
from pipespec.backends.options import KUBERNETES_SECRETS
from pipespec.backends.kubeflow_task import RUN_ID_FLAG
from pipespec.diagnostics import Diagnostic

DEFAULT_IMAGE = "python:3.11-slim"
EXIT_TASK = "exit-handler"

_PARAM_TYPES = {"int": "NUMBER_INTEGER", "float": "NUMBER_DOUBLE", "string": "STRING", "path": "STRING",
                "bool": "BOOLEAN", "list": "LIST", "map": "STRUCT"}
_ARTIFACT_TITLES = {"dataset": "system.Dataset", "model": "system.Model", "metrics": "system.Metrics",
                    "file": "system.Artifact", "dir": "system.Artifact"}
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


@dataclass(eq=False)
class Scope:
    kind: str                      # root | exit | cond | loop
    task: str | None               # this scope's task in its parent DAG
    comp: str | None               # this scope's component
    parent: "Scope | None"
    step: ir.Step | None = None
    guards: tuple = ()             # cond: the steps whose if: this group tests (ANDed)
    tasks: dict = field(default_factory=dict)
    in_params: dict = field(default_factory=dict)
    in_artifacts: dict = field(default_factory=dict)
    out_params: dict = field(default_factory=dict)
    out_artifacts: dict = field(default_factory=dict)
    dag_out_params: dict = field(default_factory=dict)
    dag_out_artifacts: dict = field(default_factory=dict)

    def path(self) -> list["Scope"]:
        out, sc = [], self
        while sc is not None:
            out.append(sc)
            sc = sc.parent
        return out[::-1]


def param_type(t: E.Type | str) -> str:
    kind = t if isinstance(t, str) else t.kind
    return _PARAM_TYPES.get(kind, "STRING")


def artifact_spec(out_type: str, as_list: bool = False) -> dict:
    spec = {"artifactType": {"schemaTitle": _ARTIFACT_TITLES[out_type], "schemaVersion": "0.0.1"}}
    if as_list:
        spec["isArtifactList"] = True
    return spec


def kfp_number(v):
    """Defaults as the SDK writes them: every number a double (protobuf Value)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [kfp_number(x) for x in v]
    if isinstance(v, dict):
        return {k: kfp_number(x) for k, x in v.items()}
    return v


def duration(seconds: float) -> str:
    """A protobuf Duration in JSON form: '30s', '0.5s' (never exponent notation)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def cpu_text(cores: float) -> str:
    return f"{int(cores)}" if float(cores).is_integer() else f"{round(cores * 1000)}m"


def memory_text(n: int) -> str:
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def task_name(step_name: str) -> str:
    return step_name.replace("_", "-")


class Builder:
    def __init__(self, backend, pipe: ir.Pipeline, opts: CompileOptions) -> None:
        self.b = backend
        self.pipe = pipe
        self.opts = opts
        self.cfg: KubeflowOptions = backend.configure(pipe)
        # relative to the project root; resolved in the container against $PIPESPEC_PROJECT_DIR,
        # else its working directory (kubeflow_task.run_task)
        self.spec_path = backend.spec_on_worker(pipe, opts)
        self.install = install_command(self.cfg)
        self.no_pipespec: list[ir.Step] = []     # steps in the stock image with nothing installed
        self.digest = "sha256:" + pipe.digest()
        self.components: dict[str, dict] = {}
        self.executors: dict[str, dict] = {}
        self.platform: dict[str, dict] = {}
        self.root = Scope("root", None, None, None)
        self.main = self.root
        self.container: dict[str, Scope] = {}
        self.task: dict[str, str] = {s.name: task_name(s.name) for s in pipe.all_steps}
        self.loops: dict[str, Scope] = {}
        self.conds: dict[str, Scope] = {}
        self.step_comp: dict[str, dict] = {}
        self.struct_metrics: set[tuple[str, str]] = set()
        # kfp's loader: never the pipeline's (nor, through it, its executor label: _step)
        self._comp_names: set[str] = {"comp-" + pipe.name}

    # -- entry -------------------------------------------------------------------------------
    def build(self) -> tuple[dict, dict | None]:
        pipe = self.pipe
        self._check_names()
        if any(d.is_error for d in self.b.diagnostics):
            return {}, None                       # an executor cannot take these names
        self._no_placeholder(self.spec_path, "the spec path" if not self.cfg.has("spec_path")
                             else "targets.kubeflow.spec_path", pipe.span)
        if self.install:
            self._no_placeholder(self.install, "targets.kubeflow.install", pipe.span)
        self._find_struct_metrics()
        if pipe.finally_steps:
            if not pipe.steps:
                self.b.unsupported(pipe.finally_steps[0].span, "a pipeline with only finally: steps "
                                   "has nothing for a KFP exit handler to wrap", limit=True)
                return {}, None
            self.main = Scope("exit", EXIT_TASK, self._alloc("comp-" + EXIT_TASK), self.root)
            self._add_task(self.root, EXIT_TASK, {"componentRef": {"name": self.main.comp},
                                                  "taskInfo": {"name": EXIT_TASK}}, pipe.span)
        if self.cfg.has("pipespec"):
            self.b.unsupported(pipe.span, "targets.kubeflow.pipespec is not used: tasks import pipespec in "
                               "Python (kfp.dsl.executor_main) rather than run a pipespec command",
                               emulated=True, help="make pipespec importable in the image, or set "
                               "targets.kubeflow.install")
        self._place()
        for st in pipe.all_steps:
            self._step(st)
        for st in pipe.all_steps:
            self._wire_step(st)
        for sc in list(self.conds.values()):
            self._condition(sc)
        for st in pipe.all_steps:
            self._dependencies(st)
        for sc in [self.root, *self._scopes()]:      # once, after every step: stable order
            for t in sc.tasks.values():
                if "dependentTasks" in t:
                    t["dependentTasks"] = sorted(t["dependentTasks"])
        for sc in self._scopes():
            self._scope_component(sc)
        self._warn_no_pipespec()
        return self._document(), self._platform()

    # -- names -------------------------------------------------------------------------------
    def _alloc(self, base: str) -> str:
        name, n = base, 2
        while name in self._comp_names:
            name, n = f"{base}-{n}", n + 1
        self._comp_names.add(name)
        return name

    def _check_names(self) -> None:
        for st in self.pipe.all_steps:
            for o in st.outputs:
                if keyword.iskeyword(o.name) or keyword.issoftkeyword(o.name):
                    self.b.unsupported(o.span, f"output '{o.name}' of step '{st.name}' is a Python keyword, "
                                       "which a KFP lightweight-Python executor cannot take as an argument",
                                       limit=True, help="rename the output")

    def _add_task(self, scope: Scope, name: str, task: dict, span) -> None:
        if name in scope.tasks:
            self.b.unsupported(span, f"two tasks would be named '{name}' in one KFP DAG "
                               "(a step named like a generated for-loop-/condition- task)", limit=True,
                               help="rename the step")
        scope.tasks[name] = task

    def _find_struct_metrics(self) -> None:
        """Metrics outputs whose fields a condition or foreach reads: exposed as a Struct too."""
        for st in self.pipe.steps:
            for v in (st.condition, st.foreach):
                for ref in _value_refs(v):
                    if ref.root == "steps" and len(ref.path) >= 4:
                        out = self.pipe.step(ref.path[0]).output(ref.path[2])
                        if out is not None and out.type == "metrics":
                            self.struct_metrics.add((ref.path[0], out.name))

    # -- placement -----------------------------------------------------------------------------
    def _place(self) -> None:
        pipe = self.pipe
        # the conditional steps among each step's ancestors and itself; propagated along the
        # topological order, so it costs steps x conditions, not the steps^2 of full ancestor sets
        guards: dict[str, frozenset[str]] = {}
        for st in pipe.steps:
            g: set[str] = {st.name} if st.condition is not None else set()
            for d in st.depends_on:
                g |= guards.get(d, frozenset())
            guards[st.name] = frozenset(g)
        for st in pipe.steps:
            chain = sorted(guards[st.name], key=lambda a: (len(guards[a]), a))
            nested = all(outer in guards[inner] for outer, inner in zip(chain, chain[1:]))
            scope = self.main
            if nested:
                for a in chain:
                    scope = self._cond_scope(pipe.step(a), scope)
            else:
                # independent conditions: one group of its own, testing all of them at once
                scope = self._cond_scope(st, scope, tuple(pipe.step(a) for a in chain))
            if st.foreach is not None:
                scope = self._loop_scope(st, scope)
            self.container[st.name] = scope
        for st in pipe.finally_steps:
            if st.condition is not None or st.foreach is not None:
                self.b.unsupported(st.span, f"finally: step '{st.name}' has if: or foreach:; a KFP exit "
                                   "task runs exactly once, unconditionally")
            self.container[st.name] = self.root

    def _cond_scope(self, st: ir.Step, parent: Scope, guards: tuple[ir.Step, ...] = ()) -> Scope:
        if st.name not in self.conds:
            name = "condition-" + self.task[st.name]
            sc = Scope("cond", name, self._alloc("comp-" + name), parent, st, guards=guards or (st,))
            self._add_task(parent, name, {"componentRef": {"name": sc.comp}, "taskInfo": {"name": name}},
                           st.span)
            self.conds[st.name] = sc
        return self.conds[st.name]

    def _loop_scope(self, st: ir.Step, parent: Scope) -> Scope:
        name = "for-loop-" + self.task[st.name]
        sc = Scope("loop", name, self._alloc("comp-" + name), parent, st)
        task = {"componentRef": {"name": sc.comp}, "taskInfo": {"name": name}}
        if st.parallelism is not None:
            task["iteratorPolicy"] = {"parallelismLimit": st.parallelism}
        self._add_task(parent, name, task, st.span)
        self.loops[st.name] = sc
        return sc

    def _scopes(self) -> list[Scope]:
        seen: list[Scope] = []
        for sc in [self.main, *self.conds.values(), *self.loops.values()]:
            if sc is not self.root and sc not in seen:
                seen.append(sc)
        return seen

    # -- threading values through sub-DAG inputs ------------------------------------------------
    @staticmethod
    def _common(a: Scope, b: Scope) -> Scope:
        common = a.path()[0]
        for x, y in zip(a.path(), b.path()):
            if x is not y:
                break
            common = x
        return common

    def _rep(self, step: str, scope: Scope) -> str:
        """The task standing for ``step`` among ``scope``'s tasks."""
        sc = self.container[step]
        if sc is scope:
            return self.task[step]
        while sc.parent is not scope:
            sc = sc.parent
        return sc.task

    def _thread(self, src: dict, origin: Scope, target: Scope, channel: str, spec: dict,
                artifact: bool) -> dict:
        path = target.path()
        for sc in path[path.index(origin) + 1:]:
            task = sc.parent.tasks[sc.task]
            task.setdefault("inputs", {}).setdefault("artifacts" if artifact else "parameters", {})[channel] = src
            (sc.in_artifacts if artifact else sc.in_params)[channel] = spec
            src = {"componentInputArtifact": channel} if artifact else {"componentInputParameter": channel}
        return src

    def _param_src(self, name: str, target: Scope) -> tuple[dict, str]:
        spec = {"parameterType": param_type(self.pipe.param(name).type)}
        channel = "pipelinechannel--" + name
        return self._thread({"componentInputParameter": name}, self.root, target, channel, spec, False), channel

    def _output_src(self, step: str, key: str, artifact: bool, spec: dict, target: Scope) -> tuple[dict, dict, str]:
        """A source for output ``key`` of ``step`` valid inside ``target``, its type spec there and
        the channel name it was threaded under."""
        lca = self._common(self.container[step], target)
        rep = self._rep(step, lca)
        if any(sc.task == rep and sc.parent is lca for sc in self.conds.values()):
            self.b.unsupported(self.pipe.step(step).span, f"output '{key}' of step '{step}' is read outside "
                               f"the condition group of its if: (by a step that also depends on another, "
                               "independent if:); KFP cannot pass a value out of a skippable group",
                               help="make one of the conditional steps depend on the other (needs:)")
        elif rep != self.task[step]:                    # a loop: the fan-in list
            loop = self.loops[step]
            if artifact:
                spec = {**spec, "isArtifactList": True}
                loop.out_artifacts[key] = spec
                loop.dag_out_artifacts[key] = {"artifactSelectors": [
                    {"producerSubtask": self.task[step], "outputArtifactKey": key}]}
            else:
                spec = {"parameterType": "LIST"}
                loop.out_params[key] = spec
                loop.dag_out_params[key] = {"valueFromParameter": {
                    "producerSubtask": self.task[step], "outputParameterKey": key}}
        if artifact:
            src = {"taskOutputArtifact": {"producerTask": rep, "outputArtifactKey": key}}
        else:
            src = {"taskOutputParameter": {"producerTask": rep, "outputParameterKey": key}}
        channel = f"pipelinechannel--{rep}--{key}"
        return self._thread(src, lca, target, channel, spec, artifact), spec, channel

    # -- one step: component, executor, task -------------------------------------------------------
    def _step(self, st: ir.Step) -> None:
        name = self._alloc("comp-" + self.task[st.name])
        # kfp's loader takes executors["exec-" + pipeline name] as THE component when there is
        # one: the label follows the component's name, which is never "comp-" + pipeline name
        comp = {"executorLabel": "exec-" + name[len("comp-"):], "inputDefinitions": {}, "outputDefinitions": {}}
        outs = comp["outputDefinitions"]
        for o in st.outputs:
            if o.is_artifact:
                outs.setdefault("artifacts", {})[o.name] = artifact_spec(o.type)
            else:
                outs.setdefault("parameters", {})[o.name] = {"parameterType": param_type(o.type)}
            if (st.name, o.name) in self.struct_metrics:
                outs.setdefault("parameters", {})["metrics__" + o.name] = {"parameterType": "STRUCT"}
        self.step_comp[st.name] = comp
        self.components[name] = comp
        task = {"componentRef": {"name": name}, "taskInfo": {"name": st.name},
                "cachingOptions": {"enableCache": True} if st.cache else {}}
        r = st.retries
        if r.limit:
            task["retryPolicy"] = {"maxRetryCount": r.limit, "backoffDuration": duration(r.delay_s),
                                   "backoffFactor": float(r.backoff), "backoffMaxDuration": duration(r.max_delay_s)}
        if st.is_finally:
            task["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
            task["dependentTasks"] = [EXIT_TASK] if self.main is not self.root else []
            task["inputs"] = {"parameters": {"run__status": {"taskFinalStatus": {"producerTask": EXIT_TASK}}}}
            comp["inputDefinitions"]["parameters"] = {
                "run__status": {"parameterType": "TASK_FINAL_STATUS", "isOptional": True}}
        self._add_task(self.container[st.name], self.task[st.name], task, st.span)
        if st.deps:
            self.b.unsupported(st.span, f"deps: of step '{st.name}' do not key KFP's cache, which keys on the "
                               "component (image, command) and the inputs", emulated=True,
                               help="give images content-based tags, or cache: false")

    def _wire_step(self, st: ir.Step) -> None:
        scope = self.container[st.name]
        task = scope.tasks[self.task[st.name]]
        comp = self.step_comp[st.name]
        ins = comp["inputDefinitions"]
        for p in sorted(_step_params(st)):
            src, _ = self._param_src(p, scope)
            task.setdefault("inputs", {}).setdefault("parameters", {})["params__" + p] = src
            ins.setdefault("parameters", {})["params__" + p] = {"parameterType": param_type(self.pipe.param(p).type)}
        for i in st.inputs:
            key = f"steps__{i.step}__{i.output}"
            if i.is_artifact:
                src, spec, _ = self._output_src(i.step, i.output, True, artifact_spec(i.type), scope)
                task.setdefault("inputs", {}).setdefault("artifacts", {})[key] = src
                ins.setdefault("artifacts", {})[key] = spec
            else:
                src, spec, _ = self._output_src(i.step, i.output, False,
                                                {"parameterType": param_type(i.type)}, scope)
                task.setdefault("inputs", {}).setdefault("parameters", {})[key] = src
                ins.setdefault("parameters", {})[key] = spec
        if st.foreach is not None:
            self._foreach(st, task, ins)
        if not ins:
            del comp["inputDefinitions"]
        if not comp["outputDefinitions"]:
            del comp["outputDefinitions"]
        self._executor(st, comp)

    def _foreach(self, st: ir.Step, task: dict, ins: dict) -> None:
        loop = self.loops[st.name]
        loop_task = loop.parent.tasks[loop.task]
        item_input = f"pipelinechannel--{self.task[st.name]}-loop-item"
        item_type = st.item_type or E.ANY
        if item_type.kind == "any":
            self.b.unsupported(st.foreach.span, f"the items of foreach: of step '{st.name}' have no known "
                               "type; KFP is told STRING and passes each item through unchanged", emulated=True,
                               help="declare the list's item type (params: {type: list, items: ...})")
        item_spec = {"parameterType": param_type(item_type)}
        loop.in_params[item_input] = item_spec
        v = st.foreach
        params = task.setdefault("inputs", {}).setdefault("parameters", {})
        iterator: dict
        if v.is_literal and isinstance(v.literal, (list, tuple)):
            items = list(v.literal)
            iterator = {"itemInput": item_input, "items": {"raw": json.dumps(items, separators=(",", ":"))}}
            params["foreach__items"] = {"runtimeValue": {"constant": kfp_number(items)}}
        else:
            ref = _whole_ref(v)
            channel = None
            if ref is not None and ref.root == "params" and len(ref.path) == 1:
                _, channel = self._param_src(ref.path[0], loop)
            elif ref is not None and ref.root == "steps" and len(ref.path) == 3:
                out = self.pipe.step(ref.path[0]).output(ref.path[2])
                if out is not None and not out.is_artifact:
                    _, _, channel = self._output_src(ref.path[0], out.name, False, {"parameterType": "LIST"}, loop)
            if channel is None:
                self.b.unsupported(v.span, f"foreach: of step '{st.name}' is an expression KFP cannot iterate "
                                   "over: a loop takes a literal list, a list parameter or a list output",
                                   help="compute the list in a step and give it as a value output")
                return
            iterator = {"itemInput": item_input, "items": {"inputParameter": channel}}
            params["foreach__items"] = {"componentInputParameter": channel}
        loop_task["parameterIterator"] = iterator
        params["foreach__item"] = {"componentInputParameter": item_input}
        ins.setdefault("parameters", {})["foreach__item"] = item_spec
        ins["parameters"]["foreach__items"] = {"parameterType": "LIST"}

    # -- conditions ------------------------------------------------------------------------------
    def _condition(self, scope: Scope) -> None:
        task = scope.parent.tasks[scope.task]
        parts = []
        for st in scope.guards:
            cel = self._condition_cel(st, scope)
            if cel is None:
                return
            parts.append(cel if len(scope.guards) == 1 else f"({cel})")
        task["triggerPolicy"] = {"condition": " && ".join(parts)}

    def _condition_cel(self, st: ir.Step, scope: Scope) -> str | None:
        v = st.condition
        if v.is_literal:
            return "true" if v.literal else "false"
        te = v.template.exprs[0]
        types: dict = {}
        E.typecheck(te.expr, self._ref_type, types)
        try:
            return to_cel(te.expr, lambda ref: self._ref_cel(ref, scope), lambda n: types.get(n, E.ANY))
        except CelError as e:
            span = v.span.at_offset(te.offset + e.node.start, te.offset + e.node.end) \
                if v.span.line == v.span.end_line else v.span
            self.b.unsupported(span, f"if: of step '{st.name}': {e.message}",
                               help="compute the decision in a step and test its bool output")
            return None

    def _ref_type(self, ref: E.Ref) -> E.Type:
        if ref.root == "params":
            return self.pipe.param(ref.path[0]).type if len(ref.path) == 1 else E.ANY
        if ref.root == "steps" and len(ref.path) >= 3:
            prod = self.pipe.step(ref.path[0])
            out = prod.output(ref.path[2])
            t = E.ANY
            if out is not None and len(ref.path) == 3:
                t = {"string": E.STRING, "path": E.PATH, "int": E.INT, "float": E.FLOAT, "bool": E.BOOL,
                     "list": E.list_of(None), "map": E.MAP}.get(out.type, E.PATH)
            elif out is not None and out.type == "metrics":
                t = E.FLOAT
            return E.list_of(t) if prod.foreach is not None else t
        return E.STRING

    def _ref_cel(self, ref: E.Ref, scope: Scope) -> str:
        if ref.root == "params":
            _, channel = self._param_src(ref.path[0], scope)
            return f"inputs.parameter_values[{cel_string(channel)}]" + _fields(ref.path[1:])
        if ref.root == "steps":
            prod, out = self.pipe.step(ref.path[0]), self.pipe.step(ref.path[0]).output(ref.path[2])
            rest = ref.path[3:]
            if out.type == "metrics":
                _, _, channel = self._output_src(prod.name, "metrics__" + out.name, False,
                                                 {"parameterType": "STRUCT"}, scope)
            else:
                _, _, channel = self._output_src(prod.name, out.name, False,
                                                 {"parameterType": param_type(out.type)}, scope)
            base = f"inputs.parameter_values[{cel_string(channel)}]"
            if rest and prod.foreach is not None:
                return f"{base}.map(m, m{_fields(rest)})"
            return base + _fields(rest)
        raise CelError(f"{ref.dotted} is not known to a KFP condition (conditions read only parameters "
                       "and task outputs)", ref)

    # -- dependencies ----------------------------------------------------------------------------
    def _dependencies(self, st: ir.Step) -> None:
        for d in st.depends_on:
            lca = self._common(self.container[d], self.container[st.name])
            rd, rs = self._rep(d, lca), self._rep(st.name, lca)
            if rd != rs:
                deps = lca.tasks[rs].setdefault("dependentTasks", [])
                if rd not in deps:
                    deps.append(rd)

    def _warn_no_pipespec(self) -> None:
        """W601 once, naming every step whose container cannot import pipespec."""
        if self.no_pipespec:
            names = ", ".join(st.name for st in self.no_pipespec)
            self.b.diagnostics.append(Diagnostic(
                "W601", f"kubeflow: targets.kubeflow.setup is false, but step{'s' * (len(self.no_pipespec) > 1)} "
                f"{names} run{'s' * (len(self.no_pipespec) == 1)} in the stock image {DEFAULT_IMAGE}, which has "
                "neither kfp nor pipespec: the task fails at start", self.no_pipespec[0].span,
                help="set targets.kubeflow.image (or the step's image:) to an image that has them, "
                     "or drop setup: false to install them when the container starts"))

    def _no_placeholder(self, text: str, what: str, span) -> None:
        """KFP replaces ``{{$...}}`` placeholders in a container's image, command and arguments
        at run time, and has no escape for them: text that holds one would not arrive as written."""
        if isinstance(text, str) and "{{$" in text:
            self.b.unsupported(span, f"{what} holds '{{{{$', which KFP replaces as a placeholder at run time "
                               f"(in {shown(text)})", help="write it without '{{$' on this target")

    # -- executors ---------------------------------------------------------------------------------
    def _executor(self, st: ir.Step, comp: dict) -> None:
        label = comp["executorLabel"]
        fn = "pipespec_" + st.name
        code = self._function(st, fn, comp)
        command = ["sh", "-ec", _BOOTSTRAP, code]
        if self.install:
            command = ["sh", "-c", f'{self.install} && "$0" "$@"', *command]
        image = st.image or self.cfg.image or DEFAULT_IMAGE
        if not self.install and image == DEFAULT_IMAGE:
            self.no_pipespec.append(st)
        self._no_placeholder(image, f"the image of step '{st.name}'", st.span)
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
        code = (f"{_PREAMBLE}def {fn}({sig}\n):\n"
                f"    from pipespec.backends.kubeflow_task import run_task\n"
                f"    run_task({self.spec_path!r}, {st.name!r}, {self.digest!r}, locals())\n")
        compile(code, f"<kubeflow executor of step {st.name}>", "exec")   # a generator bug fails here
        return code

    # -- assembling the document ------------------------------------------------------------------
    def _scope_component(self, sc: Scope) -> None:
        comp: dict = {"dag": {"tasks": sc.tasks}}
        ins: dict = {}
        if sc.in_params:
            ins["parameters"] = sc.in_params
        if sc.in_artifacts:
            ins["artifacts"] = sc.in_artifacts
        if ins:
            comp["inputDefinitions"] = ins
        outs: dict = {}
        if sc.out_params:
            outs["parameters"] = sc.out_params
            comp["dag"].setdefault("outputs", {})["parameters"] = sc.dag_out_params
        if sc.out_artifacts:
            outs["artifacts"] = sc.out_artifacts
            comp["dag"].setdefault("outputs", {})["artifacts"] = sc.dag_out_artifacts
        if outs:
            comp["outputDefinitions"] = outs
        self.components[sc.comp] = comp

    def _document(self) -> dict:
        pipe = self.pipe
        root: dict = {"dag": {"tasks": self.root.tasks}}
        params = {}
        for p in pipe.params:
            spec: dict = {"parameterType": param_type(p.type)}
            if p.description:
                spec["description"] = p.description
            if not p.required:
                spec["defaultValue"] = kfp_number(p.default)
                spec["isOptional"] = True
            if p.enum is not None:
                spec["literals"] = [kfp_number(x) for x in p.enum]
            if p.minimum is not None or p.maximum is not None:
                self.b.unsupported(p.span, f"minimum/maximum of param '{p.name}' are not checked by KFP at "
                                   "submission; pipespec exec checks them in each step that reads the param",
                                   emulated=True)
            params[p.name] = spec
        if params:
            root["inputDefinitions"] = {"parameters": params}
        info = {"name": pipe.name}
        if pipe.description:
            info["description"] = pipe.description
        doc = {
            "components": self.components,
            "deploymentSpec": {"executors": self.executors},
            "pipelineInfo": info,
            "root": root,
            "schemaVersion": SCHEMA_VERSION,
            "sdkVersion": SDK_VERSION,
        }
        if self.cfg.pipeline_root:
            doc["defaultPipelineRoot"] = self.cfg.pipeline_root
        return doc

    def _platform(self) -> dict | None:
        if not self.platform:
            return None
        return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": self.platform}}}}


# -- helpers -----------------------------------------------------------------------------------------
def _value_refs(v: ir.Value | None):
    if v is None or v.template is None:
        return
    for te in v.template.exprs:
        yield from E.refs(te.expr)


def _step_values(st: ir.Step):
    if st.shell is not None:
        yield from (v for _, v in st.shell.bindings)
    yield from st.argv or ()
    for _, v in st.args:
        yield v
    for _, v in st.env:
        yield v


def _step_params(st: ir.Step) -> set[str]:
    return {r.path[0] for v in _step_values(st) for r in _value_refs(v) if r.root == "params"}


def _whole_ref(v: ir.Value) -> E.Ref | None:
    if v.template is None or not v.template.whole:
        return None
    expr = v.template.exprs[0].expr
    return expr if isinstance(expr, E.Ref) else None


def _fields(path) -> str:
    return "".join(f"[{cel_string(k)}]" for k in path)


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
