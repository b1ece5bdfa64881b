"""The Kubeflow backend's builder: IR steps -> the pipeline spec (components, tasks, executors).

It composes three parts, each with one job: ``kubeflow_layout`` (which DAG each task lives in),
``kubeflow_wiring`` (how values, loop items, conditions and order reach each task) and
``kubeflow_executor`` (the container that runs each step). The builder makes each step's
component and task, and assembles the document.
"""

from __future__ import annotations

import keyword

from pipespec import ir
from pipespec.backends.base import CompileOptions
from pipespec.backends.kubeflow import SCHEMA_VERSION, SDK_VERSION
from pipespec.backends.kubeflow_executor import Executors
from pipespec.backends.kubeflow_options import KubeflowOptions
from pipespec.backends.kubeflow_layout import EXIT_TASK, Layout, Scope
from pipespec.backends.kubeflow_values import artifact_spec, duration, kfp_number, param_type
from pipespec.backends.kubeflow_wiring import Wiring


class Builder:
    def __init__(self, backend, pipe: ir.Pipeline, opts: CompileOptions) -> None:
        self.b = backend
        self.pipe = pipe
        self.opts = opts
        self.cfg: KubeflowOptions = backend.configure(pipe)
        # relative to the project root; resolved in the container against $PIPESPEC_PROJECT_DIR,
        # else its working directory (kubeflow_task.run_task)
        spec_path = backend.spec_on_worker(pipe, opts)
        self.ex = Executors(backend, pipe, self.cfg, spec_path, "sha256:" + pipe.digest())
        self.layout = Layout(backend, pipe)
        self.wiring = Wiring(backend, pipe, self.layout)
        self.components: dict[str, dict] = {}
        self.step_comp: dict[str, dict] = {}

    # -- entry -------------------------------------------------------------------------------
    def build(self) -> tuple[dict, dict | None]:
        pipe, layout = self.pipe, self.layout
        self._check_names()
        if any(d.is_error for d in self.b.diagnostics):
            return {}, None                       # an executor cannot take these names
        self.ex.no_placeholder(self.ex.spec_path, "the spec path" if not self.cfg.has("spec_path")
                               else "targets.kubeflow.spec_path", pipe.span)
        if self.ex.install:
            self.ex.no_placeholder(self.ex.install, "targets.kubeflow.install", pipe.span)
        from pipespec.backends import kubeflow_observe

        if pipe.finally_steps or (kubeflow_observe.wanted(pipe) and pipe.steps):
            if not pipe.steps:
                self.b.unsupported(pipe.finally_steps[0].span, "a pipeline with only finally: steps "
                                   "has nothing for a KFP exit handler to wrap", limit=True)
                return {}, None
            layout.add_exit_handler()
        if self.cfg.has("pipespec"):
            self.b.unsupported(pipe.span, "targets.kubeflow.pipespec is not used: tasks import pipespec in "
                               "Python (kfp.dsl.executor_main) rather than run a pipespec command",
                               emulated=True, help="make pipespec importable in the image, or set "
                               "targets.kubeflow.install")
        layout.place()
        for st in pipe.all_steps:
            self._step(st)
        for st in pipe.all_steps:
            self._wire_step(st)
        for sc in list(layout.conds.values()):
            self.wiring.condition(sc)
        for st in pipe.all_steps:
            self.wiring.dependencies(st)
        kubeflow_observe.add(self)                 # notify:/metrics:/tracking: at the run's boundary
        for sc in [layout.root, *layout.scopes()]:      # once, after every step: stable order
            for t in sc.tasks.values():
                if "dependentTasks" in t:
                    t["dependentTasks"] = sorted(t["dependentTasks"])
        for sc in layout.scopes():
            self._scope_component(sc)
        self.ex.warn_no_pipespec()
        return self._document(), self._platform()

    def _check_names(self) -> None:
        for st in self.pipe.all_steps:
            for o in st.outputs:
                if keyword.iskeyword(o.name) or keyword.issoftkeyword(o.name):
                    self.b.unsupported(o.span, f"output '{o.name}' of step '{st.name}' is a Python keyword, "
                                       "which a KFP lightweight-Python executor cannot take as an argument",
                                       limit=True, help="rename the output")

    # -- one step: component, task, then its inputs and executor ------------------------------------
    def _step(self, st: ir.Step) -> None:
        name = self.layout.alloc("comp-" + self.layout.task[st.name])
        # kfp's loader takes executors["exec-" + pipeline name] as THE component when there is
        # one: the label follows the component's name, which is never "comp-" + pipeline name
        comp = {"executorLabel": "exec-" + name[len("comp-"):], "inputDefinitions": {}, "outputDefinitions": {}}
        outs = comp["outputDefinitions"]
        for o in st.outputs:
            if o.is_artifact:
                outs.setdefault("artifacts", {})[o.name] = artifact_spec(o.type)
            else:
                outs.setdefault("parameters", {})[o.name] = {"parameterType": param_type(o.type)}
            if (st.name, o.name) in self.wiring.struct_metrics:
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
            task["dependentTasks"] = [EXIT_TASK] if self.layout.main is not self.layout.root else []
            task["inputs"] = {"parameters": {"run__status": {"taskFinalStatus": {"producerTask": EXIT_TASK}}}}
            comp["inputDefinitions"]["parameters"] = {
                "run__status": {"parameterType": "TASK_FINAL_STATUS", "isOptional": True}}
        self.layout.add_task(self.layout.container[st.name], self.layout.task[st.name], task, st.span)
        if st.deps:
            self.b.unsupported(st.span, f"deps: of step '{st.name}' do not key KFP's cache, which keys on the "
                               "component (image, command) and the inputs", emulated=True,
                               help="give images content-based tags, or cache: false")

    def _wire_step(self, st: ir.Step) -> None:
        scope = self.layout.container[st.name]
        task = scope.tasks[self.layout.task[st.name]]
        comp = self.step_comp[st.name]
        ins = comp["inputDefinitions"]
        self.wiring.inputs(st, scope, task, ins)
        if st.foreach is not None:
            self.wiring.foreach(st, task, ins)
        if not ins:
            del comp["inputDefinitions"]
        if not comp["outputDefinitions"]:
            del comp["outputDefinitions"]
        self.ex.add(st, comp)

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
        root: dict = {"dag": {"tasks": self.layout.root.tasks}}
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
            "deploymentSpec": {"executors": self.ex.executors},
            "pipelineInfo": info,
            "root": root,
            "schemaVersion": SCHEMA_VERSION,
            "sdkVersion": SDK_VERSION,
        }
        if self.cfg.pipeline_root:
            doc["defaultPipelineRoot"] = self.cfg.pipeline_root
        return doc

    def _platform(self) -> dict | None:
        if not self.ex.platform:
            return None
        return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": self.ex.platform}}}}
