#!/usr/bin/env python
"""Verify a Kubeflow Pipelines v2 IR YAML with the real kfp SDK + our own semantic checks.

Runs INSIDE the `kfp` env (tests/tooling/envs.py). Usage:
    <kfp-env>/bin/python tests/tooling/check_kfp.py IR_YAML

Checks (each error is prefixed by the check that raised it):
  proto:       json_format.ParseDict(doc, PipelineSpec()) strict (unknown fields, types, enums)
  deployment:  ParseDict(doc["deploymentSpec"], PipelineDeploymentConfig()) strict
  load:        kfp.components.load_component_from_text() works and loads the PIPELINE (its name is
               pipelineInfo.name; a component named like the pipeline makes kfp load that one)
  semantic:    references, input wiring, sibling dependencies, cycles, executors, placeholders
  cel:         every triggerPolicy.condition parses with cel-python and only reads inputs of its task
Prints {"ok", "errors", "warnings", "pipeline_name", "components", "tasks"}; exit 0 when ok.
"""
from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

PARAM_REF = re.compile(r"inputs\.parameter_values\[\s*(['\"])(.*?)\1\s*\]")
ART_REF = re.compile(r"inputs\.artifacts\[\s*(['\"])(.*?)\1\s*\]")
ANY_INPUTS_REF = re.compile(r"\binputs\s*\.\s*([A-Za-z_]+)")
PLACEHOLDER = re.compile(r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\[(['\"])(.*?)\3\]")


def _load_yaml(text: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    return docs


class Checker:
    """The semantic and CEL checks over the loaded document: plain Python, so the fast tests run
    it in-process too (tests/fastcheck.py), with ``parse_cel=False`` where cel-python is absent
    (the references a condition reads are still checked)."""

    def __init__(self, doc: dict, *, parse_cel: bool = True):
        self.doc = doc
        self.parse_cel = parse_cel
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.components: dict = doc.get("components") or {}
        self.executors: dict = ((doc.get("deploymentSpec") or {}).get("executors")) or {}
        self.used_components: set[str] = set()
        self.used_executors: set[str] = set()
        self.n_tasks = 0

    def err(self, where: str, msg: str) -> None:
        self.errors.append(f"semantic: {where}: {msg}")

    def warn(self, where: str, msg: str) -> None:
        self.warnings.append(f"semantic: {where}: {msg}")

    # ---- helpers --------------------------------------------------------------------------
    @staticmethod
    def _defs(comp: dict, which: str, kind: str) -> dict:
        return ((comp.get(which) or {}).get(kind)) or {}

    def _component(self, name: str) -> dict | None:
        return self.components.get(name)

    # ---- entry ----------------------------------------------------------------------------
    def run(self) -> None:
        root = self.doc.get("root")
        if not isinstance(root, dict) or "dag" not in root:
            self.err("root", "missing root.dag")
            return
        self._check_dag("root", root, set())
        for name, comp in self.components.items():
            if not isinstance(comp, dict):
                self.err(f"components.{name}", "not a mapping")
                continue
            has_dag, has_exec = "dag" in comp, "executorLabel" in comp
            if has_dag == has_exec:
                self.err(f"components.{name}", "needs exactly one of dag / executorLabel")
            if has_exec:
                label = comp["executorLabel"]
                self.used_executors.add(label)
                if label not in self.executors:
                    self.err(f"components.{name}", f"executorLabel {label!r} not in deploymentSpec.executors")
                else:
                    self._check_placeholders(name, comp, self.executors[label])
            if name not in self.used_components:
                self.warn(f"components.{name}", "component is never referenced by a task")
        for label in self.executors:
            if label not in self.used_executors:
                self.warn(f"deploymentSpec.executors.{label}", "executor is not used by any component")

    def _check_placeholders(self, cname: str, comp: dict, executor: dict) -> None:
        strings: list[str] = []

        def walk(x):
            if isinstance(x, str):
                strings.append(x)
            elif isinstance(x, dict):
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
        walk(executor)
        for s in strings:
            for m in PLACEHOLDER.finditer(s):
                io, kind, name = m.group(1), m.group(2), m.group(4)
                which = "inputDefinitions" if io == "inputs" else "outputDefinitions"
                if name not in self._defs(comp, which, kind):
                    self.err(f"components.{cname}", f"executor placeholder {{{{$.{io}.{kind}['{name}']}}}} "
                             f"is not declared in {which}.{kind}")

    def _check_dag(self, cname: str, comp: dict, stack: set[str]) -> None:
        if cname in stack:
            self.err(f"components.{cname}", "component recursion (a DAG contains itself)")
            return
        stack = stack | {cname}
        dag = comp.get("dag") or {}
        tasks: dict = dag.get("tasks") or {}
        where_c = "root" if cname == "root" else f"components.{cname}"
        in_params = self._defs(comp, "inputDefinitions", "parameters")
        in_arts = self._defs(comp, "inputDefinitions", "artifacts")
        edges: dict[str, set[str]] = {t: set() for t in tasks}
        if not tasks:
            self.err(where_c, "DAG has no tasks")
        for tname, task in tasks.items():
            self.n_tasks += 1
            w = f"{where_c}.dag.tasks.{tname}"
            ref = ((task.get("componentRef") or {}).get("name"))
            child = self._component(ref) if ref else None
            if not ref:
                self.err(w, "missing componentRef.name")
            elif child is None:
                self.err(w, f"componentRef {ref!r} is not in components")
            else:
                self.used_components.add(ref)
            for dep in task.get("dependentTasks") or []:
                if dep not in tasks:
                    self.err(w, f"dependentTasks names {dep!r}, not a sibling task in this DAG")
                elif dep == tname:
                    self.err(w, "task depends on itself")
                else:
                    edges[tname].add(dep)
            inputs = task.get("inputs") or {}
            sup_params: dict = inputs.get("parameters") or {}
            sup_arts: dict = inputs.get("artifacts") or {}
            c_params = self._defs(child, "inputDefinitions", "parameters") if child else {}
            c_arts = self._defs(child, "inputDefinitions", "artifacts") if child else {}
            # --- iterators
            iterated: set[str] = set()
            pit, ait = task.get("parameterIterator"), task.get("artifactIterator")
            if pit:
                item = pit.get("itemInput")
                iterated.add(item)
                if child is not None and item not in c_params:
                    self.err(w, f"parameterIterator.itemInput {item!r} is not an input parameter of {ref}")
                items = pit.get("items") or {}
                src = items.get("inputParameter")
                if src is not None and src not in sup_params:
                    self.err(w, f"parameterIterator.items.inputParameter {src!r} is not an input of this task")
                if src is None and "raw" not in items:
                    self.err(w, "parameterIterator.items needs inputParameter or raw")
                if "raw" in items:
                    try:
                        v = json.loads(items["raw"])
                        if not isinstance(v, list):
                            self.err(w, "parameterIterator.items.raw is not a JSON list")
                    except (TypeError, ValueError):
                        self.err(w, "parameterIterator.items.raw is not JSON")
                if child is not None and "dag" not in child:
                    self.err(w, "a loop task must reference a DAG component")
            if ait:
                item = ait.get("itemInput")
                iterated.add(item)
                if child is not None and item not in c_arts:
                    self.err(w, f"artifactIterator.itemInput {item!r} is not an input artifact of {ref}")
                src = (ait.get("items") or {}).get("inputArtifact")
                if src not in sup_arts:
                    self.err(w, f"artifactIterator.items.inputArtifact {src!r} is not an input of this task")
            # --- supplied parameters
            for pname, spec in sup_params.items():
                pw = f"{w}.inputs.parameters.{pname}"
                if child is not None and pname not in c_params:
                    self.err(pw, f"supplied but not declared in {ref}.inputDefinitions.parameters")
                if not isinstance(spec, dict):
                    self.err(pw, "not a mapping")
                    continue
                if "componentInputParameter" in spec:
                    src = spec["componentInputParameter"]
                    if src not in in_params:
                        self.err(pw, f"componentInputParameter {src!r} is not an input parameter of the "
                                 f"enclosing {where_c}")
                    elif child is not None and pname in c_params:
                        self._type_edge(pw, in_params[src], c_params[pname])
                if "taskOutputParameter" in spec:
                    top = spec["taskOutputParameter"] or {}
                    prod, key = top.get("producerTask"), top.get("outputParameterKey")
                    out = self._producer_output(pw, tasks, tname, prod, key, "parameters")
                    if prod in tasks and prod != tname:
                        edges[tname].add(prod)
                    if out is not None and child is not None and pname in c_params:
                        self._type_edge(pw, out, c_params[pname])
                if "taskFinalStatus" in spec:
                    prod = (spec["taskFinalStatus"] or {}).get("producerTask")
                    if prod not in tasks or prod == tname:
                        self.err(pw, f"taskFinalStatus.producerTask {prod!r} is not a sibling task")
                    else:
                        edges[tname].add(prod)
                        if prod not in (task.get("dependentTasks") or []):
                            self.err(pw, f"exit task must list {prod!r} in dependentTasks")
                    if ((task.get("triggerPolicy") or {}).get("strategy")) != "ALL_UPSTREAM_TASKS_COMPLETED":
                        self.err(w, "a task with a taskFinalStatus input needs triggerPolicy.strategy "
                                 "ALL_UPSTREAM_TASKS_COMPLETED")
                    if child is not None and pname in c_params and \
                            c_params[pname].get("parameterType") != "TASK_FINAL_STATUS":
                        self.err(pw, "taskFinalStatus feeds an input whose parameterType is not TASK_FINAL_STATUS")
                kinds = [k for k in ("componentInputParameter", "taskOutputParameter", "runtimeValue",
                                     "taskFinalStatus") if k in spec]
                if len(kinds) != 1:
                    self.err(pw, f"needs exactly one source, has {kinds or 'none'}")
            # --- supplied artifacts
            for aname, spec in sup_arts.items():
                aw = f"{w}.inputs.artifacts.{aname}"
                if child is not None and aname not in c_arts:
                    self.err(aw, f"supplied but not declared in {ref}.inputDefinitions.artifacts")
                if not isinstance(spec, dict):
                    self.err(aw, "not a mapping")
                    continue
                if "componentInputArtifact" in spec:
                    src = spec["componentInputArtifact"]
                    if src not in in_arts:
                        self.err(aw, f"componentInputArtifact {src!r} is not an input artifact of the "
                                 f"enclosing {where_c}")
                if "taskOutputArtifact" in spec:
                    toa = spec["taskOutputArtifact"] or {}
                    prod, key = toa.get("producerTask"), toa.get("outputArtifactKey")
                    self._producer_output(aw, tasks, tname, prod, key, "artifacts")
                    if prod in tasks and prod != tname:
                        edges[tname].add(prod)
                kinds = [k for k in ("componentInputArtifact", "taskOutputArtifact") if k in spec]
                if len(kinds) != 1:
                    self.err(aw, f"needs exactly one source, has {kinds or 'none'}")
            # --- required inputs supplied
            if child is not None:
                for pname, pdef in c_params.items():
                    if pname in sup_params or pname in iterated:
                        continue
                    if "defaultValue" in (pdef or {}) or (pdef or {}).get("isOptional"):
                        continue
                    self.err(w, f"required input parameter {pname!r} of {ref} is not supplied")
                for aname, adef in c_arts.items():
                    if aname in sup_arts or aname in iterated or (adef or {}).get("isOptional"):
                        continue
                    self.err(w, f"required input artifact {aname!r} of {ref} is not supplied")
            # --- trigger policy (CEL)
            cond = (task.get("triggerPolicy") or {}).get("condition")
            if cond is not None:
                self._check_cel(w, cond, sup_params, sup_arts)
            # --- recurse into sub-DAGs
            if child is not None and "dag" in child:
                self._check_dag(ref, child, stack)
        # --- DAG outputs
        outs = dag.get("outputs") or {}
        declared_out_p = self._defs(comp, "outputDefinitions", "parameters")
        declared_out_a = self._defs(comp, "outputDefinitions", "artifacts")
        for oname, ospec in (outs.get("parameters") or {}).items():
            ow = f"{where_c}.dag.outputs.parameters.{oname}"
            if oname not in declared_out_p:
                self.err(ow, "DAG output not declared in outputDefinitions.parameters")
            sels = []
            if "valueFromParameter" in ospec:
                sels = [ospec["valueFromParameter"]]
            elif "valueFromOneof" in ospec:
                sels = (ospec["valueFromOneof"] or {}).get("parameterSelectors") or []
            else:
                self.err(ow, "needs valueFromParameter or valueFromOneof")
            for sel in sels:
                self._producer_output(ow, tasks, None, sel.get("producerSubtask"),
                                      sel.get("outputParameterKey"), "parameters")
        for oname, ospec in (outs.get("artifacts") or {}).items():
            ow = f"{where_c}.dag.outputs.artifacts.{oname}"
            if oname not in declared_out_a:
                self.err(ow, "DAG output not declared in outputDefinitions.artifacts")
            for sel in (ospec or {}).get("artifactSelectors") or []:
                self._producer_output(ow, tasks, None, sel.get("producerSubtask"),
                                      sel.get("outputArtifactKey"), "artifacts")
        for oname in declared_out_p:
            if oname not in (outs.get("parameters") or {}):
                self.err(where_c, f"declared output parameter {oname!r} is not produced by dag.outputs")
        for oname in declared_out_a:
            if oname not in (outs.get("artifacts") or {}):
                self.err(where_c, f"declared output artifact {oname!r} is not produced by dag.outputs")
        self._check_cycles(where_c, edges)

    def _producer_output(self, w, tasks, self_name, prod, key, kind):
        if prod is None or key is None:
            self.err(w, "producer task / output key missing")
            return None
        if prod not in tasks:
            self.err(w, f"producer task {prod!r} is not a task in the same DAG "
                        f"(values from outside a sub-DAG must come in as its inputs)")
            return None
        if prod == self_name:
            self.err(w, "a task consumes its own output")
            return None
        pref = ((tasks[prod].get("componentRef") or {}).get("name"))
        pcomp = self._component(pref) if pref else None
        if pcomp is None:
            return None
        outs = self._defs(pcomp, "outputDefinitions", kind)
        if key not in outs:
            self.err(w, f"output {key!r} is not in {pref}.outputDefinitions.{kind} "
                        f"(has {sorted(outs)})")
            return None
        return outs[key]

    def _type_edge(self, w, src: dict, dst: dict) -> None:
        a, b = (src or {}).get("parameterType"), (dst or {}).get("parameterType")
        if a and b and a != b and not (a == "NUMBER_INTEGER" and b == "NUMBER_DOUBLE"):
            self.warn(w, f"parameter type {a} flows into {b}")

    def _check_cel(self, w: str, cond: str, sup_params: dict, sup_arts: dict) -> None:
        try:
            if self.parse_cel:
                import celpy  # cel-python
                celpy.CELParser().parse(cond)
        except Exception as exc:  # celpy raises CELParseError (lark errors inside)
            self.errors.append(f"cel: {w}.triggerPolicy.condition does not parse as CEL: "
                               f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                               f" (condition: {cond!r})")
            return
        for m in PARAM_REF.finditer(cond):
            if m.group(2) not in sup_params:
                self.errors.append(f"cel: {w}.triggerPolicy.condition reads inputs.parameter_values"
                                   f"[{m.group(2)!r}], which is not an input parameter of this task")
        for m in ART_REF.finditer(cond):
            if m.group(2) not in sup_arts:
                self.errors.append(f"cel: {w}.triggerPolicy.condition reads inputs.artifacts"
                                   f"[{m.group(2)!r}], which is not an input artifact of this task")
        for m in ANY_INPUTS_REF.finditer(cond):
            if m.group(1) not in ("parameter_values", "artifacts"):
                self.errors.append(f"cel: {w}.triggerPolicy.condition reads inputs.{m.group(1)} "
                                   f"(only inputs.parameter_values[...] / inputs.artifacts[...] exist)")

    def _check_cycles(self, where: str, edges: dict[str, set[str]]) -> None:
        WHITE, GREY, BLACK = 0, 1, 2
        color = {t: WHITE for t in edges}
        for start in edges:
            if color[start] != WHITE:
                continue
            stack = [(start, iter(sorted(edges[start])))]
            path = [start]
            color[start] = GREY
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    color[node] = BLACK
                    stack.pop()
                    path.pop()
                    continue
                if color.get(nxt) == GREY:
                    cyc = path[path.index(nxt):] + [nxt]
                    self.err(where, "dependency cycle among sibling tasks: " + " -> ".join(cyc))
                    return
                if color.get(nxt) == WHITE:
                    color[nxt] = GREY
                    path.append(nxt)
                    stack.append((nxt, iter(sorted(edges[nxt]))))


def check_text(text: str) -> dict:
    errors: list[str] = []
    warnings: list[str] = []
    report: dict = {"ok": False, "errors": errors, "warnings": warnings}
    try:
        docs = _load_yaml(text)
    except yaml.YAMLError as exc:
        errors.append(f"yaml: {exc}")
        return report
    if not docs or not isinstance(docs[0], dict):
        errors.append("yaml: the file holds no mapping")
        return report
    doc = docs[0]
    platform = docs[1] if len(docs) > 1 else None
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    except Exception as exc:
        errors.append(f"proto: PipelineSpec: {exc}")
    if "deploymentSpec" in doc:
        try:
            json_format.ParseDict(doc["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig(),
                                  ignore_unknown_fields=False)
        except Exception as exc:
            errors.append(f"deployment: PipelineDeploymentConfig: {exc}")
    else:
        errors.append("deployment: missing deploymentSpec")
    if platform is not None:
        try:
            json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
        except Exception as exc:
            errors.append(f"proto: PlatformSpec (2nd YAML document): {exc}")
    for key in ("pipelineInfo", "root", "schemaVersion", "components", "deploymentSpec"):
        if key not in doc:
            errors.append(f"proto: missing top-level key {key!r}")
    pname = ((doc.get("pipelineInfo") or {}).get("name"))
    report["pipeline_name"] = pname
    # --- kfp loader
    try:
        from kfp import components as kfp_components
        from kfp.dsl import utils as dsl_utils
        comp_key = dsl_utils.sanitize_component_name(pname or "")
        if comp_key in (doc.get("components") or {}):
            errors.append(f"load: a component is named {comp_key!r}, like the pipeline {pname!r}: kfp would "
                          f"load that single component instead of the pipeline; rename one of them")
        loaded = kfp_components.load_component_from_text(text)
        if loaded.name != pname:
            errors.append(f"load: kfp loaded a component named {loaded.name!r}, not the pipeline {pname!r}")
        impl = loaded.component_spec.implementation
        if getattr(impl, "graph", None) is None:
            errors.append("load: kfp did not load the file as a pipeline (no graph implementation)")
        report["loaded_inputs"] = sorted(loaded.component_spec.inputs or {})
        report["loaded_outputs"] = sorted(loaded.component_spec.outputs or {})
    except Exception as exc:
        errors.append(f"load: kfp.components.load_component_from_text: {type(exc).__name__}: {exc}")
    # --- semantic + cel
    try:
        ch = Checker(doc)
        ch.run()
        errors.extend(ch.errors)
        warnings.extend(ch.warnings)
        report["components"] = len(ch.components)
        report["tasks"] = ch.n_tasks
    except Exception as exc:  # malformed beyond what the proto check reports
        errors.append(f"semantic: checker crashed on malformed IR: {type(exc).__name__}: {exc}")
    report["ok"] = not errors
    return report


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = open(argv[0], encoding="utf-8").read()
    except OSError as exc:
        print(json.dumps({"ok": False, "errors": [f"io: {exc}"], "warnings": []}))
        return 1
    from _report import emit, json_stdout
    out = json_stdout()
    report = check_text(text)
    return emit(out, report)


if __name__ == "__main__":
    sys.exit(main())
