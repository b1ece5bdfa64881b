"""The runner's bookkeeping: one ``StepState`` per step, one ``Instance`` per foreach item.

Kept apart from the scheduler so that what is known about a step (its mode, status, outputs
gathered in item order) reads in one place.
"""

from __future__ import annotations

from collections import deque
from ..record import record, field
from typing import Any

from .. import ir

TERMINAL = frozenset({"succeeded", "skipped", "failed", "not_run", "excluded"})


@record(eq=False)
class Instance:
    state: "StepState"
    index: int | None
    item: Any = None
    key: str | None = None
    parts: dict | None = None
    input_hashes: dict = field(default_factory=dict)
    status: str = "pending"           # pending | running | succeeded | failed | timeout | cancelled | not_run
    cache_hit: bool = False
    reused_from: str | None = None
    reason: str = ""
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    exit_code: int | None = None
    error: str | None = None
    values: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    hashes: dict = field(default_factory=dict)
    stdout: str | None = None
    stderr: str | None = None
    # while it runs (see attempts.Attempting)
    inputs: Any = None                # the StepInputs its expressions read
    cancel: Any = None                # the run's cancel Event when it started
    machine: Any = None               # its runtime.attempt.Attempts
    inv: Any = None                   # the prepared attempt (runtime.Invocation)
    pid: int = -1                     # its process (group) of the current attempt
    fds: tuple = ()                   # its open log files (stdout, stderr)
    t0: float = 0.0                   # monotonic start, for the duration over all attempts

    @property
    def step(self) -> ir.Step:
        return self.state.step

    @property
    def label(self) -> str:
        return instance_label(self.step.name, self.index, self.item)


@record(eq=False)
class StepState:
    step: ir.Step
    mode: str = "run"                  # run | force | reuse | exclude
    status: str = "waiting"            # waiting | active | TERMINAL
    reason: str = ""
    waiting_on: int = 0
    dependents: list["StepState"] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    pending: deque = field(default_factory=deque)
    running: int = 0
    finished: int = 0
    values: dict = field(default_factory=dict)      # output -> value | [values]
    artifacts: dict = field(default_factory=dict)   # output -> path | [paths]
    hashes: dict = field(default_factory=dict)      # output -> digest | [digests]
    metrics: dict = field(default_factory=dict)     # output -> dict | [dicts]
    inputs: tuple = ({}, {}, {})                    # (values, artifacts, digests) it reads

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def gather(self) -> None:
        """Collect the instances' outputs: plain for one instance, lists in item order for foreach."""
        fan = self.step.foreach is not None
        for o in self.step.outputs:
            if o.is_artifact:
                paths = [i.artifacts.get(o.name) for i in self.instances]
                digests = [i.hashes.get(o.name) for i in self.instances]
                self.artifacts[o.name] = paths if fan else paths[0]
                self.hashes[o.name] = digests if fan else digests[0]
                if o.type == "metrics":
                    ms = [i.metrics.get(o.name) for i in self.instances]
                    self.metrics[o.name] = ms if fan else ms[0]
            else:
                vals = [i.values.get(o.name) for i in self.instances]
                self.values[o.name] = vals if fan else vals[0]


def instance_label(step: str, index: int | None, item: Any) -> str:
    """How an instance is named everywhere (live output, ``runs``, ``metrics``): ``step``,
    ``step[item]`` for a short scalar item, else ``step[index]``. By item, so that one name
    means one model across runs whose lists differ."""
    if index is None or index < 0:
        return step
    if isinstance(item, (str, int, float)) and not isinstance(item, bool) and len(str(item)) <= 24:
        return f"{step}[{item}]"
    return f"{step}[{index}]"
