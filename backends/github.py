"""The GitHub Actions backend: IR -> one workflow file for ``.github/workflows/``.

Takes an ``ir.Pipeline``, gives YAML text. The workflow is built as plain data and written with
``yamlout``, never from a text template; the only edit to the serialised text is the ``# vX.Y.Z``
comment after each pinned ``uses:`` (``github_pins.annotate``), and a test loads the result
back and compares it with the data.

The shape (docs/targets/github.md has the full mapping):

- ``on``: ``workflow_dispatch`` with one typed input per param, ``schedule`` from the spec,
  ``push``/``pull_request`` from ``targets.github``.
- one job per step, ``needs`` = the step's dependencies. Every job runs the shared step executor
  (``pipespec exec``), which also does the retries (GitHub has none). ``if:`` is translated by
  ``github_expr``; GitHub's implied ``success()`` skips everything downstream of a skipped job.
- ``foreach:`` is a matrix over the items; the leg's ``strategy.job-index`` is the item index.
- artifacts and value outputs travel as GitHub artifacts (upload/download-artifact, one per
  step instance, named ``pipespec--<step>--<index or _>``) or, with ``targets.github.artifact_root``,
  through the executor's artifact root with no action at all. Value outputs of single jobs are
  also job outputs, for ``if:``/``foreach:``; fan-in never goes through job outputs.
- ``finally:`` steps are jobs with ``if: always()`` and ``run.status`` computed from ``needs``.
- security: ``permissions: {}`` at the top, ``contents: read`` only where the code is checked
  out; actions pinned by SHA; ``persist-credentials: false``; no ``${{ }}`` in any ``run:``
  (values reach the shell through ``env:``); secrets only as ``${{ secrets.NAME }}`` in ``env:``.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import shlex

from pipespec import ir
from pipespec.expr import ast as A
from pipespec.units import cores, memory_bytes

from . import yamlout
from .base import EMULATED, NATIVE, Backend, CompileOptions
from .github_expr import GithubTranslator, compact_json
from .github_options import GITHUB_SECRETS, OPTIONS, GithubOptions
from .github_pins import action_step, annotate

MAX_INPUTS = 25            # workflow_dispatch inputs
MAX_MATRIX = 256           # jobs per matrix
HOSTED_JOB_MINUTES = 360   # GitHub-hosted runners stop a job after 6 h
# "Workflow file size: 500 KB per file" (docs.github.com/en/actions/reference/limits); GitHub
# counts 500 x 1024 = 512000 bytes: a 510313-byte file ran, a 513306-byte one did not start.
MAX_FILE_BYTES = 500 * 1024
ROOT_TMP = "${{ runner.temp }}/pipespec/${{ github.run_id }}"
RUN_STATUS = ("((contains(needs.*.result, 'failure') || contains(needs.*.result, 'cancelled'))"
              " && 'failed' || 'succeeded')")
PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *"}
_SECRET_NAME = re.compile(r"^(?!GITHUB_)[A-Za-z_][A-Za-z0-9_]*$")


class GithubBackend(Backend):
    name = "github"
    options = OPTIONS
    description = "GitHub Actions workflow (.github/workflows/<name>.yml)"
    extension = ".yml"
    capabilities = {
        "params": (NATIVE, "workflow_dispatch inputs (<= 25); defaults written out for scheduled runs"),
        "schedule": (NATIVE, "on.schedule cron (UTC)"),
        "run_steps": (NATIVE, "a job running pipespec exec"),
        "call_steps": (NATIVE, "a job running pipespec exec"),
        "value_outputs": (NATIVE, "job outputs via $GITHUB_OUTPUT, and _values.json beside the artifacts"),
        "artifacts": (NATIVE, "upload/download-artifact, or targets.github.artifact_root"),
        "if": (NATIVE, "job if: with fromJSON; skipped needs skip their dependants"),
        "foreach": (NATIVE, "strategy.matrix (<= 256 legs); fan-in through artifacts"),
        "parallelism": (NATIVE, "strategy.max-parallel"),
        "finally": (NATIVE, "a job with if: always() needing every step"),
        "retries": (EMULATED, "GitHub has no job retries: pipespec exec --retries-by-executor retries in the job"),
        "timeout": (NATIVE, "timeout-minutes on every job (all attempts + setup) and per attempt by the executor"),
        "cache": (NATIVE, "jobs always run; the executor's cache applies with a shared artifact_root"),
        "resources": (EMULATED, "cpu/memory pick a runner label from targets.github.runners; not enforced"),
        "gpu": (EMULATED, "a GPU runner label from targets.github.runners or gpu_runs_on"),
        "image": (NATIVE, "job container:"),
        "env": (NATIVE, "set by the step executor"),
        "secrets": (NATIVE, "${{ secrets.NAME }} in the job's env:"),
    }

    # resources and gpu pick runner labels; generate() reports what cannot be placed
    reported_by_generate = ("resources", "gpu")

    def generate(self, pipe: ir.Pipeline, opts: CompileOptions) -> str:
        doc = _Builder(self, pipe, opts).workflow()
        header = yamlout.comment(self.header_lines(pipe, opts))
        text = header + annotate(dump(doc))
        if over_size_limit(text):
            self.unsupported(pipe.span, f"the workflow file would be {len(text.encode()):,} bytes; GitHub "
                             f"starts no run from a file over 500 KB ({MAX_FILE_BYTES:,} bytes)", limit=True,
                             help=f"split the pipeline into smaller specs ({len(pipe.all_steps)} steps here), "
                             "or use fewer steps with foreach:")
        return text


def over_size_limit(text: str) -> bool:
    """Whether ``text`` is over GitHub's workflow file size limit, in UTF-8 bytes."""
    return len(text) > MAX_FILE_BYTES or len(text.encode()) > MAX_FILE_BYTES


class _Config:
    """``targets.github`` (``backend.opts``) with the values derived from it and the spec path."""

    def __init__(self, backend: GithubBackend, pipe: ir.Pipeline, opts: CompileOptions) -> None:
        o: GithubOptions = backend.configure(pipe)
        self.runs_on = _plain(o.runs_on)
        self.gpu_runs_on = _plain(o.gpu_runs_on)
        self.runners = [_plain(r) for r in o.runners]
        self.artifact_root = o.artifact_root
        self.setup = o.setup
        self.python = o.python
        self.pipespec = o.pipespec
        self.push = o.push
        self.pull_request = o.pull_request
        self.fail_if_skipped = list(o.fail_if_skipped)
        self.concurrency = _plain(o.concurrency)
        self.workflow_call = o.workflow_call
        self.paths = _own_paths(backend, pipe, opts) if o.path_filters else None
        # relative to the project root (the checkout: the jobs' working directory)
        self.spec_path = posixpath.normpath(backend.spec_on_worker(pipe, opts).replace("\\", "/"))
        self.requirements = requirements(opts.spec_path, self.spec_path)
        self.install = o.install or default_install(self.requirements)
        for key in ("artifact_root", "python", "install", "pipespec", "spec_path", "runs_on", "gpu_runs_on"):
            if "${{" in compact_json(getattr(self, key)):
                what = f"targets.github.{key}" if o.has(key) or key != "spec_path" else "the spec path"
                backend.unsupported(pipe.span, f"{what} holds '${{{{': GitHub would "
                                    "evaluate it as an expression", help="write the value literally")
        if "${{" in compact_json(self.concurrency):
            backend.unsupported(pipe.span, "targets.github.concurrency holds '${{': GitHub would evaluate it "
                                "as an expression", help="write the group literally")
        for r in self.runners:
            if "${{" in compact_json(r):
                backend.unsupported(pipe.span, "targets.github.runners holds '${{': GitHub would evaluate it")


def _plain(v):
    """Tuples of the options object back as lists (the workflow is written as JSON-like data)."""
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _own_paths(backend: "GithubBackend", pipe: ir.Pipeline, opts: CompileOptions) -> list[str] | None:
    """The paths a push or pull request must touch to concern this spec, relative to the project
    root: the spec's folder, the deps: outside it, its requirements file and the compiled
    workflow itself. None when the spec sits at the project root (every path concerns it)."""
    from pipespec.files import project_root

    spec = backend.project_path(pipe, opts)
    folder = posixpath.dirname(spec)
    if folder in ("", ".") or not os.path.isfile(opts.spec_path):
        return None
    out = [f"{folder}/**"]
    root = project_root(os.path.dirname(os.path.realpath(opts.spec_path)), backend.opts.project_root)

    def add(path: str) -> None:
        if path and path != "." and not path.startswith("../") and not (path + "/").startswith(folder + "/"):
            if path not in out:
                out.append(path)

    for st in pipe.all_steps:
        for d in st.deps:
            add(posixpath.normpath(posixpath.join(folder, d)))
    if opts.output_path:
        add(os.path.relpath(os.path.abspath(opts.output_path), root).replace(os.sep, "/"))
    return out


def requirements(local_spec: str, spec_on_runner: str) -> str | None:
    """The step code's requirements.txt as the jobs see it, when one sits beside the spec."""
    if os.path.isfile(os.path.join(os.path.dirname(local_spec) or ".", "requirements.txt")):
        return posixpath.join(posixpath.dirname(spec_on_runner), "requirements.txt")
    return None


def default_install(requirements: str | None) -> str:
    """pipespec at the version that compiled the workflow, plus the step code's requirements."""
    from pipespec import __version__

    cmd = f"python -m pip install {shlex.quote('pipespec==' + __version__)}"
    if requirements:
        cmd += f" -r {shlex.quote(requirements)}"
    return cmd


class _Builder:
    def __init__(self, backend: GithubBackend, pipe: ir.Pipeline, opts: CompileOptions) -> None:
        self.b = backend
        self.pipe = pipe
        self.cfg = _Config(backend, pipe, opts)
        self.tr = GithubTranslator(pipe)
        self.tr.always_inputs = self.cfg.workflow_call
        self.conditions: dict[str, str] = {}
        self.matrices: dict[str, object] = {}
        self.gates: list[str] = []

    # -- the document ----------------------------------------------------------------------
    def workflow(self) -> dict:
        pipe = self.pipe
        for st in pipe.all_steps:
            self._translate(st)
        doc: dict = {"name": pipe.name, "on": self._triggers(), "permissions": {}}
        # the IR this workflow was compiled from: pipespec exec reads it and fails (exit 65) on
        # another spec (in env, not on every job's command line: a workflow file is capped at 500 KB)
        env = {"PIPESPEC_SPEC": self.cfg.spec_path, "PIPESPEC_IR_DIGEST": "sha256:" + pipe.digest(),
               "PIPESPEC_RUN_ID": "${{ github.run_id }}"}
        if pipe.params:
            env["PIPESPEC_PARAMS"] = ("${{ toJSON(inputs) }}" if self.cfg.workflow_call else
                                      "${{ github.event_name == 'workflow_dispatch' && toJSON(inputs) || '{}' }}")
        if self.cfg.artifact_root:
            env["PIPESPEC_ARTIFACT_ROOT"] = self.cfg.artifact_root
        doc["env"] = env
        doc["defaults"] = {"run": {"shell": "bash"}}
        if self.cfg.concurrency is not False:
            doc["concurrency"] = concurrency(pipe, self.cfg.concurrency)
        gates = self._gates()
        jobs = {st.name: self._job(st) for st in pipe.steps}
        jobs.update(gates)
        jobs.update({st.name: self._job(st) for st in pipe.finally_steps})
        from .github_observe import add_jobs        # notify:/metrics:/tracking: at the run's boundary

        doc["jobs"] = add_jobs(self, jobs, RUN_STATUS, ROOT_TMP, _SECRET_NAME)
        return doc

    def _triggers(self) -> dict:
        pipe, on = self.pipe, {}
        if len(pipe.params) > MAX_INPUTS:
            self.b.unsupported(pipe.params[MAX_INPUTS].span,
                               f"{len(pipe.params)} params, but workflow_dispatch takes at most {MAX_INPUTS} inputs",
                               limit=True, help="group related params into one map param")
        inputs = {p.name: _input(p) for p in pipe.params if self._input_ok(p)}
        on["workflow_dispatch"] = {"inputs": inputs} if inputs else {}
        if pipe.schedule:
            on["schedule"] = [{"cron": PRESETS.get(pipe.schedule, pipe.schedule)}]
        for event in ("push", "pull_request"):
            value = getattr(self.cfg, event)
            if value is not None:
                if "${{" in compact_json(value):
                    self.b.unsupported(pipe.span, f"targets.github.{event} holds '${{{{': GitHub allows no "
                                       "expression under on:", help="write the filters literally")
                if self.cfg.paths and "paths" not in value and "paths-ignore" not in value:
                    value = {**value, "paths": self.cfg.paths}
                on[event] = value
        if self.cfg.workflow_call:
            self._reusable(on, inputs)
        automatic = [e for e in ("schedule", "push", "pull_request") if e in on]
        for p in pipe.params:
            if p.required and automatic:
                self.b.unsupported(p.span, f"param '{p.name}' has no default, but {automatic[0]} runs "
                                   "pass no inputs", help="give it a default")
        return on

    def _reusable(self, on: dict, inputs: dict) -> None:
        """on.workflow_call: the dispatch inputs typed for a call (no choice type there) and the
        secrets the steps read. The caller's event is this workflow's github.event_name, so a
        schedule/push/pull_request of its own would be indistinguishable from a call."""
        own = [e for e in ("schedule", "push", "pull_request") if e in on]
        if own:
            what = "schedule: of the spec" if own[0] == "schedule" else f"targets.github.{own[0]}"
            self.b.unsupported(self.pipe.span, f"targets.github.workflow_call with {what}: in a called workflow "
                               "github.event_name is the caller's event, so a run of its own could not be told "
                               "from a call", help="trigger the caller on that event instead, or drop workflow_call")
        call: dict = {}
        if inputs:
            call["inputs"] = {name: _call_input(i) for name, i in inputs.items()}
        names = sorted({GITHUB_SECRETS.ref(s) for s in self.pipe.secrets
                        if any(s.name in st.secrets for st in self.pipe.all_steps)})
        if names:
            call["secrets"] = {n: {"required": False} for n in names if _SECRET_NAME.match(n)}
        on["workflow_call"] = call

    def _input_ok(self, p: ir.Param) -> bool:
        """Whether ``p`` can be a workflow_dispatch input. GitHub evaluates no expression under
        ``on:`` and has no escape for ``${{`` there (``${{ '${{' }}`` is "A template expression
        is not allowed in this context"), and its number inputs and JSON hold no NaN/Infinity."""
        ok = True
        for where, value in (("description", p.description), ("default", p.default),
                             ("enum values (the input's options)", list(p.enum or ()))):
            if _non_finite(value):
                self.b.unsupported(p.span, f"param '{p.name}': its {where} holds NaN or Infinity, which a "
                                   "GitHub input (and JSON) cannot hold", limit=True, help="use a finite number")
                ok = False
            elif "${{" in _text(value):
                self.b.unsupported(p.span, f"param '{p.name}': its {where} holds '${{{{', which GitHub reads as an "
                                   "expression, and it allows none (and has no escape) in workflow_dispatch inputs",
                                   help="write it without '${{' on this target, for example '$ {{'")
                ok = False
        return ok

    # -- expressions -------------------------------------------------------------------------
    def _translate(self, st: ir.Step) -> None:
        self.tr.run_status = RUN_STATUS if st.is_finally else None
        if st.condition is not None:
            text = self._expression(st, st.condition, "if:")
            if text is not None:
                self.conditions[st.name] = text
        if st.foreach is not None:
            self.matrices[st.name] = self._matrix(st)

    def _expression(self, st: ir.Step, value: ir.Value, where: str) -> str | None:
        if value.is_literal:
            return "true" if value.literal is True else "false" if value.literal is False else None
        return self.tr.render(value, self.b, f"{where} of step '{st.name}'")

    def _matrix(self, st: ir.Step):
        fe = st.foreach
        if fe.is_literal:
            items = list(fe.literal)
            if len(items) > MAX_MATRIX:
                self.b.unsupported(fe.span, f"foreach: of step '{st.name}' has {len(items)} items; a GitHub "
                                   f"matrix has at most {MAX_MATRIX} legs", limit=True)
            plain = all(isinstance(i, (int, float, bool)) or isinstance(i, str) and "${{" not in i for i in items)
            if not plain or len({compact_json(i) for i in items}) < len(items):
                items = list(range(len(items)))       # legs named by index: distinct, no '${{'
            return items, compact_json(items)
        te = fe.template.exprs[0]
        if isinstance(te.expr, A.Ref) and te.expr.root == "params":
            p = self.pipe.param(te.expr.path[0])
            if isinstance(p.default, list) and len(p.default) > MAX_MATRIX:
                self.b.unsupported(fe.span, f"foreach: of step '{st.name}': the default of param "
                                   f"'{p.name}' has {len(p.default)} items; a GitHub matrix has at most "
                                   f"{MAX_MATRIX} legs", limit=True)
        text = self._expression(st, fe, "foreach:")
        return (None, None) if text is None else ("${{ " + text + " }}", "${{ toJSON(" + text + ") }}")

    # -- jobs --------------------------------------------------------------------------------
    def _job(self, st: ir.Step) -> dict:
        job: dict = {}
        needs = list(st.depends_on)
        if st.is_finally:
            normal = [s.name for s in self.pipe.steps]   # after everything, fail_if_skipped gates too
            needs = normal + [f"{n}-required" for n in self.gates] + [n for n in st.depends_on if n not in normal]
        if needs:
            job["needs"] = needs
        cond = self.conditions.get(st.name)
        if st.is_finally:
            job["if"] = "${{ always() && (" + cond + ") }}" if cond else "${{ always() }}"
        elif cond is not None:
            job["if"] = "${{ " + cond + " }}"
        job["runs-on"] = self._runs_on(st)
        if st.image:
            if "${{" in st.image:
                self.b.unsupported(st.span, f"image of step '{st.name}' holds '${{{{'")
            job["container"] = {"image": st.image}
        job["timeout-minutes"] = self._timeout(st)
        if self.cfg.setup:
            job["permissions"] = {"contents": "read"}
        if st.foreach is not None:
            strategy: dict = {"fail-fast": False}
            if st.parallelism:
                strategy["max-parallel"] = st.parallelism
            strategy["matrix"] = {"item": self.matrices[st.name][0] or []}
            job["strategy"] = strategy
        outputs = self._outputs(st)
        if outputs:
            job["outputs"] = outputs
        job["steps"] = self._setup(st) + self._downloads(st) + self._exec(st) + self._uploads(st)
        return job

    def _runs_on(self, st: ir.Step):
        r, cfg = st.resources, self.cfg
        gpu = bool(r.gpu or r.accelerator)
        for rule in cfg.runners:
            if _fits(rule, r) and (gpu or not rule.get("gpu")):
                return rule["runs_on"]
        if gpu:
            if cfg.gpu_runs_on and not r.accelerator:
                return cfg.gpu_runs_on
            what = f"accelerator {r.accelerator}" if r.accelerator else f"{r.gpu} GPU(s)"
            self.b.unsupported(st.span, f"step '{st.name}' asks for {what}, but no GitHub runner offers it",
                               help="add targets.github.runners: [{runs_on: <label>, gpu: N, accelerator: ...}]"
                               + ("" if r.accelerator else " or set targets.github.gpu_runs_on"))
        return cfg.runs_on

    def _timeout(self, st: ir.Step) -> int:
        setup = (10 if self.cfg.setup else 0) + 5          # checkout/python/install; transfers, start
        if st.timeout_s is None:
            return HOSTED_JOB_MINUTES
        r = st.retries
        delays = sum(min(r.delay_s * r.backoff ** k, r.max_delay_s) for k in range(r.limit))
        minutes = math.ceil((st.timeout_s * (r.limit + 1) + delays) / 60) + setup
        if minutes > HOSTED_JOB_MINUTES:
            self.b.unsupported(st.span, f"step '{st.name}' may need {minutes} min (timeout x {r.limit + 1} "
                               f"attempts + delays + setup); GitHub-hosted runners stop a job after "
                               f"{HOSTED_JOB_MINUTES} min (self-hosted: up to 5 days)", emulated=True)
        return minutes

    def _outputs(self, st: ir.Step) -> dict:
        if st.foreach is not None or st.is_finally:
            return {}
        # pipespec exec writes value outputs, and metrics as one line of JSON, to $GITHUB_OUTPUT
        return {o.name: "${{ steps.exec.outputs." + o.name + " }}"
                for o in st.outputs if not o.is_artifact or o.type == "metrics"}

    def _setup(self, st: ir.Step) -> list:
        if not self.cfg.setup:
            return []
        steps = [action_step("actions/checkout", {"persist-credentials": False}, "check out the spec and step code")]
        if not st.image:
            # pip's cache, keyed on the requirements file (else the spec: setup-python needs a file)
            steps.append(action_step("actions/setup-python", {
                "python-version": self.cfg.python, "cache": "pip",
                "cache-dependency-path": self.cfg.requirements or self.cfg.spec_path}, "set up Python"))
        steps.append({"name": "install pipespec", "run": self.cfg.install})
        return steps

    def _downloads(self, st: ir.Step) -> list:
        if self.cfg.artifact_root:
            return []
        producers = sorted({i.step for i in st.inputs})
        return [action_step("actions/download-artifact", {
            "pattern": f"pipespec--{p}--*", "path": f"{ROOT_TMP}/{p}", "merge-multiple": True},
            f"download outputs of {p}") for p in producers]

    def _uploads(self, st: ir.Step) -> list:
        if self.cfg.artifact_root or not st.outputs or st.is_finally:
            return []
        index = "${{ strategy.job-index }}" if st.foreach is not None else "_"
        return [action_step("actions/upload-artifact", {
            "name": f"pipespec--{st.name}--{index}", "path": f"{ROOT_TMP}/{st.name}",
            "if-no-files-found": "error", "overwrite": True}, f"upload outputs of {st.name}")]

    def _exec(self, st: ir.Step) -> list:
        root = '"$PIPESPEC_ARTIFACT_ROOT"' if self.cfg.artifact_root else '"$RUNNER_TEMP/pipespec"'
        args = [f'{self.cfg.pipespec} exec "$PIPESPEC_SPEC"', f"--step {st.name}",
                '--run-id "$PIPESPEC_RUN_ID"', f"--artifact-root {root}"]
        if self.pipe.params:
            args.append('--params-json "$PIPESPEC_PARAMS"')
        env: dict = {}
        prelude = ""
        if st.foreach is not None:
            env["PIPESPEC_ITEM_INDEX"] = "${{ strategy.job-index }}"
            env["PIPESPEC_ITEM"] = "${{ toJSON(matrix.item) }}"
            env["PIPESPEC_ITEMS"] = self.matrices[st.name][1] or "[]"
            prelude = _INDEX_FALLBACK
            args.append('--item-index "$PIPESPEC_ITEM_INDEX"')
        if st.is_finally:
            env["PIPESPEC_RUN_STATUS"] = "${{ " + RUN_STATUS + " }}"
            args.append('--run-status "$PIPESPEC_RUN_STATUS"')
        for name in st.secrets:
            sec = next(s for s in self.pipe.secrets if s.name == name)
            ref = GITHUB_SECRETS.ref(sec)
            if not _SECRET_NAME.match(ref) or not _SECRET_NAME.match(sec.env):
                self.b.unsupported(sec.span, f"secret '{name}': '{ref}' / '{sec.env}' is not a valid "
                                   "GitHub secret / environment variable name")
                continue
            env[sec.env] = "${{ secrets." + ref + " }}"
        args.append("--retries-by-executor")
        step: dict = {"name": f"run {st.name}", "id": "exec"}
        if env:
            step["env"] = env
        step["run"] = prelude + " \\\n  ".join(args) + "\n"
        return [step]

    def _gates(self) -> dict:
        jobs = {}
        for name in self.cfg.fail_if_skipped:
            if name not in {s.name for s in self.pipe.steps}:
                self.b.unsupported(self.pipe.span, f"targets.github.fail_if_skipped names '{name}', "
                                   "which is not a step (finally: steps always run)")
                continue
            self.gates.append(name)
            jobs[f"{name}-required"] = {
                "needs": [name],
                "if": "${{ always() && needs." + name + ".result == 'skipped' }}",
                "runs-on": self.cfg.runs_on,
                "timeout-minutes": 5,
                "steps": [{"name": f"fail: {name} was skipped", "run":
                           f"echo \"::error title=pipespec::step '{name}' was skipped; "
                           "targets.github.fail_if_skipped requires it to run\"\nexit 1\n"}]}
        return jobs


# The leg's item index is strategy.job-index; nektos/act leaves that empty (act#5976), so then
# the leg finds its item in the list (foreach items are distinct there, or legs use indices).
_INDEX_FALLBACK = """\
if [ -z "$PIPESPEC_ITEM_INDEX" ]; then
  PIPESPEC_ITEM_INDEX=$(python3 -c 'import json, os
items, item = json.loads(os.environ["PIPESPEC_ITEMS"]), json.loads(os.environ["PIPESPEC_ITEM"])
if items.count(item) != 1:
    raise SystemExit("pipespec: no strategy.job-index and the foreach item is not unique in its list")
print(items.index(item))')
fi
"""


def _fits(rule: dict, r: ir.Resources) -> bool:
    if r.cpu is not None and rule.get("cpu") is not None and cores(rule["cpu"]) < r.cpu:
        return False
    if r.memory is not None and rule.get("memory") is not None and memory_bytes(rule["memory"]) < r.memory:
        return False
    if r.gpu and (rule.get("gpu") or 0) < r.gpu:
        return False
    if r.accelerator and rule.get("accelerator") != r.accelerator:
        return False
    return True


def concurrency(pipe: ir.Pipeline, opt) -> dict:
    """The concurrency: block. The group is the pipeline name (not github.workflow, which in a
    called workflow is the caller's name, so two reusable workflows of one caller would wait on
    each other) and the ref; a pull request's newer push cancels its older run, any other run
    finishes and the newer one waits (GitHub keeps one pending)."""
    opt = opt if isinstance(opt, dict) else {}
    group = opt.get("group", pipe.name)
    if opt.get("per_ref", True):
        group += "-${{ github.ref }}"
    cancel = opt.get("cancel_in_progress", "pull_request")
    if cancel == "pull_request":
        cancel = "${{ github.event_name == 'pull_request' }}"
    return {"group": group, "cancel-in-progress": cancel}


def _call_input(dispatch: dict) -> dict:
    """A workflow_dispatch input as a workflow_call input: a choice is a string there."""
    d = {k: v for k, v in dispatch.items() if k != "options"}
    if d.get("type") == "choice":
        d["type"] = "string"
    return d


def _input(p: ir.Param) -> dict:
    d: dict = {}
    desc = p.description or p.name
    kind = p.type.kind
    if kind in ("list", "map"):
        desc += f" (JSON {'list' if kind == 'list' else 'object'})"
    d["description"] = desc
    d["required"] = p.required
    if p.enum is not None:
        d["type"] = "choice"
        d["options"] = [_text(e) for e in p.enum]
    elif kind == "bool":
        d["type"] = "boolean"
    elif kind in ("int", "float"):
        d["type"] = "number"
    else:
        d["type"] = "string"
    if not p.required:
        if d["type"] in ("boolean", "number"):
            d["default"] = p.default
        else:
            d["default"] = _text(p.default)
    return d


def _text(v) -> str:
    return v if isinstance(v, str) else compact_json(v)


def _non_finite(v) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return any(_non_finite(x) for x in v)
    if isinstance(v, dict):
        return any(_non_finite(x) for x in v.values())
    return False


# -- serialising ------------------------------------------------------------------------------
def dump(doc: dict) -> str:
    """Keys in the order built, sequences indented under their key. ``yamlout`` quotes every
    string a YAML 1.2 reader (GitHub's) would retype: 'on', '1e3', '0x1F', '3.11'."""
    return yamlout.dump(doc, indent_sequences=True)
