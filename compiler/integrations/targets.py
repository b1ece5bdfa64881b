"""What a compiled target does not carry out of ``notify:``/``metrics:``/``tracking:``: one
W701 per key at compile time, so that nothing is dropped in silence. ``CARRIED`` lists what each
target renders natively (its tasks run ``pipespec observe start|finish``, docs/targets/); the
local runner does all three itself. Plain data: validate imports no backend for it."""

from __future__ import annotations

from ..diagnostics import Diagnostic


CARRIED: dict[str, frozenset[str]] = {
    "airflow": frozenset({"notify:", "metrics:", "tracking:"}),
}


def carried(pipe, target: str) -> frozenset[str]:
    """The keys ``target`` carries out for this spec."""
    if target == "airflow" and pipe.target("airflow").get("operator") == "kubernetes":
        return frozenset()              # the pods would need the start/finish tasks as pods too
    return CARRIED.get(target, frozenset())


def not_carried_out(pipe, target: str) -> list[Diagnostic]:
    obs = pipe.observe
    if obs is None:
        return []
    done = carried(pipe, target)
    out = []
    spans = dict(obs.spans)
    what = (("notify:", bool(obs.alerts) or bool(obs.channels), "no alert is sent from its runs"),
            ("metrics:", bool(obs.textfile or obs.pushgateway or obs.pushgateway_secret), "no metrics are written"),
            ("tracking:", obs.tracking, "nothing is logged to MLflow"))
    for key, used, effect in what:
        if used and key not in done:
            out.append(Diagnostic("W701", f"{target}: {key} is carried out by pipespec run only, not yet by the "
                                  f"{target} target: {effect}", spans.get(key[:-1], pipe.span),
                                  help="run it with pipespec run, or drop the key for this target"))
    return out
