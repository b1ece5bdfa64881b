"""Stage 4, its ``notify:``/``tracking:``/``metrics:`` part: the checked raw keys -> ``ir.Observe``
(defaults applied: the PagerDuty severity, the Pushgateway job, the experiment's name)."""

from __future__ import annotations

from typing import Callable

from . import ir
from .spec import as_map, as_str, map_items
from .syntax import MapNode, Node, SeqNode

EVENTS = ("failure", "success", "recovery")


def _names(node: Node | None) -> tuple[str, ...]:
    return tuple(as_str(i) or "" for i in node.items) if isinstance(node, SeqNode) else ()


def lower_observe(root: MapNode, value: Callable[[Node], ir.Value], sites: dict) -> ir.Observe | None:
    """``sites``: id(node) -> the analysis site of each expression (for what a condition reads)."""
    notify, tracking, metrics = (as_map(root.get(k)) for k in ("notify", "tracking", "metrics"))
    if notify is None and tracking is None and metrics is None:
        return None
    channels, alerts = [], []
    if notify is not None:
        for key, ch in map_items(notify.get("channels")):
            sev, url = as_str(ch.get("severity")), as_str(ch.get("url"))
            channels.append(ir.Channel(
                name=key.value, type=as_str(ch.get("type")) or "", secret=as_str(ch.get("secret")) or "",
                to=_names(ch.get("to")), sender=as_str(ch.get("from")), severity=sev or "error", url=url,
                span=key.span))
        for ev in EVENTS:
            node = notify.get(f"on_{ev}")
            if node is not None:
                alerts.append(ir.Alert(ev, _names(node), None, (), "", node.span))
        for key, rules in map_items(notify.get("steps")):
            for ev in EVENTS:
                node = rules.get(f"on_{ev}") if isinstance(rules, MapNode) else None
                if node is not None:
                    alerts.append(ir.Alert(ev, _names(node), None, (), "", node.span, step=key.value))
        when = notify.get("when")
        for entry in (when.items if isinstance(when, SeqNode) else ()):
            cond = entry.get("if")
            site = sites.get(id(cond))
            reads = tuple(sorted({r.step for r in site.refs if r.kind == "output"})) if site else ()
            alerts.append(ir.Alert("condition", _names(entry.get("send")), value(cond), reads,
                                   as_str(entry.get("message")) or as_str(cond) or "", entry.span))
    mlflow = as_map(tracking.get("mlflow")) if tracking is not None else None
    register = []
    if mlflow is not None:
        for entry in (mlflow.get("register").items if isinstance(mlflow.get("register"), SeqNode) else ()):
            register.append(ir.Register(as_str(entry.get("step")) or "", as_str(entry.get("output")) or "",
                                        as_str(entry.get("model")) or "", as_str(entry.get("alias"))))
    m = metrics or MapNode((), root.span)
    return ir.Observe(
        channels=tuple(channels), alerts=tuple(alerts),
        mlflow_experiment=(as_str(mlflow.get("experiment")) or as_str(root.get("name"))) if mlflow else None,
        mlflow_uri=as_str(mlflow.get("uri")) if mlflow else None,
        register=tuple(register), tracking=mlflow is not None,
        textfile=as_str(m.get("textfile")), pushgateway=as_str(m.get("pushgateway")),
        pushgateway_secret=as_str(m.get("pushgateway_secret")), push_job=as_str(m.get("job")) or "pipespec",
        spans=tuple((k.value, k.span) for k, _ in root.items if k.value in ("notify", "tracking", "metrics")))
