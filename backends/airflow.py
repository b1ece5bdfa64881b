"""The Apache Airflow 3 backend: the IR as one plain Python DAG file.

Takes an ``ir.Pipeline``; gives the text of a DAG module that imports only Airflow (Task SDK,
standard provider, and the cncf-kubernetes provider when ``targets.airflow.operator`` is
``kubernetes``) and the standard library. Every step is a task that runs ``pipespec exec`` on
the worker (or in a pod), so a step means what it means under ``pipespec run``; its result
travels as the task's XCom. ``if:`` becomes a short-circuit task evaluating the condition,
translated at compile time (``airflow_expr``); ``foreach:`` becomes dynamic task mapping;
``finally:`` steps are teardown tasks (``.as_teardown()``): they run whatever happened; the run's
state is decided by the steps and by one inert leaf after the teardowns that fails (upstream) when
a finally step failed, as under ``pipespec run``. These helper tasks are classic operators
(``ShortCircuitOperator``, ``PythonOperator``) over functions defined at module level: a TaskFlow
call costs several times as much at parse time, which the scheduler pays on every re-parse.

Spec data enters the file only through ``py_literal`` (and ``_doc`` for the docstring), and the
result is checked with ``compile()`` before it is returned: a spec cannot inject code.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import os
import shlex
import textwrap
from dataclasses import dataclass, field

import jinja2

from pipespec import expr as E
from pipespec import ir

from .airflow_expr import PythonTranslator, helper_source, py_literal
from .airflow_options import AIRFLOW_VARIABLES, OPTIONS, AirflowOptions, dag_id
from .options import KUBERNETES_SECRETS
from .base import EMULATED, NATIVE, Backend, CompileOptions

DEFAULT_ARTIFACT_ROOT = ".pipespec/airflow"
DEFAULT_IMAGE = "python:3.11-slim"
XCOM_RESULT = "/airflow/xcom/return.json"
FINALLY_LEAF = "finally__succeeded"     # step names have no '__': no step can take this id
OBSERVE_START = "pipespec__start"       # notify:/metrics:/tracking: (docs/targets/airflow.md)
OBSERVE_FINISH = "pipespec__finish"

_PARAM_TYPES = {"string": "string", "path": "string", "int": "integer", "float": "number",
                "bool": "boolean", "list": "array", "map": "object", "any": None}

# Lower-case names the generated module defines or imports: a step variable must not shadow them.
# (Module-level functions start with "_", which a step name cannot: see _helper_fn.)
_MODULE_NAMES = {"json", "os", "re", "signal", "subprocess", "tempfile", "datetime", "dag",
                 "k8s", "annotations", "mask_secret"}


@functools.cache
def _template() -> jinja2.Template:
    """The DAG template, compiled once per process: compiling it is ~50 ms, 90% of the time of
    checking a repository of many specs (``check-repo``, ``compile --all``)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipespec.backends", "templates"),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["py"] = py_literal
    env.filters["pylist"] = lambda xs: _list([py_literal(x) for x in xs], indent="")
    return env.get_template("airflow_dag.py.j2")


def _var(step: str) -> str:
    """The Python variable of a step's task: its name, unless that would shadow something.
    (``__`` never occurs in a step name, so ``x__step`` cannot collide with another step.)"""
    if (keyword.iskeyword(step) or keyword.issoftkeyword(step) or hasattr(builtins, step)
            or step in _MODULE_NAMES):
        return f"{step}__step"
    return step


def _helper_fn(var: str, doc: str, body: list[str], context: bool = True) -> str:
    """A module-level function a helper task calls: ``_<task id>``. Step names start with a letter
    and never contain ``__``, so neither a step's variable nor a helper of airflow_expr (no
    ``__``) can take the name of ``_step__if`` or ``_step__foreach``."""
    lines = "".join(f"    {ln}\n" for ln in [doc, *body])
    return f"def _{var}({'**context' if context else ''}):\n{lines}"


def _seconds(s: float) -> str:
    return f"datetime.timedelta(seconds={py_literal(float(s))})"


def _cpu(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{int(round(cores * 1000))}m"


def _memory(n: int) -> str:
    for suffix, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def _doc(text: str) -> str:
    """A docstring literal for ``text``: triple-quoted when that is safe, else a plain literal."""
    safe = ('"""' not in text and "\\" not in text and not text.endswith('"')
            and all(ch == "\n" or ch.isprintable() for ch in text))
    return f'"""{text}\n"""' if safe else py_literal(text)


@dataclass
class _Task:
    comment: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


def _call(head: str, kwargs: list[tuple[str, str]], tail: str = "", indent: str = "    ") -> str:
    """``head(k=v, ...)tail`` on one line when short, else one argument per line."""
    args = [f"{k}={v}" for k, v in kwargs]
    one = f"{indent}{head}({', '.join(args)}){tail}"
    if len(one) <= 100:
        return one
    inner = "".join(f"{indent}    {a},\n" for a in args)
    return f"{indent}{head}(\n{inner}{indent}){tail}"


def _list(names: list[str], indent: str = "    ") -> str:
    one = "[" + ", ".join(names) + "]"
    if len(one) + len(indent) <= 90:
        return one
    lines, cur = [], ""
    for n in names:
        piece = n + ", "
        if cur and len(indent) + 4 + len(cur) + len(piece) > 100:
            lines.append(cur.rstrip())
            cur = ""
        cur += piece
    lines.append(cur.rstrip().rstrip(","))
    body = "".join(f"{indent}    {ln}\n" for ln in lines)
    return f"[\n{body}{indent}]"


class AirflowBackend(Backend):
    name = "airflow"
    options = OPTIONS
    description = "Apache Airflow 3: one Python DAG file; each step runs `pipespec exec` on a worker"
    extension = ".py"
    capabilities = {
        "params": (NATIVE, "DAG params as typed Param with JSON-Schema constraints"),
        "schedule": (NATIVE, "DAG schedule (cron or preset), catchup=False"),
        "run_steps": (NATIVE, "a task running `pipespec exec`"),
        "call_steps": (NATIVE, "a task running `pipespec exec`"),
        "value_outputs": (NATIVE, "the exec result is the task's XCom"),
        "artifacts": (NATIVE, "files under targets.airflow.artifact_root (a shared folder or fsspec URL)"),
        "if": (NATIVE, "a short-circuit task <step>__if; skips propagate through all_success"),
        "foreach": (NATIVE, "dynamic task mapping (.expand) over the item indexes"),
        "parallelism": (NATIVE, "max_active_tis_per_dagrun"),
        "finally": (NATIVE, "teardown tasks (.as_teardown()) after every step; a failed step or finally step fails the run"),
        "retries": (NATIVE, "retries, retry_delay, retry_exponential_backoff, max_retry_delay "
                            "(Airflow adds up to 100% jitter to exponential delays)"),
        "timeout": (NATIVE, "execution_timeout"),
        "cache": (NATIVE, "Airflow runs every task of every run: cache: false is its own behaviour"),
        "resources": (EMULATED, "tasks run on the worker itself, nothing is reserved; "
                                "set targets.airflow.operator: kubernetes for requests"),
        "gpu": (EMULATED, "tasks run on the worker itself, which must have the GPU; "
                          "set targets.airflow.operator: kubernetes"),
        "image": (EMULATED, "tasks run in the worker's environment, not in the image; "
                            "set targets.airflow.operator: kubernetes"),
        "env": (NATIVE, "set by `pipespec exec` from the spec"),
        "secrets": (NATIVE, "Airflow Variables or Connections (conn:ID), read on the worker at run time"),
    }
    kubernetes_capabilities = {
        **capabilities,
        "run_steps": (NATIVE, "a KubernetesPodOperator running `pipespec exec` in the step's image"),
        "call_steps": (NATIVE, "a KubernetesPodOperator running `pipespec exec` in the step's image"),
        "value_outputs": (NATIVE, "the exec result is the pod's XCom (/airflow/xcom/return.json)"),
        "resources": (NATIVE, "container requests (cpu, memory) and a memory limit"),
        "gpu": (NATIVE, "an nvidia.com/gpu limit"),
        "image": (NATIVE, "the pod's image"),
        "secrets": (NATIVE, "Kubernetes secrets as environment variables"),
    }

    # -- options and capability checks -------------------------------------------------------
    def capability_table(self, pipe: ir.Pipeline) -> dict[str, tuple[str, str]]:
        return self.kubernetes_capabilities if self.configure(pipe).kubernetes else self.capabilities

    # -- generation ---------------------------------------------------------------------------
    def generate(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:
        gen = _Generator(self, pipe, opts)
        text = gen.render()
        compile(text, opts.output_path or f"{pipe.name}.py", "exec", dont_inherit=True)
        return text


class _Generator:
    def __init__(self, backend: AirflowBackend, pipe: ir.Pipeline, opts: CompileOptions) -> None:
        self.b, self.pipe, self.opts = backend, pipe, opts
        self.o: AirflowOptions = backend.configure(pipe)
        self.kubernetes = self.o.kubernetes
        self.helpers: set[str] = set()
        self.callables: list[str] = []         # module-level functions of the helper tasks
        self.std_operators: set[str] = set()   # from airflow.providers.standard.operators.python
        self.sdk = {"DAG"} if self.kubernetes else {"DAG", "BaseOperator"}
        if pipe.params:
            self.sdk.add("Param")
        self.uses_items = False                # a foreach: expression needs the _items helper
        self.uses_k8s_models = False           # a pod asks for resources (k8s.V1ResourceRequirements)
        self.uses_k8s_secrets = False          # a pod reads Kubernetes secrets (Secret)
        self.main_tasks: list[str] = []        # task variables of every non-finally task
        self.main_task_ids: list[str] = []

    # -- the file ----------------------------------------------------------------------------
    def render(self) -> str:
        pipe = self.pipe
        tasks = [self.step(st) for st in pipe.steps]
        fin = [self.step(st) for st in pipe.finally_steps]
        root = self.o.artifact_root or DEFAULT_ARTIFACT_ROOT
        if self.kubernetes and "://" not in root and any(st.outputs for st in pipe.all_steps):
            self.b.unsupported(pipe.span, f"artifact_root {root!r} is a local folder, but every step runs in "
                                          "its own pod: outputs only travel if it is a volume mounted in "
                                          "every pod", emulated=True,
                               help="set targets.airflow.artifact_root to an object store URL, e.g. s3://bucket/pipespec")
        tasks += fin
        if fin:
            tasks.append(self.finally_leaf())
        observe = self.observe_tasks()
        tasks += observe
        secrets = self.secrets()
        if secrets and not self.kubernetes:
            if any(ref[0] == "variable" for _, pairs in secrets for _, ref in pairs):
                self.sdk.add("Variable")
            if any(ref[0] == "connection" for _, pairs in secrets for _, ref in pairs):
                self.sdk.add("Connection")
        sdk_imports = sorted(self.sdk, key=lambda n: (n != "DAG", n.lower()))
        text = _template().render(
            docstring=self.docstring(),
            sdk_imports=sdk_imports,
            std_operators=sorted(self.std_operators),
            kubernetes=self.kubernetes,
            connections="Connection" in self.sdk,
            variables="Variable" in self.sdk,
            k8s_models=self.uses_k8s_models,
            k8s_secrets=self.uses_k8s_secrets,
            pipespec=shlex.split(self.o.pipespec or "pipespec"),
            spec=self.spec_path(),
            digest="sha256:" + pipe.digest(),
            artifact_root=self.o.artifact_root or DEFAULT_ARTIFACT_ROOT,
            param_names=[p.name for p in pipe.params],
            secrets=[] if self.kubernetes else secrets,
            finally_tasks=bool(pipe.finally_steps),
            observe=bool(observe),
            tracking=bool(observe) and pipe.observe.tracking,
            main_task_ids=self.main_task_ids,
            items_helper=self.uses_items,
            helpers=helper_source(self.helpers).strip("\n").replace("\ndef ", "\n\n\ndef ") if self.helpers else "",
            callables=self.callables,
            dag_args=self.dag_args(),
            tasks=tasks,
        )
        while "\n\n\n\n" in text:
            text = text.replace("\n\n\n\n", "\n\n\n")
        return text

    def finally_leaf(self) -> _Task:
        """The one leaf after the finally steps' teardown tasks. Airflow leaves teardowns out when
        it decides a run's state (so a failed step still fails the run, and a teardown's own
        failure would not); this normal task needs every teardown to succeed (all_success) and
        does nothing itself (an EmptyOperator: the scheduler marks it, no worker starts), so a
        failed finally step leaves it upstream_failed and the run failed, as under ``pipespec
        run``. A teardown with ``on_failure_fail_dagrun=True`` would instead become the only
        leaf: the run's state would be the finally step's alone, and a failed step's run succeed."""
        t = _Task(comment=["the run fails when a finally step failed (teardowns do not count)"])
        t.blocks.append(f'    {FINALLY_LEAF} = EmptyOperator(task_id="{FINALLY_LEAF}")')
        fins = [_var(st.name) for st in self.pipe.finally_steps]
        t.blocks.append(f"    {_list(fins)} >> {FINALLY_LEAF}" if len(fins) > 1 else f"    {fins[0]} >> {FINALLY_LEAF}")
        return t

    def observe_tasks(self) -> list[_Task]:
        """The run's boundary for ``notify:``/``metrics:``/``tracking:``: with tracking, a start
        task before every step opens the MLflow parent run (its id is the XCom each step hands
        ``pipespec exec`` as ``PIPESPEC_TRACKING_PARENT``); a finish teardown after everything
        (the finally steps too) ends it, pushes the metrics and sends the alerts from the task
        states. A teardown is left out when Airflow decides the run's state: what it does or
        fails to do never changes the run's result. Under the kubernetes operator both are pods
        (``PipespecObservePod``) in the image of the steps, the channels' secrets as Kubernetes
        secrets in the finish pod's environment."""
        from pipespec.integrations.targets import carried

        obs = self.pipe.observe
        if obs is None or not carried(self.pipe, "airflow"):
            return []
        out = []
        steps = [_var(st.name) for st in self.pipe.all_steps]
        if obs.tracking:
            t = _Task(comment=["the MLflow parent run of this run, before any step (pipespec observe start)"])
            t.blocks.append(self.observe_task(OBSERVE_START, "start"))
            t.blocks.append(f"    {OBSERVE_START} >> {_list(steps)}" if len(steps) > 1
                            else f"    {OBSERVE_START} >> {steps[0]}")
            out.append(t)
        t = _Task(comment=["metrics, alerts and the end of the MLflow run, after everything (pipespec observe",
                           "finish); a teardown: it runs whatever happened and never decides the run's state"])
        t.blocks.append(self.observe_task(OBSERVE_FINISH, "finish", ".as_teardown()"))
        ups = [*self.main_tasks, *(_var(st.name) for st in self.pipe.finally_steps)]
        t.blocks.append(f"    {_list(ups)} >> {OBSERVE_FINISH}" if len(ups) > 1 else f"    {ups[0]} >> {OBSERVE_FINISH}")
        out.append(t)
        return out

    def observe_task(self, var: str, action: str, tail: str = "") -> str:
        kw = [("task_id", py_literal(var)), ("action", py_literal(action))]
        if not self.kubernetes:
            return _call(f"{var} = PipespecObserve", kw, tail)
        kw += [("name", py_literal(f"{self.pipe.name}-pipespec-{action}")), ("image", py_literal(self.observe_image()))]
        if self.o.namespace:
            kw.append(("namespace", py_literal(self.o.namespace)))
        names = self.observe_secrets() if action == "finish" else []
        if names:
            kw.append(("secrets", self.pod_secrets(names)))
        return _call(f"{var} = PipespecObservePod", kw, tail)

    def observe_secrets(self) -> list[str]:
        """The secrets ``pipespec observe finish`` reads: the channels' and the Pushgateway's."""
        obs = self.pipe.observe
        names = [c.secret for c in obs.channels] + ([obs.pushgateway_secret] if obs.pushgateway_secret else [])
        return list(dict.fromkeys(names))

    def observe_image(self) -> str:
        """The image of the start and finish pods: targets.airflow.image (or ``compile --image``),
        else the one image every step runs in; it must hold pipespec (with the mlflow extra for
        tracking:) and the spec, as the steps' images do."""
        if self.o.image:
            return self.o.image
        images = {st.image for st in self.pipe.all_steps}
        if len(images) == 1 and None not in images:
            return images.pop()
        self.b.unsupported(next((sp for _, sp in self.pipe.observe.spans), self.pipe.span),
                           f"the steps run in {'different images' if len(images) > 1 else DEFAULT_IMAGE}: the start "
                           f"and finish pods of notify:/metrics:/tracking: use {DEFAULT_IMAGE}, which must hold pipespec",
                           emulated=True, help="set targets.airflow.image to an image that holds pipespec and the spec")
        return DEFAULT_IMAGE

    def docstring(self) -> str:
        pipe = self.pipe
        head = self.b.header_lines(pipe, self.opts)
        title = f"Airflow DAG {pipe.name}" + (f": {pipe.description}" if pipe.description else ".")
        lines = [*textwrap.wrap(title, 96), "", *head, "",
                 "Each task runs one step through `pipespec exec` on the worker; the spec and its step",
                 "code must be deployed there (see docs/targets/airflow.md)."]
        return _doc("\n".join(lines))

    def spec_path(self) -> str:
        # relative to the project root whatever folder `pipespec compile` ran from; the DAG
        # resolves it against $PIPESPEC_PROJECT_DIR, else the nearest folder above the DAG file
        # that holds it (the repository checkout the DAG file is part of)
        return self.b.spec_on_worker(self.pipe, self.opts)

    def secrets(self) -> list[tuple[str, list[tuple[str, tuple[str, str]]]]]:
        by_name = {s.name: s for s in self.pipe.secrets}
        out = []
        for st in self.pipe.all_steps:
            pairs = []
            for name in st.secrets:
                sec = by_name[name]
                var = AIRFLOW_VARIABLES.ref(sec)
                ref = ("connection", var[5:]) if var.startswith("conn:") else ("variable", var)
                pairs.append((sec.env, ref))
            if pairs:
                out.append((st.name, sorted(pairs)))
        obs = self.pipe.observe
        if obs is not None and not self.kubernetes:
            from pipespec.integrations.targets import carried

            pairs = []
            for name in self.observe_secrets():
                var = AIRFLOW_VARIABLES.ref(by_name[name])
                pairs.append((by_name[name].env, ("connection", var[5:]) if var.startswith("conn:") else ("variable", var)))
            if pairs and carried(self.pipe, "airflow"):
                out.append((OBSERVE_FINISH, sorted(pairs)))
        return out

    def dag_args(self) -> list[str]:
        pipe = self.pipe
        o = self.o
        args = [f"dag_id={py_literal(dag_id(pipe.name, o))}"]
        if pipe.description:
            args.append(f"description={py_literal(pipe.description)}")
        args.append(f"schedule={py_literal(pipe.schedule)}")
        args.append("catchup=False")
        if o.max_active_runs is not None:
            args.append(f"max_active_runs={py_literal(o.max_active_runs)}")
        if o.dagrun_timeout_s:        # 0: no limit (Airflow reads timedelta(0) so too: it is falsy)
            args.append(f"dagrun_timeout={_seconds(o.dagrun_timeout_s)}")
        if o.default_args:
            # every task (the steps' and the helpers') gets these: the owner, pool and queue of the team
            args.append(f"default_args={py_literal(o.default_args)}")
        args.append(f"tags={py_literal(o.dag_tags)}")
        params = [self.param(p) for p in pipe.params]
        if params:
            args.append("params={\n" + "".join(f"        {p},\n" for p in params) + "    }")
        return args

    def param(self, p: ir.Param) -> str:
        kw: list[str] = []
        schema_type = _PARAM_TYPES.get(p.type.kind)
        if not p.required and p.default is None and schema_type:
            kw.append(f"type={py_literal([schema_type, 'null'])}")
        elif schema_type:
            kw.append(f"type={py_literal(schema_type)}")
        if p.type.kind == "list" and p.type.item is not None and _PARAM_TYPES.get(p.type.item.kind):
            kw.append(f"items={py_literal({'type': _PARAM_TYPES[p.type.item.kind]})}")
        if p.enum is not None:
            kw.append(f"enum={py_literal(list(p.enum))}")
        if p.minimum is not None:
            kw.append(f"minimum={py_literal(p.minimum)}")
        if p.maximum is not None:
            kw.append(f"maximum={py_literal(p.maximum)}")
        if p.description:
            kw.append(f"description={py_literal(p.description)}")
        first = [] if p.required else [py_literal(p.default)]
        return f"{py_literal(p.name)}: Param({', '.join(first + kw)})"

    # -- one step ---------------------------------------------------------------------------
    def translate(self, st: ir.Step, value: ir.Value, what: str) -> str | None:
        tr = PythonTranslator(lambda s: self.pipe.step(s).foreach is not None,
                              lambda s, o: self.pipe.step(s).output(o).type)
        src = tr.render(value, self.b, f"{what} of step '{st.name}'")
        if src is None:
            return None
        self.helpers |= tr.helpers
        self._reads = sorted(tr.steps_read)
        return src

    def gate(self, st: ir.Step, upstream: list[str], is_finally: bool) -> tuple[str, str] | None:
        """The short-circuit task of an ``if:``: (its variable, its source)."""
        cond = st.condition
        if cond is None:
            return None
        var = f"{st.name}__if"
        if cond.template is None:
            if cond.literal is True:
                return None                    # if: true is no condition at all
            body = ["return False"]
            reads: list[str] = []
        else:
            src = self.translate(st, cond, "if:")
            if src is None:
                return None
            reads = [_var(s) for s in self._reads]
            lines = []
            if "ti" in _names(src):
                lines.append('ti = context["ti"]')
            if "params" in _names(src):
                lines.append('params = context["params"]')
            if cond.type != E.BOOL:
                self.helpers.add("_need_bool")
                src = f"_need_bool({src}, 'if:')"
            body = lines + [f"return {src}"]
        self.std_operators.add("ShortCircuitOperator")
        source = cond.template.exprs[0].source.strip() if cond.template else str(cond.literal).lower()
        self.callables.append(_helper_fn(var, py_literal("if: " + source), body))
        kw = [("task_id", py_literal(var)), ("python_callable", f"_{var}"),
              ("ignore_downstream_trigger_rules", "False")]
        if is_finally:
            self.sdk.add("TriggerRule")
            kw.append(("trigger_rule", "TriggerRule.ALL_DONE"))
        code = _call(f"{var} = ShortCircuitOperator", kw)
        ups = sorted(set(upstream if is_finally else reads))
        if ups:
            code += f"\n    {_list(ups)} >> {var}" if len(ups) > 1 else f"\n    {ups[0]} >> {var}"
        return var, code

    def foreach(self, st: ir.Step, before: str | None, upstream: list[str],
                is_finally: bool) -> tuple[str, str | None, str]:
        """What a mapped task expands over: a literal list of indexes, or the XCom of a helper
        task; (the expand argument, the helper's variable or None, the helper's source)."""
        fe = st.foreach
        if fe.template is None:
            items = fe.literal if isinstance(fe.literal, list) else []
            return py_literal(list(range(len(items)))), None, ""
        var = f"{st.name}__foreach"
        src = self.translate(st, fe, "foreach:")
        if src is None:
            return "[]", None, ""
        reads = [_var(s) for s in self._reads]
        lines = []
        if "ti" in _names(src):
            lines.append('ti = context["ti"]')
        if "params" in _names(src):
            lines.append('params = context["params"]')
        self.uses_items = True
        self.std_operators.add("PythonOperator")
        self.callables.append(_helper_fn(var, py_literal("foreach: " + fe.template.exprs[0].source.strip()),
                                         lines + [f"return _items({src})"]))
        # its return value (the index list) is the XCom that .expand(index=<var>.output) maps over
        kw = [("task_id", py_literal(var)), ("python_callable", f"_{var}")]
        if is_finally and before is None:
            self.sdk.add("TriggerRule")
            kw.append(("trigger_rule", "TriggerRule.ALL_DONE"))
        code = _call(f"{var} = PythonOperator", kw)
        ups = sorted(set(([before] if before else []) + (upstream if is_finally and before is None else reads)))
        if ups:
            code += f"\n    {_list(ups)} >> {var}" if len(ups) > 1 else f"\n    {ups[0]} >> {var}"
        return f"{var}.output", var, code

    def step(self, st: ir.Step) -> _Task:
        var = _var(st.name)
        is_fin = st.is_finally
        t = _Task()
        t.comment = [f"{st.name}" + (" (finally)" if is_fin else "")]
        upstream_all = list(self.main_tasks) if is_fin else []
        deps = [_var(d) for d in st.depends_on]
        before: str | None = None
        g = self.gate(st, upstream_all, is_fin)
        if g:
            before = g[0]
            t.blocks.append(g[1])
            if not is_fin:
                # not an upstream of the finally tasks: a short-circuit skips every direct
                # downstream task whatever its trigger rule. Its step waits for it anyway.
                self.main_task_ids.append(g[0])
        expand = None
        if st.foreach is not None:
            expand, helper, code = self.foreach(st, before, upstream_all, is_fin)
            if helper:
                t.blocks.append(code)
                if not is_fin:
                    self.main_tasks.append(helper)
                    self.main_task_ids.append(helper)
                before = helper
        kw = self.task_kwargs(st)
        if is_fin and before is not None:
            # (not reachable: E219 forbids if:/foreach: on a finally step) a gate or foreach
            # helper of its own stands in between: that one waited, and its skip must carry over
            self.sdk.add("TriggerRule")
            kw.append(("trigger_rule", "TriggerRule.ALL_SUCCESS"))
        if self.kubernetes:
            kw += self.pod_kwargs(st)
        if is_fin:
            kw.append(("finally_step", "True"))
        operator = "PipespecPodOperator" if self.kubernetes else "PipespecStep"
        if expand is None:
            # a finally step is a teardown task: it runs once everything upstream is done,
            # whatever their states (all_done_setup_success with no setup), and Airflow leaves
            # it out when it decides the run's state, so a failed step still fails the run
            code = _call(f"{var} = {operator}", kw, ".as_teardown()" if is_fin else "")
        else:
            code = _call(f"{var} = {operator}.partial", kw, f".expand(index={expand})")
        t.blocks.append(code)
        ups = deps + ([before] if before else [])
        if is_fin and before is None:
            ups = upstream_all + deps
        ups = sorted(set(ups), key=ups.index)
        if ups:
            t.blocks.append(f"    {_list(ups)} >> {var}" if len(ups) > 1 else f"    {ups[0]} >> {var}")
        if not is_fin:
            self.main_tasks.append(var)
            self.main_task_ids.append(st.name)
        return t

    def task_kwargs(self, st: ir.Step) -> list[tuple[str, str]]:
        kw = [("task_id", py_literal(st.name)), ("step", py_literal(st.name))]
        if st.description:
            kw.append(("doc_md", py_literal(st.description)))
        r = st.retries
        kw.append(("retries", py_literal(r.limit)))
        if r.limit:
            kw.append(("retry_delay", _seconds(r.delay_s)))
            if r.backoff != 1.0:
                kw.append(("retry_exponential_backoff", py_literal(float(r.backoff))))
                kw.append(("max_retry_delay", _seconds(r.max_delay_s)))
        if st.timeout_s is not None:
            kw.append(("execution_timeout", _seconds(st.timeout_s)))
        if st.parallelism is not None and st.foreach is not None:
            kw.append(("max_active_tis_per_dagrun", py_literal(st.parallelism)))
        # targets.airflow.steps.<step>: this task's pool and queue over default_args'
        kw += [(k, py_literal(v)) for k, v in self.o.step_args(st.name).items()]
        return kw

    def pod_kwargs(self, st: ir.Step) -> list[tuple[str, str]]:
        """The pod of a step (kubernetes mode): name, image, namespace, resources, secrets."""
        image = st.image or self.o.image
        if not image:
            image = DEFAULT_IMAGE
            self.b.unsupported(st.span, f"step '{st.name}' has no image: its pod uses {DEFAULT_IMAGE}, "
                                        "which must hold pipespec and the step code", emulated=True,
                               help="set image: on the step or in defaults:, or targets.airflow.image")
        kw = [("name", py_literal(f"{self.pipe.name}-{st.name}".replace("_", "-"))), ("image", py_literal(image))]
        if self.o.namespace:
            kw.append(("namespace", py_literal(self.o.namespace)))
        res = st.resources
        requests, limits = {}, {}
        if res.cpu is not None:
            requests["cpu"] = _cpu(res.cpu)
        if res.memory is not None:
            requests["memory"] = limits["memory"] = _memory(res.memory)
        if res.gpu:
            limits["nvidia.com/gpu"] = str(res.gpu)
        if res.accelerator:
            self.b.unsupported(st.span, f"accelerator '{res.accelerator}' of step '{st.name}' is not mapped "
                                        "to a node selector; the pod asks only for nvidia.com/gpu",
                               emulated=True, help="pin the node pool in the cluster, or drop accelerator:")
        if requests or limits:
            self.uses_k8s_models = True
            kw.append(("container_resources",
                       f"k8s.V1ResourceRequirements(requests={py_literal(requests)}, limits={py_literal(limits)})"))
        if st.secrets:
            kw.append(("secrets", self.pod_secrets(st.secrets)))
        return kw

    def pod_secrets(self, names) -> str:
        """Kubernetes secrets as the pod's environment variables, by name: no value is in the DAG."""
        self.uses_k8s_secrets = True
        by_name = {s.name: s for s in self.pipe.secrets}
        items = []
        for name in names:
            sec = by_name[name]
            secret_name, _, key = KUBERNETES_SECRETS.ref(sec).partition("/")
            items.append(f"Secret(\"env\", {py_literal(sec.env)}, {py_literal(secret_name)}, {py_literal(key)})")
        return "[" + ", ".join(items) + "]"


def _names(src: str) -> set[str]:
    import ast

    return {n.id for n in ast.walk(ast.parse(src, mode="eval")) if isinstance(n, ast.Name)}
