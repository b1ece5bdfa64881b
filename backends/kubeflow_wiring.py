"""The Kubeflow backend's wiring: how values and order reach each task across the scopes.

A value produced in one scope and read in a deeper one is threaded down through each sub-DAG's
inputs under one ``pipelinechannel--<task>--<key>`` name (``pipelinechannel--<param>`` for
parameters), as the SDK does; fan-in leaves a loop through the loop DAG's outputs. A loop's
items and a condition's CEL read their values the same way. Dependencies become
``dependentTasks`` between the two tasks that represent producer and consumer in their lowest
common scope (``kubeflow_layout``).
"""

from __future__ import annotations

import json

from pipespec import expr as E
from pipespec import ir
from pipespec.backends.kubeflow_cel import CelTranslator, cel_string
from pipespec.backends.kubeflow_layout import Layout, Scope
from pipespec.backends.kubeflow_values import artifact_spec, kfp_number, param_type


class Wiring:
    """Channels, loop items, conditions and dependencies over one ``Layout``."""

    def __init__(self, backend, pipe: ir.Pipeline, layout: Layout) -> None:
        self.b = backend
        self.pipe = pipe
        self.L = layout
        self.struct_metrics: set[tuple[str, str]] = set()
        self._find_struct_metrics()

    def _find_struct_metrics(self) -> None:
        """Metrics outputs whose fields a condition or foreach reads: exposed as a Struct too."""
        for st in self.pipe.steps:
            for v in (st.condition, st.foreach):
                for ref in _value_refs(v):
                    if ref.root == "steps" and len(ref.path) >= 4:
                        out = self.pipe.step(ref.path[0]).output(ref.path[2])
                        if out is not None and out.type == "metrics":
                            self.struct_metrics.add((ref.path[0], out.name))

    def thread(self, src: dict, origin: Scope, target: Scope, channel: str, spec: dict,
                artifact: bool) -> dict:
        path = target.path()
        for sc in path[path.index(origin) + 1:]:
            task = sc.parent.tasks[sc.task]
            task.setdefault("inputs", {}).setdefault("artifacts" if artifact else "parameters", {})[channel] = src
            (sc.in_artifacts if artifact else sc.in_params)[channel] = spec
            src = {"componentInputArtifact": channel} if artifact else {"componentInputParameter": channel}
        return src

    def param_src(self, name: str, target: Scope) -> tuple[dict, str]:
        spec = {"parameterType": param_type(self.pipe.param(name).type)}
        channel = "pipelinechannel--" + name
        return self.thread({"componentInputParameter": name}, self.L.root, target, channel, spec, False), channel

    def output_src(self, step: str, key: str, artifact: bool, spec: dict, target: Scope) -> tuple[dict, dict, str]:
        """A source for output ``key`` of ``step`` valid inside ``target``, its type spec there and
        the channel name it was threaded under."""
        lca = self.L.common(self.L.container[step], target)
        rep = self.L.rep(step, lca)
        if any(sc.task == rep and sc.parent is lca for sc in self.L.conds.values()):
            self.b.unsupported(self.pipe.step(step).span, f"output '{key}' of step '{step}' is read outside "
                               f"the condition group of its if: (by a step that also depends on another, "
                               "independent if:); KFP cannot pass a value out of a skippable group",
                               help="make one of the conditional steps depend on the other (needs:)")
        elif rep != self.L.task[step]:                    # a loop: the fan-in list
            loop = self.L.loops[step]
            if artifact:
                spec = {**spec, "isArtifactList": True}
                loop.out_artifacts[key] = spec
                loop.dag_out_artifacts[key] = {"artifactSelectors": [
                    {"producerSubtask": self.L.task[step], "outputArtifactKey": key}]}
            else:
                spec = {"parameterType": "LIST"}
                loop.out_params[key] = spec
                loop.dag_out_params[key] = {"valueFromParameter": {
                    "producerSubtask": self.L.task[step], "outputParameterKey": key}}
        if artifact:
            src = {"taskOutputArtifact": {"producerTask": rep, "outputArtifactKey": key}}
        else:
            src = {"taskOutputParameter": {"producerTask": rep, "outputParameterKey": key}}
        channel = f"pipelinechannel--{rep}--{key}"
        return self.thread(src, lca, target, channel, spec, artifact), spec, channel

    def inputs(self, st: ir.Step, scope: Scope, task: dict, ins: dict) -> None:
        """The params and upstream outputs a step reads, into its task's inputs (``task``) and
        its component's input definitions (``ins``)."""
        for p in sorted(_step_params(st)):
            src, _ = self.param_src(p, scope)
            task.setdefault("inputs", {}).setdefault("parameters", {})["params__" + p] = src
            ins.setdefault("parameters", {})["params__" + p] = {"parameterType": param_type(self.pipe.param(p).type)}
        for i in st.inputs:
            key = f"steps__{i.step}__{i.output}"
            if i.is_artifact:
                src, spec, _ = self.output_src(i.step, i.output, True, artifact_spec(i.type), scope)
                task.setdefault("inputs", {}).setdefault("artifacts", {})[key] = src
                ins.setdefault("artifacts", {})[key] = spec
            else:
                src, spec, _ = self.output_src(i.step, i.output, False,
                                                {"parameterType": param_type(i.type)}, scope)
                task.setdefault("inputs", {}).setdefault("parameters", {})[key] = src
                ins.setdefault("parameters", {})[key] = spec

    def foreach(self, st: ir.Step, task: dict, ins: dict) -> None:
        loop = self.L.loops[st.name]
        loop_task = loop.parent.tasks[loop.task]
        item_input = f"pipelinechannel--{self.L.task[st.name]}-loop-item"
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
                _, channel = self.param_src(ref.path[0], loop)
            elif ref is not None and ref.root == "steps" and len(ref.path) == 3:
                out = self.pipe.step(ref.path[0]).output(ref.path[2])
                if out is not None and not out.is_artifact:
                    _, _, channel = self.output_src(ref.path[0], out.name, False, {"parameterType": "LIST"}, loop)
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
    def condition(self, scope: Scope) -> None:
        task = scope.parent.tasks[scope.task]
        parts = []
        for st in scope.guards:
            cel = self.condition_cel(st, scope)
            if cel is None:
                return
            parts.append(cel if len(scope.guards) == 1 else f"({cel})")
        task["triggerPolicy"] = {"condition": " && ".join(parts)}

    def condition_cel(self, st: ir.Step, scope: Scope) -> str | None:
        v = st.condition
        if v.is_literal:
            return "true" if v.literal else "false"
        tr = CelTranslator(lambda tr, ref: self.ref_cel(tr, ref, scope))
        return tr.render(v, self.b, f"if: of step '{st.name}'",
                         help="compute the decision in a step and test its bool output")

    def ref_cel(self, tr: CelTranslator, ref: E.Ref, scope: Scope) -> str:
        if ref.root == "params":
            _, channel = self.param_src(ref.path[0], scope)
            return f"inputs.parameter_values[{cel_string(channel)}]" + _fields(ref.path[1:])
        if ref.root == "steps":
            prod, out = self.pipe.step(ref.path[0]), self.pipe.step(ref.path[0]).output(ref.path[2])
            rest = ref.path[3:]
            if out.type == "metrics":
                _, _, channel = self.output_src(prod.name, "metrics__" + out.name, False,
                                                 {"parameterType": "STRUCT"}, scope)
            else:
                _, _, channel = self.output_src(prod.name, out.name, False,
                                                 {"parameterType": param_type(out.type)}, scope)
            base = f"inputs.parameter_values[{cel_string(channel)}]"
            if rest and prod.foreach is not None:
                return f"{base}.map(m, m{_fields(rest)})"
            return base + _fields(rest)
        tr.unsupported(ref, f"{ref.dotted} is not known to a KFP condition (conditions read only parameters "
                            "and task outputs)")

    # -- dependencies ----------------------------------------------------------------------------
    def dependencies(self, st: ir.Step) -> None:
        for d in st.depends_on:
            lca = self.L.common(self.L.container[d], self.L.container[st.name])
            rd, rs = self.L.rep(d, lca), self.L.rep(st.name, lca)
            if rd != rs:
                deps = lca.tasks[rs].setdefault("dependentTasks", [])
                if rd not in deps:
                    deps.append(rd)


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
