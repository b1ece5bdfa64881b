"""What one step instance sees: ``StepInputs``, and the expression lookup built over it.

The lookup resolves every context root of the language: ``params.X``, ``steps.S.outputs.O``
(a value, an artifact path, or a field of a metrics artifact read from its JSON), ``item``,
``outputs.O`` (this step's own artifact paths), ``env.NAME``, ``run.id|date|status`` and
``secrets.NAME``. Fan-in values arrive as lists in item order and are looked up unchanged.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from ..record import record, field
from typing import Any, Callable

from .. import ir
from ..expr import Ref


@record
class StepInputs:
    """Everything a step instance needs from outside the spec."""

    params: dict[str, Any]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)     # {step: {output: value | [values]}}
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # {step: {output: path | [paths]}}
    item: Any = None
    index: int | None = None
    run_id: str = "local"
    run_date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"))
    run_status: str | None = None                                       # finally steps: succeeded | failed


def secret_value(pipeline: ir.Pipeline, name: str, environ: dict[str, str] | None = None,
                 warn: Callable[[str], None] | None = None) -> str:
    """A secret's value from the environment variable its declaration names; '' when unset."""
    environ = os.environ if environ is None else environ
    sec = next((s for s in pipeline.secrets if s.name == name), None)
    var = sec.env if sec is not None else name.upper()
    value = environ.get(var)
    if value is None:
        value = _dotenv(pipeline).get(var)
    if value is None:
        (warn or _stderr)(f"pipespec: warning: secret '{name}' is not set (environment variable {var}); "
                          "using an empty string")
        return ""
    return value


def _dotenv(pipeline: ir.Pipeline) -> dict[str, str]:
    """KEY=VALUE lines of a ``.env`` file beside the spec (the local runner's secret store)."""
    path = os.path.join(spec_dir(pipeline), ".env")
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, _, v = line.removeprefix("export ").partition("=")
                    v = v.strip()
                    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                        v = v[1:-1]
                    out[k.strip()] = v
    except OSError:
        pass
    return out


def spec_dir(pipeline: ir.Pipeline) -> str:
    """The spec's folder: every step's working directory and the root of call: modules."""
    return os.path.dirname(os.path.abspath(pipeline.source)) if pipeline.source else os.getcwd()


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


class Lookup:
    """``Lookup(...)(ref)`` is the value of a context reference; raises KeyError when absent."""

    def __init__(self, pipeline: ir.Pipeline, step: ir.Step, inputs: StepInputs,
                 own_outputs: dict[str, str], env: dict[str, str],
                 warn: Callable[[str], None] | None = None) -> None:
        self.pipeline, self.step, self.inputs = pipeline, step, inputs
        self.own_outputs, self.env, self.warn = own_outputs, env, warn
        self._metrics: dict[str, Any] = {}

    def __call__(self, ref: Ref) -> Any:
        root, path = ref.root, ref.path
        if root == "params":
            return _dig(self.inputs.params[path[0]], path[1:])
        if root == "steps":
            return self._step_output(path)
        if root == "item":
            if self.inputs.index is None and self.step.foreach is None:
                raise KeyError("item")
            return _dig(self.inputs.item, path)
        if root == "outputs":
            return _dig(self.own_outputs[path[0]], path[1:])
        if root == "env":
            return self.env.get(path[0], os.environ.get(path[0], ""))
        if root == "run":
            key = path[0]
            if key == "id":
                return self.inputs.run_id
            if key == "date":
                return self.inputs.run_date
            if key == "status":
                return self.inputs.run_status or "running"
            raise KeyError(ref.dotted)
        if root == "secrets":
            return secret_value(self.pipeline, path[0], warn=self.warn)
        raise KeyError(ref.dotted)

    def _step_output(self, path: tuple[str, ...]) -> Any:
        s, o, rest = path[0], path[2], path[3:]
        vals = self.inputs.values.get(s, {})
        if o in vals:
            return _dig(vals[o], rest)
        arts = self.inputs.artifacts.get(s, {})
        if o not in arts:
            raise KeyError(".".join(("steps",) + path))
        v = arts[o]
        if not rest:
            return v
        # a field of a metrics artifact: read its JSON (each instance's, for a fan-in)
        if isinstance(v, list):
            return [_dig(self._read(p), rest) for p in v]
        return _dig(self._read(v), rest)

    def _read(self, path: str) -> Any:
        if path not in self._metrics:
            with open(path, encoding="utf-8") as f:
                self._metrics[path] = json.load(f)
        return self._metrics[path]


def _dig(v: Any, rest: tuple[str, ...]) -> Any:
    for key in rest:
        if isinstance(v, dict):
            v = v[key]
        else:
            raise KeyError(key)
    return v
