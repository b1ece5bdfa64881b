"""Stage 4: the raw model plus the analysis -> the IR (``ir.Pipeline``).

Runs only on a spec without errors. Applies defaults, merges env (pipeline -> defaults ->
step), converts units, makes dependencies explicit and orders steps topologically.
"""

from __future__ import annotations

import json

from . import expr as E
from . import ir
from .analysis import Analysis, literal_type, param_type
from .checks.graph import Graph
from .shell import render as render_shell
from .shell import safe_exprs
from .spec import RawPipeline, RawStep, as_map, as_str, map_items
from .syntax import MapNode, Node, ScalarNode, SeqNode
from .units import cores, memory_bytes, seconds

DEFAULT_RETRY_DELAY = 10.0
DEFAULT_BACKOFF = 2.0
DEFAULT_MAX_DELAY = 3600.0


class Lowering:
    def __init__(self, raw: RawPipeline, analysis: Analysis, graph: Graph) -> None:
        self.raw = raw
        self.analysis = analysis
        self.graph = graph
        self.sites = {id(s.node): s for s in analysis.sites}
        self.step_sites: dict[int, list] = {}          # id(raw step) -> its sites (None: pipeline env)
        for s in analysis.sites:
            self.step_sites.setdefault(id(s.step) if s.step is not None else None, []).append(s)

    def value(self, node: Node) -> ir.Value:
        site = self.sites.get(id(node))
        if site is not None and site.template is not None:
            return ir.Value(None, site.template, site.type or E.ANY, node.span)
        py = node.to_python()
        return ir.Value(py, None, literal_type(py), node.span)

    def shell(self, node: ScalarNode) -> ir.Shell:
        """Each ${{ }} becomes a variable reference (the check of E315 has accepted every one).
        A binding keeps its expression's type when the rendering relied on it (a number or a
        bool), so that the executor can check it; otherwise it is text."""
        site = self.sites.get(id(node))
        if site is None or site.template is None:
            return ir.Shell(E.to_text(node.to_python()), (), node.span)
        safe = safe_exprs(site.expr_types)
        script, bindings = render_shell(site.template, safe)
        exprs = site.template.exprs
        return ir.Shell(script, tuple(
            (name, ir.Value(None, E.Template((exprs[k],)), site.expr_types[k] if k in safe else E.STRING,
                            node.offset_span(exprs[k].start, exprs[k].end)))
            for name, k in bindings), node.span)

    def env_value(self, node: Node) -> ir.Value:
        v = self.value(node)
        if v.is_literal and not isinstance(v.literal, str):
            text = E.to_text(v.literal)
            return ir.Value(text, None, E.STRING, node.span)
        return v

    def pipeline(self) -> ir.Pipeline:
        raw, root = self.raw, self.raw.root
        params = tuple(self.param(n, k, node) for n, (k, node) in raw.params.items())
        secrets = tuple(self.secret(n, k, node) for n, (k, node) in raw.secrets.items())
        defaults = as_map(root.get("defaults")) or MapNode((), root.span)
        base_env: dict[str, ir.Value] = {}
        for k, v in map_items(root.get("env")) + map_items(defaults.get("env")):
            base_env[k.value] = self.env_value(v)
        conditional = {n for n, st in raw.steps.items() if "if" in st.node}
        skippable = self.graph.may_skip(conditional)
        order = self.graph.topological()
        steps = tuple(self.step(raw.steps[n], defaults, base_env, n in skippable) for n in order)
        fin = tuple(self.step(st, defaults, base_env, False) for st in raw.finally_steps.values())
        targets = root.get("targets")
        return ir.Pipeline(
            version=1,
            name=as_str(root.get("name")) or "",
            description=as_str(root.get("description")) or "",
            schedule=as_str(root.get("schedule")),
            params=params, secrets=secrets, steps=steps, finally_steps=fin,
            targets=json.dumps(targets.to_python() if targets is not None else {}, sort_keys=True,
                               separators=(",", ":")),
            source=raw.file, span=root.span, observe=self.observe())

    def observe(self) -> ir.Observe | None:
        from .lower_observe import lower_observe

        return lower_observe(self.raw.root, self.value, self.sites)

    def param(self, name: str, key: ScalarNode, node: MapNode) -> ir.Param:
        dn = node.get("default")
        enum = node.get("enum")
        lo, hi = node.get("minimum"), node.get("maximum")
        return ir.Param(
            name=name, type=param_type(self.raw, name), required=dn is None,
            default=dn.to_python() if dn is not None else None,
            description=as_str(node.get("description")) or "",
            enum=tuple(enum.to_python()) if isinstance(enum, SeqNode) else None,
            minimum=lo.to_python() if lo is not None else None,
            maximum=hi.to_python() if hi is not None else None, span=key.span)

    def secret(self, name: str, key: ScalarNode, node: MapNode) -> ir.Secret:
        return ir.Secret(
            name=name, description=as_str(node.get("description")) or "",
            airflow=as_str(node.get("airflow")) or name,
            kubernetes=as_str(node.get("kubernetes")) or f"pipespec-secrets/{name.replace('_', '-')}",
            github=as_str(node.get("github")) or name.upper(),
            env=as_str(node.get("env")) or name.upper(), span=key.span)

    def step(self, st: RawStep, defaults: MapNode, base_env: dict, may_skip: bool) -> ir.Step:
        def pick(key: str) -> Node | None:
            v = st.get(key)
            return v if v is not None else defaults.get(key)

        env = dict(base_env)
        for k, v in map_items(st.get("env")):
            env[k.value] = self.env_value(v)
        own = self.step_sites.get(id(st), [])
        shared = [s for s in self.step_sites.get(None, []) if self._in_env(s, env)]
        secrets = sorted({r.name for s in own + shared if s.field in ("env", "pipeline_env")
                          for r in s.refs if r.kind == "secret"})
        run = st.get("run")
        shell = argv = None
        if isinstance(run, ScalarNode):
            shell = self.shell(run)
        elif isinstance(run, SeqNode):
            argv = tuple(self.env_value(i) for i in run.items)
        call = as_str(st.get("call"))
        module, function = (call.split(":", 1) if call else (None, None))
        inputs = sorted({(r.step, r.name) for s in own for r in s.refs if r.kind == "output"})
        inp = tuple(ir.Input(s, o, self.raw.steps[s].output(o).type, self.raw.steps[s].has_foreach) for s, o in inputs)
        res = as_map(pick("resources"))
        resources = ir.Resources(
            cpu=cores(res.get("cpu").to_python()) if res and res.get("cpu") is not None else None,
            memory=memory_bytes(res.get("memory").to_python()) if res and res.get("memory") is not None else None,
            gpu=int(res.get("gpu").to_python()) if res and res.get("gpu") is not None else 0,
            accelerator=as_str(res.get("accelerator")) if res else None)
        cond = st.get("if")
        fe = st.get("foreach")
        item_type = self.analysis._item_types.get(st.name)
        timeout = pick("timeout")
        cache = pick("cache")
        par = st.get("parallelism")
        deps = st.get("deps")
        return ir.Step(
            name=st.name, description=as_str(st.get("description")) or "",
            kind="call" if call else "run", shell=shell, argv=argv, module=module, function=function,
            args=tuple((k.value, self.value(v)) for k, v in map_items(st.get("with"))),
            outputs=tuple(ir.Output(o.name, o.type, o.description, o.key.span) for o in st.outputs),
            needs=tuple(n.value for n in st.needs),
            depends_on=tuple(sorted(self.graph.deps.get(st.name, ()))) if not st.is_finally else (),
            inputs=inp,
            condition=self.value(cond) if cond is not None else None,
            foreach=self.value(fe) if fe is not None else None,
            item_type=item_type,
            parallelism=par.to_python() if par is not None else None,
            image=as_str(pick("image")),
            env=tuple(sorted(env.items())),
            secrets=tuple(secrets),
            resources=resources,
            retries=self.retries(pick("retries")),
            timeout_s=seconds(timeout.to_python()) if timeout is not None else None,
            cache=bool(cache.to_python()) if cache is not None else True,
            deps=tuple(deps.to_python()) if isinstance(deps, SeqNode) else (),
            is_finally=st.is_finally, may_skip=may_skip, span=st.span)

    def _in_env(self, site, env: dict) -> bool:
        # a pipeline/defaults env value still in effect for the step (not overridden by its own env)
        return any(v.span == site.node.span for v in env.values())

    def retries(self, node: Node | None) -> ir.Retries:
        if node is None:
            return ir.Retries(0, DEFAULT_RETRY_DELAY, DEFAULT_BACKOFF, DEFAULT_MAX_DELAY)
        v = node.to_python()
        if isinstance(v, int):
            return ir.Retries(v, DEFAULT_RETRY_DELAY, DEFAULT_BACKOFF, DEFAULT_MAX_DELAY)
        return ir.Retries(
            limit=int(v.get("limit", 0)),
            delay_s=seconds(v["delay"]) if "delay" in v else DEFAULT_RETRY_DELAY,
            backoff=float(v.get("backoff", DEFAULT_BACKOFF)),
            max_delay_s=seconds(v["max_delay"]) if "max_delay" in v else DEFAULT_MAX_DELAY)
