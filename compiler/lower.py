"""Stage 4: the raw model, the analysis and the graph -> the IR (``ir.Pipeline``).

Runs only on a spec without errors. Applies defaults, merges env (pipeline -> defaults ->
step), converts units, makes dependencies explicit and orders steps topologically. It reads
the typed raw model (``spec``), never the syntax tree by key.
"""

from __future__ import annotations

from . import expr as E
from . import ir
from .analysis import Analysis, literal_type, param_type
from .graph import Graph
from .shell import render as render_shell
from .shell import safe_exprs
from .spec import RawParam, RawPipeline, RawRetries, RawStep, as_str
from .syntax import MapNode, Node, ScalarNode, SeqNode
from .units import cores, memory_bytes, seconds

DEFAULT_RETRY_DELAY = 10.0
DEFAULT_BACKOFF = 2.0
DEFAULT_MAX_DELAY = 3600.0


def _typed(site) -> tuple[ir.TypedExpr, ...]:
    """The analysis' findings on each expression of a site, as the IR carries them."""
    where = site.node.positions()
    return tuple(ir.TypedExpr(te.expr, te.offset, types, where)
                 for te, types in zip(site.template.exprs, site.node_types))


class Lowering:
    def __init__(self, raw: RawPipeline, analysis: Analysis, graph: Graph) -> None:
        self.raw = raw
        self.analysis = analysis
        self.graph = graph
        self.sites = {id(s.node): s for s in analysis.sites}
        self.step_sites: dict[int, list] = {}          # id(raw step) -> its sites
        for s in analysis.sites:
            if s.step is not None:
                self.step_sites.setdefault(id(s.step), []).append(s)
        self.base_secrets: dict[str, frozenset[str]] = {}   # shared env name -> the secrets its value reads

    def value(self, node: Node) -> ir.Value:
        site = self.sites.get(id(node))
        if site is not None and site.template is not None:
            return ir.Value(None, site.template, site.type or E.ANY, node.span, _typed(site))
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
        exprs, typed = site.template.exprs, _typed(site)
        return ir.Shell(script, tuple(
            (name, ir.Value(None, E.Template((exprs[k],)), site.expr_types[k] if k in safe else E.STRING,
                            node.offset_span(exprs[k].start, exprs[k].end), typed[k:k + 1]))
            for name, k in bindings), node.span)

    def env_value(self, node: Node) -> ir.Value:
        v = self.value(node)
        if v.is_literal and not isinstance(v.literal, str):
            text = E.to_text(v.literal)
            return ir.Value(text, None, E.STRING, node.span)
        return v

    def pipeline(self) -> ir.Pipeline:
        raw, root = self.raw, self.raw.root
        params = tuple(self.param(p) for p in raw.params.values())
        secrets = tuple(self.secret(n, k, node) for n, (k, node) in raw.secrets.items())
        # the env in effect before a step's own (pipeline, then defaults); its values are shared
        # by every step that keeps them
        written = {k.value: v for k, v in raw.env + raw.defaults.env}
        base_env = {name: self.env_value(v) for name, v in written.items()}
        self.base_secrets = {name: refs for name, refs in ((n, self.secrets_of(v)) for n, v in written.items()) if refs}
        skippable = self.graph.skippable
        steps = tuple(self.step(raw.steps[n], base_env, n in skippable) for n in self.graph.topological)
        fin = tuple(self.step(st, base_env, False) for st in raw.finally_steps.values())
        targets = root.get("targets")
        return ir.Pipeline(
            version=1,
            name=raw.name,
            description=raw.description,
            schedule=raw.schedule,
            params=params, secrets=secrets, steps=steps, finally_steps=fin,
            targets=tuple(sorted(targets.to_python().items())) if isinstance(targets, MapNode) else (),
            source=raw.file, span=root.span, observe=self.observe())

    def observe(self) -> ir.Observe | None:
        from .lower_observe import lower_observe

        return lower_observe(self.raw.root, self.value, self.sites)

    def param(self, p: RawParam) -> ir.Param:
        dn, lo, hi = p.default, p.minimum, p.maximum
        return ir.Param(
            name=p.name, type=param_type(self.raw, p.name), required=dn is None,
            default=dn.to_python() if dn is not None else None,
            description=p.description,
            enum=tuple(p.enum.to_python()) if isinstance(p.enum, SeqNode) else None,
            minimum=lo.to_python() if lo is not None else None,
            maximum=hi.to_python() if hi is not None else None, span=p.key.span)

    def secret(self, name: str, key: ScalarNode, node: MapNode) -> ir.Secret:
        # every key but these names a target's store; its default is the store's (backends/options.py)
        stores = tuple((k, as_str(node.get(k)) or "") for k in node.keys() if k not in ("description", "env"))
        return ir.Secret(
            name=name, description=as_str(node.get("description")) or "",
            env=as_str(node.get("env")) or name.upper(), stores=stores, span=key.span)

    def secrets_of(self, node: Node) -> frozenset[str]:
        site = self.sites.get(id(node))
        return frozenset(r.name for r in site.refs if r.kind == "secret") if site is not None else frozenset()

    def step(self, st: RawStep, base_env: dict[str, ir.Value], may_skip: bool) -> ir.Step:
        own, dflt = st.settings, self.raw.defaults
        env = dict(base_env)
        mine = set()
        secrets: set[str] = set()
        for k, v in st.env:
            env[k.value] = self.env_value(v)
            mine.add(k.value)
            secrets |= self.secrets_of(v)
        # the secrets a step reads: those of its env values in effect (its own, and the shared
        # ones it does not override)
        for name, refs in self.base_secrets.items():
            if name not in mine:
                secrets |= refs
        shell = argv = None
        if isinstance(st.run, ScalarNode):
            shell = self.shell(st.run)
        elif isinstance(st.run, SeqNode):
            argv = tuple(self.env_value(i) for i in st.run.items)
        call = st.call
        module, function = (call.split(":", 1) if call else (None, None))
        inputs = sorted({(r.step, r.name) for s in self.step_sites.get(id(st), ()) for r in s.refs if r.kind == "output"})
        inp = tuple(ir.Input(s, o, self.raw.steps[s].output(o).type, self.raw.steps[s].has_foreach) for s, o in inputs)
        res = _or(own.resources, dflt.resources)
        resources = ir.Resources(
            cpu=cores(res.cpu.to_python()) if res and res.cpu is not None else None,
            memory=memory_bytes(res.memory.to_python()) if res and res.memory is not None else None,
            gpu=int(res.gpu.to_python()) if res and res.gpu is not None else 0,
            accelerator=res.accelerator if res else None)
        cond, fe, par = st.condition, st.foreach, st.parallelism
        # a finally: step is an exit handler: it runs on every run (a cached notification is one
        # never sent) unless its own cache: says otherwise; defaults.cache does not reach it
        timeout, cache = _or(own.timeout, dflt.timeout), (own.cache if st.is_finally else _or(own.cache, dflt.cache))
        # a setting the step takes from defaults: is reported (by a target that cannot carry it)
        # where defaults: says it, not at the step
        from_defaults = tuple((k, d.span) for k, o, d in (
            ("retries", own.retries, dflt.retries), ("timeout", own.timeout, dflt.timeout),
            ("cache", own.cache, None if st.is_finally else dflt.cache), ("resources", own.resources, dflt.resources),
            ("image", own.image, dflt.image)) if o is None and d is not None)
        return ir.Step(
            name=st.name, description=st.description,
            kind="call" if call else "run", shell=shell, argv=argv, module=module, function=function,
            args=tuple((k.value, self.value(v)) for k, v in st.with_),
            outputs=tuple(ir.Output(o.name, o.type, o.description, o.key.span) for o in st.outputs),
            needs=tuple(n.value for n in st.needs),
            depends_on=tuple(sorted(self.graph.deps.get(st.name, ()))) if not st.is_finally else (),
            inputs=inp,
            condition=self.value(cond) if cond is not None else None,
            foreach=self.value(fe) if fe is not None else None,
            item_type=self.analysis.item_types.get(st.name),
            parallelism=par.to_python() if par is not None else None,
            image=as_str(_or(own.image, dflt.image)),
            env=tuple(sorted(env.items())),
            secrets=tuple(sorted(secrets)),
            resources=resources,
            retries=self.retries(_or(own.retries, dflt.retries)),
            timeout_s=seconds(timeout.to_python()) if timeout is not None else None,
            cache=bool(cache.to_python()) if cache is not None else not st.is_finally,
            deps=tuple(d.to_python() for d in st.deps),
            is_finally=st.is_finally, may_skip=may_skip, span=st.span, spans=from_defaults)

    def retries(self, r: RawRetries | None) -> ir.Retries:
        if r is None:
            return ir.Retries(0, DEFAULT_RETRY_DELAY, DEFAULT_BACKOFF, DEFAULT_MAX_DELAY)
        return ir.Retries(
            limit=int(r.limit.to_python()) if r.limit is not None else 0,
            delay_s=seconds(r.delay.to_python()) if r.delay is not None else DEFAULT_RETRY_DELAY,
            backoff=float(r.backoff.to_python()) if r.backoff is not None else DEFAULT_BACKOFF,
            max_delay_s=seconds(r.max_delay.to_python()) if r.max_delay is not None else DEFAULT_MAX_DELAY)


def _or(own, default):
    """A step's own setting, else the one from defaults:."""
    return own if own is not None else default
