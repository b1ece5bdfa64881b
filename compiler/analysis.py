"""Stage 3: expressions. Finds every ``${{ }}`` in the spec, parses it with the shared parser,
resolves its references against params, steps, outputs and contexts, and type-checks it.

The result (``Analysis``) is what the graph, the semantic checks and the lowering read: each
expression site with its template, its static type and the references it makes, and the item
type of each foreach: step. It also resolves every name of a step, in ``needs:`` and in
``steps.X``, in one place (``_step_problem``).
"""

from __future__ import annotations

import re

from .record import record, field

from . import expr as E
from .diagnostics import Diagnostics
from .span import Span
from .spec import ARTIFACT_TYPES, RawPipeline, RawStep, as_map
from .syntax import MapNode, Node, ScalarNode, SeqNode

CONTEXTS = ("params", "steps", "item", "outputs", "env", "run", "secrets")
RUN_FIELDS = ("id", "date", "status")

# which contexts each field may read (docs/spec.md, "Contexts")
FIELD_CONTEXTS = {
    "run": {"params", "steps", "item", "outputs", "env", "run"},
    "with": {"params", "steps", "item", "outputs", "env", "run"},
    "env": {"params", "steps", "item", "outputs", "env", "run", "secrets"},
    "if": {"params", "steps", "run"},
    "foreach": {"params", "steps", "run"},
    "pipeline_env": {"params", "run", "secrets"},
    "notify_if": {"params", "steps", "run"},       # notify.when[].if, checked after the run
}


@record(frozen=True)
class Reference:
    """A resolved reference: ``kind`` is param|output|item|own_output|env|run|secret."""

    kind: str
    name: str                  # param/secret/env/run field name, or the output name
    step: str | None           # producer step for kind == output
    field: str | None          # metrics field, when read
    span: Span


@record
class Site:
    """One string that holds expressions, in one field of one step (or the pipeline env)."""

    step: RawStep | None
    field: str
    node: ScalarNode
    template: E.Template | None = None
    type: E.Type | None = None            # static type of the whole value
    refs: list[Reference] = field(default_factory=list)
    ok: bool = True
    expr_types: list = field(default_factory=list)   # static type of each expression (None: unknown)
    node_types: list = field(default_factory=list)   # per expression, each node's type in walk order


_MENTION = re.compile(r"\b(params|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")


class Analysis:
    def __init__(self, raw: RawPipeline, diags: Diagnostics) -> None:
        self.raw = raw
        self.diags = diags
        self.sites: list[Site] = []
        self.item_types: dict[str, E.Type] = {}     # step name -> the type of its item (foreach: steps)
        # (root, name) of every params./secrets. reference, resolved or not: a read inside a
        # broken expression is still a read (no "never read" warning on top of the error)
        self.mentioned: set[tuple[str, str]] = set()

    # -- collecting ---------------------------------------------------------------------
    def run(self) -> "Analysis":
        raw = self.raw
        for k, v in raw.env:
            self._scalars(None, "pipeline_env", v)
        for st in raw.all_steps:
            self._resolve_needs(st)
            # foreach first: the item type feeds every other field of the step
            if st.foreach is not None:
                self.item_types[st.name] = self._foreach_item_type(st, st.foreach)
            if isinstance(st.run, SeqNode):
                for item in st.run.items:      # argv: each item is one value
                    self._scalars(st, "run", item)
            elif st.run is not None:
                self._scalars(st, "run", st.run)
            for _, val in st.with_:
                self._scalars(st, "with", val)
            for _, val in st.env:
                self._scalars(st, "env", val)
            if st.condition is not None:
                self._scalars(st, "if", st.condition)
        for _, val in raw.defaults.env:
            self._scalars(None, "pipeline_env", val)
        for cond in alert_conditions(raw):
            self._scalars(None, "notify_if", cond)
        self._resolve_target_steps()
        return self

    def _resolve_target_steps(self) -> None:
        """``targets.<T>.steps`` keys (per-step target options: Airflow's pool and queue): each
        must name a step or a finally: step, else the options would apply to nothing."""
        targets = self.raw.targets
        names = [*self.raw.steps, *self.raw.finally_steps]
        for target, opts in (targets.items if isinstance(targets, MapNode) else ()):
            per_step = opts.get("steps") if isinstance(opts, MapNode) else None
            for key, _ in (per_step.items if isinstance(per_step, MapNode) else ()):
                if isinstance(key.value, str) and key.value not in names:
                    self.diags.add("E304", f"targets.{target.value}.steps: '{key.value}' names no step", key.span,
                                   help=_dym(key.value, names) or f"the steps are: {', '.join(names) or 'none'}")

    def _resolve_needs(self, st: RawStep) -> None:
        for n in st.needs:
            problem = self._step_problem(st, n.value, in_needs=True)
            if problem:
                self.diags.add(problem[0], problem[1], n.span, help=problem[2])

    def _step_problem(self, reader: RawStep | None, name: str, in_needs: bool) -> tuple[str, str, str | None] | None:
        """What is wrong with naming step ``name`` from ``reader`` (in its needs:, or in a
        steps.NAME expression), as (code, message, help); None when nothing is."""
        raw = self.raw
        own = reader is not None and name == reader.name
        if in_needs:
            if own:
                return ("E401", f"step '{name}' needs itself", "remove it from needs:")
            if name in raw.steps:
                return None
        if name in raw.finally_steps:
            if in_needs:
                return ("E304", f"needs: '{name}' names a finally: step",
                        "finally: steps run after every other step; nothing can need them")
            return ("E304", f"'{name}' is a finally: step; its outputs cannot be read", None)
        if name not in raw.steps and _broken_step(raw, name):
            return None        # a step whose shape is wrong: reported there, not as unknown here
        if name not in raw.steps:
            return ("E304", f"needs: '{name}' names no step" if in_needs else f"unknown step '{name}'",
                    _dym(name, raw.steps) or f"steps: {', '.join(raw.steps)}")
        if reader is not None and reader.is_finally:
            return ("E402", f"finally: step '{reader.name}' reads an output of '{name}', which may not exist",
                    "finally steps run after failures too; pass what they need through params or run.status")
        if own:
            return ("E401", f"step '{name}' reads its own output", "use outputs.NAME for this step's own output paths")
        return None

    def _scalars(self, step: RawStep | None, fld: str, node: Node, nested: bool = False) -> list[Site]:
        """Sites for the expressions in ``node``. An expression nested inside a list or map
        literal would not be evaluated (the literal is passed as it is written): refuse it."""
        out = []
        if isinstance(node, ScalarNode):
            if isinstance(node.value, str) and "${{" in node.value:
                if nested:
                    self.diags.add("E220", "an expression inside a list or map literal is not evaluated", node.span,
                                   help="write the whole value as one expression, e.g. ${{ [params.a, 'b'] }}")
                else:
                    out.append(self._site(step, fld, node))
        elif isinstance(node, SeqNode):
            for i in node.items:
                out += self._scalars(step, fld, i, True)
        elif isinstance(node, MapNode):
            for _, v in node.items:
                out += self._scalars(step, fld, v, True)
        return out

    def _site(self, step: RawStep | None, fld: str, node: ScalarNode) -> Site:
        site = Site(step, fld, node)
        self.sites.append(site)
        try:
            site.template = E.split_template(node.value)
        except E.TemplateError as e:
            self.diags.add(e.code, e.message, node.offset_span(e.start, e.end),
                           help="expressions look like ${{ params.name }}; see docs/spec.md#expressions")
            site.ok = False
            # what the broken text names is still read: no "never read" warning on top of the error
            self.mentioned |= {(m[1], m[2]) for m in _MENTION.finditer(node.value)}
            return site
        types = []
        for part in site.template.parts:
            if isinstance(part, str):
                continue
            t = self._check_expr(site, part)
            types.append(t)
        site.expr_types = types
        if site.template.whole and types:
            site.type = types[0]
        else:
            site.type = E.STRING
        return site

    def _check_expr(self, site: Site, part) -> E.Type | None:
        base = part.offset
        node = site.node

        def span_of(start: int, end: int) -> Span:
            return node.offset_span(base + start, base + end)

        def resolve(ref):
            r = self._resolve(site, ref, span_of(ref.start, ref.end))
            if isinstance(r, E.TypeIssue):
                return r
            ref_obj, typ = r
            if ref_obj is not None:
                site.refs.append(ref_obj)
            return typ

        types: dict = {}
        typ, issues = E.typecheck(part.expr, resolve, types)
        site.node_types.append(tuple(types.get(n, E.ANY) for n in E.walk(part.expr)))
        for iss in issues:
            self.diags.add(iss.code, iss.message, span_of(iss.start, iss.end), help=iss.help)
            site.ok = False
        return typ

    # -- resolving references -------------------------------------------------------------
    def _resolve(self, site: Site, ref, span: Span):
        raw, st, fld = self.raw, site.step, site.field
        root, path = ref.root, tuple(ref.path)
        allowed = FIELD_CONTEXTS[fld]
        if root in ("params", "secrets") and path:
            self.mentioned.add((root, path[0]))

        def issue(code, msg, help=None):
            return E.TypeIssue(code, msg, ref.start, ref.end, help)

        if root not in CONTEXTS:
            return issue("E301", f"unknown name '{root}'", _dym(root, CONTEXTS) or
                         f"expressions read {', '.join(CONTEXTS)}; strings need single quotes: '{root}'")
        if root == "secrets" and fld != "env" and fld != "pipeline_env":
            return issue("E309", "secrets can only be read in env: values",
                         "put the secret in env: and read the variable in the step, e.g. env: {TOKEN: ${{ secrets.token }}}")
        if root == "run" and path[:1] == ("status",) and not (st and st.is_finally):
            return issue("E310", "run.status is only known in finally: steps",
                         "move the step under finally:, or use if: on step outputs")
        if root == "item" and (st is None or st.name not in self.item_types):
            return issue("E306", "item is only defined in a step with foreach:",
                         "add foreach: to this step, or read the list directly")
        if root == "item" and fld in ("if", "foreach"):
            return issue("E306", f"item is not available in {fld}: (it is evaluated once for the whole fan-out)",
                         "filter the list before the foreach instead")
        if root not in allowed:
            where = {"pipeline_env": "the pipeline env:", "notify_if": "a notify.when if:"}.get(fld, f"{fld}:")
            return issue("E301", f"{root} cannot be read in {where}",
                         f"{where} can read: {', '.join(sorted(allowed))}")
        if root == "params":
            if len(path) < 1:
                return issue("E301", "params needs a name: params.NAME")
            name = path[0]
            if name not in raw.params:
                return issue("E303", f"unknown parameter '{name}'", _dym(name, raw.params) or
                             (f"declared parameters: {', '.join(raw.params)}" if raw.params else "declare it under params:"))
            t = _param_type(raw, name)
            if len(path) > 1:
                if t.kind in ("map", "any"):
                    return (Reference("param", name, None, None, span), E.ANY)
                return issue("E301", f"parameter '{name}' is {t}, it has no field '{path[1]}'")
            return (Reference("param", name, None, None, span), t)
        if root == "steps":
            return self._resolve_output(site, ref, path, span, issue)
        if root == "item":
            t = self.item_types[st.name]
            if path:
                if t.kind in ("map", "any"):
                    return (Reference("item", "item", None, None, span), E.ANY)
                return issue("E301", f"item is {t}, it has no field '{path[0]}'")
            return (Reference("item", "item", None, None, span), t)
        if root == "outputs":
            if len(path) != 1:
                return issue("E313", "outputs needs a name: outputs.NAME")
            o = st.output(path[0]) if st else None
            if o is None or o.type not in ARTIFACT_TYPES:
                arts = [x.name for x in st.outputs if x.type in ARTIFACT_TYPES] if st else []
                return issue("E313", f"'{path[0]}' is not an artifact output of this step",
                             _dym(path[0], arts) or ("declare it under outputs: with an artifact type (dataset, model, metrics, file, dir)"))
            return (Reference("own_output", path[0], None, None, span), E.PATH)
        if root == "env":
            if len(path) != 1:
                return issue("E301", "env needs a variable name: env.NAME")
            return (Reference("env", path[0], None, None, span), E.STRING)
        if root == "run":
            if len(path) != 1 or path[0] not in RUN_FIELDS:
                return issue("E301", f"run has no field '{'.'.join(path)}'", _dym(".".join(path), RUN_FIELDS) or
                             "run.id, run.date and run.status (in finally:) are defined")
            return (Reference("run", path[0], None, None, span), E.STRING)
        # secrets
        if len(path) != 1:
            return issue("E311", "secrets needs a name: secrets.NAME")
        if path[0] not in raw.secrets:
            return issue("E311", f"unknown secret '{path[0]}'", _dym(path[0], raw.secrets) or "declare it under secrets:")
        return (Reference("secret", path[0], None, None, span), E.STRING)

    def _resolve_output(self, site, ref, path, span, issue):
        raw, st = self.raw, site.step
        if len(path) < 1:
            return issue("E301", "steps needs a step name: steps.NAME.outputs.OUTPUT")
        name = path[0]
        if name not in raw.steps and _broken_step(raw, name):
            return (None, E.ANY)     # its shape is wrong: reported there, not as unknown here
        problem = self._step_problem(st, name, in_needs=False)
        if problem:
            return issue(*problem)
        prod = raw.steps[name]
        if len(path) < 3 or path[1] != "outputs":
            return issue("E301", f"write steps.{name}.outputs.NAME", None)
        out = prod.output(path[2])
        if out is None:
            return issue("E305", f"step '{name}' has no output '{path[2]}'",
                         _dym(path[2], [o.name for o in prod.outputs]) or
                         (f"its outputs: {', '.join(o.name for o in prod.outputs)}" if prod.outputs else "it declares no outputs:"))
        fld = None
        if len(path) > 3:
            if out.type == "metrics" and len(path) == 4:
                fld, t = path[3], E.FLOAT
            elif out.type == "map":
                fld, t = ".".join(path[3:]), E.ANY
            else:
                return issue("E301", f"output '{name}.{path[2]}' is {out.type}; only metrics and map outputs have fields")
        else:
            t = _OUTPUT_TYPES.get(out.type, E.PATH)
            if out.type in ARTIFACT_TYPES and site.field in ("if", "foreach", "notify_if"):
                return issue("E406", f"'{path[2]}' of step '{name}' is an artifact (a path), not a value, in {site.field}:",
                             "read a metrics field (steps.S.outputs.metrics.auc) or a value output instead")
        if prod.has_foreach:
            t = E.list_of(t)
        return (Reference("output", path[2], name, fld, span), t)

    def _foreach_item_type(self, st: RawStep, node: Node) -> E.Type:
        if isinstance(node, SeqNode):
            types = {_literal_type(i.to_python()) for i in node.items}
            for i in node.items:
                self._scalars(st, "foreach", i, True)
            return types.pop() if len(types) == 1 else E.ANY
        if isinstance(node, ScalarNode) and isinstance(node.value, str) and "${{" in node.value:
            site = self._site(st, "foreach", node)
            if site.ok and site.template and site.template.whole and site.type is not None:
                if site.type.kind == "list":
                    return site.type.item or E.ANY
                if site.type.kind == "any":
                    return E.ANY
            if site.ok:
                self.diags.add("E308", f"foreach: must be a list, not {site.type}", node.span,
                               help="e.g. foreach: ${{ params.models }} with a list parameter, or a literal [a, b]")
            return E.ANY
        self.diags.add("E308", "foreach: must be a list or a ${{ }} expression giving one", node.span,
                       help="e.g. foreach: ${{ params.models }} or foreach: [a, b]")
        return E.ANY



_OUTPUT_TYPES = {"string": E.STRING, "int": E.INT, "float": E.FLOAT, "bool": E.BOOL, "path": E.PATH,
                 "list": E.list_of(E.ANY), "map": E.MAP}
_PARAM_TYPES = {"string": E.STRING, "int": E.INT, "float": E.FLOAT, "bool": E.BOOL, "path": E.PATH,
                "map": E.MAP}


def _broken_step(raw: RawPipeline, name: str) -> bool:
    """``name`` is under steps: but not a mapping (the shape check said so)."""
    steps = as_map(raw.root.get("steps"))
    return steps is not None and name in steps and not isinstance(steps.get(name), MapNode)


def alert_conditions(raw: RawPipeline) -> list[Node]:
    """The if: of every notify.when entry (docs/spec.md "notify")."""
    notify = as_map(raw.root.get("notify"))
    when = notify.get("when") if notify is not None else None
    out = []
    for entry in (when.items if isinstance(when, SeqNode) else ()):
        cond = entry.get("if") if isinstance(entry, MapNode) else None
        if cond is not None:
            out.append(cond)
    return out


def _param_type(raw: RawPipeline, name: str) -> E.Type:
    kind = raw.param_type(name)
    if kind == "list":
        item = raw.params[name].items
        return E.list_of(_PARAM_TYPES.get(item, E.ANY) if item else E.ANY)
    return _PARAM_TYPES.get(kind or "", E.ANY)


def param_type(raw: RawPipeline, name: str) -> E.Type:
    return _param_type(raw, name)


def _literal_type(v) -> E.Type:
    if isinstance(v, bool):
        return E.BOOL
    if isinstance(v, int):
        return E.INT
    if isinstance(v, float):
        return E.FLOAT
    if isinstance(v, str):
        return E.STRING
    if isinstance(v, list):
        return E.list_of(E.ANY)
    if isinstance(v, dict):
        return E.MAP
    return E.ANY


def literal_type(v) -> E.Type:
    return _literal_type(v)


def _dym(word: str, choices) -> str | None:
    import difflib   # only to word a "did you mean"

    m = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{m[0]}'?" if m else None
