"""The Kubeflow backend's layout: which DAG (scope) of the pipeline spec each task lives in.

Scopes are the DAGs of the pipeline spec: ``root``; ``exit-handler`` (every non-finally step,
when there are finally steps); ``condition-<step>`` (a conditional step and every step that
depends on it); ``for-loop-<step>`` (the one task of a foreach step). ``Layout`` builds that
tree from the IR, names its components, and answers where a step is and which task stands for
it in a scope (``rep``), which the wiring (``kubeflow_wiring``) threads values along.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipespec import ir

EXIT_TASK = "exit-handler"


@dataclass(eq=False)
class Scope:
    kind: str                      # root | exit | cond | loop
    task: str | None               # this scope's task in its parent DAG
    comp: str | None               # this scope's component
    parent: "Scope | None"
    step: ir.Step | None = None
    guards: tuple = ()             # cond: the steps whose if: this group tests (ANDed)
    tasks: dict = field(default_factory=dict)
    in_params: dict = field(default_factory=dict)
    in_artifacts: dict = field(default_factory=dict)
    out_params: dict = field(default_factory=dict)
    out_artifacts: dict = field(default_factory=dict)
    dag_out_params: dict = field(default_factory=dict)
    dag_out_artifacts: dict = field(default_factory=dict)

    def path(self) -> list["Scope"]:
        out, sc = [], self
        while sc is not None:
            out.append(sc)
            sc = sc.parent
        return out[::-1]


def task_name(step_name: str) -> str:
    return step_name.replace("_", "-")


class Layout:
    """The scope tree of one pipeline, and the task of every step in it."""

    def __init__(self, backend, pipe: ir.Pipeline) -> None:
        self.b = backend
        self.pipe = pipe
        self.root = Scope("root", None, None, None)
        self.main = self.root                     # where the non-finally steps go
        self.container: dict[str, Scope] = {}
        self.task: dict[str, str] = {s.name: task_name(s.name) for s in pipe.all_steps}
        self.loops: dict[str, Scope] = {}
        self.conds: dict[str, Scope] = {}
        # kfp's loader: never the pipeline's (nor, through it, its executor label: _step)
        self._comp_names: set[str] = {"comp-" + pipe.name}

    def alloc(self, base: str) -> str:
        name, n = base, 2
        while name in self._comp_names:
            name, n = f"{base}-{n}", n + 1
        self._comp_names.add(name)
        return name

    def add_task(self, scope: Scope, name: str, task: dict, span) -> None:
        if name in scope.tasks:
            self.b.unsupported(span, f"two tasks would be named '{name}' in one KFP DAG "
                               "(a step named like a generated for-loop-/condition- task)", limit=True,
                               help="rename the step")
        scope.tasks[name] = task

    def add_exit_handler(self) -> None:
        """The exit handler that wraps every non-finally step (there are finally: steps)."""
        self.main = Scope("exit", EXIT_TASK, self.alloc("comp-" + EXIT_TASK), self.root)
        self.add_task(self.root, EXIT_TASK, {"componentRef": {"name": self.main.comp},
                                             "taskInfo": {"name": EXIT_TASK}}, self.pipe.span)

    def place(self) -> None:
        pipe = self.pipe
        # the conditional steps among each step's ancestors and itself; propagated along the
        # topological order, so it costs steps x conditions, not the steps^2 of full ancestor sets
        guards: dict[str, frozenset[str]] = {}
        for st in pipe.steps:
            g: set[str] = {st.name} if st.condition is not None else set()
            for d in st.depends_on:
                g |= guards.get(d, frozenset())
            guards[st.name] = frozenset(g)
        for st in pipe.steps:
            chain = sorted(guards[st.name], key=lambda a: (len(guards[a]), a))
            nested = all(outer in guards[inner] for outer, inner in zip(chain, chain[1:]))
            scope = self.main
            if nested:
                for a in chain:
                    scope = self.cond_scope(pipe.step(a), scope)
            else:
                # independent conditions: one group of its own, testing all of them at once
                scope = self.cond_scope(st, scope, tuple(pipe.step(a) for a in chain))
            if st.foreach is not None:
                scope = self.loop_scope(st, scope)
            self.container[st.name] = scope
        for st in pipe.finally_steps:
            if st.condition is not None or st.foreach is not None:
                self.b.unsupported(st.span, f"finally: step '{st.name}' has if: or foreach:; a KFP exit "
                                   "task runs exactly once, unconditionally")
            self.container[st.name] = self.root

    def cond_scope(self, st: ir.Step, parent: Scope, guards: tuple[ir.Step, ...] = ()) -> Scope:
        if st.name not in self.conds:
            name = "condition-" + self.task[st.name]
            sc = Scope("cond", name, self.alloc("comp-" + name), parent, st, guards=guards or (st,))
            self.add_task(parent, name, {"componentRef": {"name": sc.comp}, "taskInfo": {"name": name}},
                           st.span)
            self.conds[st.name] = sc
        return self.conds[st.name]

    def loop_scope(self, st: ir.Step, parent: Scope) -> Scope:
        name = "for-loop-" + self.task[st.name]
        sc = Scope("loop", name, self.alloc("comp-" + name), parent, st)
        task = {"componentRef": {"name": sc.comp}, "taskInfo": {"name": name}}
        if st.parallelism is not None:
            task["iteratorPolicy"] = {"parallelismLimit": st.parallelism}
        self.add_task(parent, name, task, st.span)
        self.loops[st.name] = sc
        return sc

    def scopes(self) -> list[Scope]:
        seen: list[Scope] = []
        for sc in [self.main, *self.conds.values(), *self.loops.values()]:
            if sc is not self.root and sc not in seen:
                seen.append(sc)
        return seen

    @staticmethod
    def common(a: Scope, b: Scope) -> Scope:
        common = a.path()[0]
        for x, y in zip(a.path(), b.path()):
            if x is not y:
                break
            common = x
        return common

    def rep(self, step: str, scope: Scope) -> str:
        """The task standing for ``step`` among ``scope``'s tasks."""
        sc = self.container[step]
        if sc is scope:
            return self.task[step]
        while sc.parent is not scope:
            sc = sc.parent
        return sc.task
