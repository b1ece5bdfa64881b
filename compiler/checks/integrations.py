"""notify:, tracking: and metrics: (docs/spec.md "Alerts, tracking and metrics"): every channel
an event sends to is declared (E700) and used (W700), and every step of ``notify.steps`` exists (E707); every secret they name is declared
(E701) and so counts as read; a ``when:`` condition is one boolean expression (E702); a
channel carries only its type's options (E703); a registered output is a model (E704); the
Pushgateway is given once (E705); the textfile is a ``*.prom`` (E706)."""

from __future__ import annotations


from ..spec import as_map, as_str, map_items
from ..syntax import MapNode, ScalarNode, SeqNode

# the options each channel type has besides type, secret and description
_OPTIONS = {"slack": (), "webhook": (), "email": ("to", "from"), "pagerduty": ("severity", "url")}
_COMMON = ("type", "secret", "description")


def check(ctx) -> None:
    root = ctx.raw.root
    _notify(ctx, as_map(root.get("notify")))
    _tracking(ctx, as_map(root.get("tracking")))
    _metrics(ctx, as_map(root.get("metrics")))


def _secret(ctx, node, what: str) -> None:
    name = as_str(node)
    if name is None:
        return
    ctx.analysis.mentioned.add(("secrets", name))      # a channel's secret is read: no W504
    if name not in ctx.raw.secrets:
        declared = ", ".join(n for n in ctx.raw.secrets if isinstance(n, str))
        ctx.diags.add("E701", f"{what} reads the secret '{name}', which secrets: does not declare", node.span,
                      help=f"declared secrets: {declared}" if declared else
                      f"declare it: secrets: {{{name}: {{env: {name.upper()}}}}}")


def _notify(ctx, notify: MapNode | None) -> None:
    if notify is None:
        return
    channels: dict[str, tuple] = {}
    for key, ch in map_items(notify.get("channels")):
        if not isinstance(key.value, str) or not isinstance(ch, MapNode):
            continue
        channels[key.value] = (key, ch)
        _secret(ctx, ch.get("secret"), f"channel '{key.value}'")
        kind = as_str(ch.get("type"))
        if kind not in _OPTIONS:
            continue                                    # the schema reported it
        for k, _ in ch.items:
            if isinstance(k.value, str) and k.value not in _COMMON and k.value not in _OPTIONS[kind]:
                has = ", ".join(_OPTIONS[kind]) or "no options besides type, secret and description"
                ctx.diags.add("E703", f"a {kind} channel has no option '{k.value}'", k.span,
                              help=f"a {kind} channel has {has}")
        if kind == "email":
            for need in ("to", "from"):
                if ch.get(need) is None:
                    ctx.diags.add("E703", f"email channel '{key.value}' needs {need}:", key.span,
                                  help="e.g. to: [ml-team@example.com], from: pipespec@example.com")
    used: set[str] = set()
    lists = [notify.get(k) for k in ("on_failure", "on_success", "on_recovery")]
    steps = set(ctx.raw.steps) | set(ctx.raw.finally_steps)
    for key, rules in map_items(notify.get("steps")):
        if isinstance(key.value, str) and key.value not in steps:
            import difflib   # only to word a "did you mean"

            near = difflib.get_close_matches(key.value, sorted(s for s in steps if isinstance(s, str)), n=1)
            ctx.diags.add("E707", f"notify.steps names '{key.value}', which is not a step", key.span,
                          help=f"did you mean '{near[0]}'?" if near else
                          "steps: " + ", ".join(sorted(s for s in steps if isinstance(s, str))))
        if isinstance(rules, MapNode):
            lists += [rules.get(k) for k in ("on_failure", "on_success", "on_recovery")]
    when = notify.get("when")
    for entry in (when.items if isinstance(when, SeqNode) else ()):
        if isinstance(entry, MapNode):
            lists.append(entry.get("send"))
            _condition(ctx, entry.get("if"))
    for seq in lists:
        for item in (seq.items if isinstance(seq, SeqNode) else ()):
            name = as_str(item)
            if name is None:
                continue
            used.add(name)
            if name not in channels:
                known = ", ".join(channels)
                ctx.diags.add("E700", f"no channel '{name}' in notify.channels", item.span,
                              help=f"declared channels: {known}" if known else "declare it under notify.channels")
    for name, (key, _) in channels.items():
        if name not in used:
            ctx.diags.add("W700", f"channel '{name}' is declared but no event sends to it", key.span,
                          help=f"list it in on_failure:, on_success:, on_recovery: or a when: entry's send:")


def _condition(ctx, node) -> None:
    if not isinstance(node, ScalarNode) or not isinstance(node.value, str):
        return                                          # not a string: the schema reported it
    site = next((s for s in ctx.analysis.sites if s.node is node), None)
    if site is None:
        ctx.diags.add("E702", f"a notify.when if: must be a boolean expression, not the text {node.value!r}",
                      node.span, help="write the condition inside ${{ }}, e.g. "
                      "if: ${{ steps.evaluate.outputs.metrics.auc < 0.8 }}")
    elif site.ok and site.template is not None:
        if not site.template.whole:
            ctx.diags.add("E702", "a notify.when if: mixes text and ${{ }}: the result is text, not a boolean",
                          node.span, help="put the whole condition inside one ${{ }}")
        elif site.type is not None and site.type.kind not in ("bool", "any"):
            ctx.diags.add("E702", f"a notify.when if: must be bool, but this expression is {site.type}",
                          node.span, help="compare it, e.g. ${{ steps.evaluate.outputs.metrics.auc < 0.8 }}")


def _tracking(ctx, tracking: MapNode | None) -> None:
    mlflow = as_map(tracking.get("mlflow")) if tracking is not None else None
    reg = mlflow.get("register") if mlflow is not None else None
    for entry in (reg.items if isinstance(reg, SeqNode) else ()):
        if not isinstance(entry, MapNode):
            continue
        step_node, out_node = entry.get("step"), entry.get("output")
        step, out = as_str(step_node), as_str(out_node)
        if step is None or out is None:
            continue
        st = ctx.raw.steps.get(step)
        if st is None:
            ctx.diags.add("E704", f"tracking registers an output of '{step}', which is not a step",
                          step_node.span, help="steps: " + ", ".join(ctx.raw.steps))
            continue
        o = st.output(out)
        if o is None or o.type != "model":
            models = [x.name for x in st.outputs if x.type == "model"]
            what = f"is a {o.type} output" if o is not None else "is not an output of it"
            ctx.diags.add("E704", f"'{out}' of step '{step}' {what}; only a model output is registered",
                          out_node.span, help=f"its model outputs: {', '.join(models)}" if models else
                          "declare the output with type: model")


def _metrics(ctx, metrics: MapNode | None) -> None:
    if metrics is None:
        return
    push, secret = metrics.get("pushgateway"), metrics.get("pushgateway_secret")
    if secret is not None:
        _secret(ctx, secret, "metrics.pushgateway_secret")
    if push is not None and secret is not None:
        ctx.diags.add("E705", "metrics: gives the Pushgateway twice, as pushgateway and pushgateway_secret",
                      secret.span, help="keep pushgateway_secret when the URL carries credentials, else pushgateway")
    textfile = metrics.get("textfile")
    path = as_str(textfile)
    if path is not None and not path.endswith(".prom"):
        ctx.diags.add("E706", f"metrics.textfile {path!r} does not end in .prom: node_exporter's textfile "
                      "collector reads only *.prom files", textfile.span, help=f"e.g. textfile: {_prom_name(path)}")


def _prom_name(path: str) -> str:
    head, _, base = path.rpartition("/")
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return f"{head}/{stem}.prom" if head else f"{stem}.prom"
