"""What the compiled targets do not carry out yet of ``notify:``/``metrics:``/``tracking:``:
one W701 per key at compile time, so that nothing is dropped in silence (the local runner does
them itself; rendering them natively per target is issue 14's next part)."""

from __future__ import annotations

from ..diagnostics import Diagnostic


def not_carried_out(pipe, target: str) -> list[Diagnostic]:
    obs = pipe.observe
    if obs is None:
        return []
    out = []
    spans = dict(obs.spans)
    what = (("notify:", bool(obs.alerts) or bool(obs.channels), "no alert is sent from its runs"),
            ("metrics:", bool(obs.textfile or obs.pushgateway or obs.pushgateway_secret), "no metrics are written"),
            ("tracking:", obs.tracking, "nothing is logged to MLflow"))
    for key, used, effect in what:
        if used:
            out.append(Diagnostic("W701", f"{target}: {key} is carried out by pipespec run only, not yet by the "
                                  f"{target} target: {effect}", spans.get(key[:-1], pipe.span),
                                  help="run it with pipespec run, or drop the key for this target"))
    return out
