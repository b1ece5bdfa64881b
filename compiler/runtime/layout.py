"""The artifact-root convention that lets distributed workers find each other's results.

Run ``R`` of a pipeline keeps everything under ``ROOT/R/``::

    ROOT/R/<step>/<index or _>/<output>        one artifact (a file, or a folder for dir)
    ROOT/R/<step>/<index or _>/_values.json    {"values": {...}, "metrics": {...}, ...}
    ROOT/R/<step>/<index or _>/_done           written last: the instance finished
    ROOT/R/<step>/<index or _>/_outcome.json   {"status", "attempt", "started", "ended", ...}: the
                                               last attempt's end, failed ones too (Kubeflow's
                                               tasks, for the exit task's alerts)

``_`` stands for a step without foreach; foreach instances use their index 0, 1, ...
With this, ``pipespec exec --artifact-root ROOT --run-id R`` needs nothing but params: it reads
upstream values and artifacts where the convention puts them, and for a fan-in re-evaluates
the producer's foreach expression to know how many instances to gather.

ROOT is a local folder, or a URL (``s3://``, ``gs://``, ``memory://``, ...) through ``fsspec``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tempfile
from typing import Any

from .. import ir
from ..expr import EvalError
from ..files import write_atomic
from .context import Lookup, StepInputs

VALUES = "_values.json"
DONE = "_done"
OUTCOME = "_outcome.json"


class LayoutError(Exception):
    """An upstream result is missing, the root cannot be reached, or a run id is unsafe."""


# A run id names a folder (ROOT/R, .pipespec/runs/R): one path component, never "." or "..",
# no separator. Wide enough for every target's own ids as they are passed: Airflow's
# manual__2024-01-01T00:00:00+00:00 (the DAG passes it with [^A-Za-z0-9._-] made "_"), KFP's
# pipeline_job_uuid, GitHub's numeric run_id, and the local runner's 20261201-213900-ab12.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,249}\Z")


def run_id_problem(run_id: str) -> str | None:
    """Why ``run_id`` cannot name a run's folder, or None when it can."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        return (f"run id {run_id!r} is not 1-250 characters of letters, digits and . _ : + - "
                "starting with a letter or digit (it names a folder: no '/', no '..')")
    return None


def check_run_id(run_id: str) -> str:
    """``run_id`` itself, or a ``LayoutError`` saying why it is refused."""
    why = run_id_problem(run_id)
    if why is not None:
        raise LayoutError(why)
    return run_id


def slot(index: int | None) -> str:
    return "_" if index is None else str(index)


def item_index(items: list, item: Any) -> int:
    """The index of a foreach instance that is handed its item, not its position (Kubeflow's
    loops): the first equal item's (equal items give equal steps), 0 when none is equal."""
    from ..expr.values import equal

    return next((i for i, x in enumerate(items) if equal(x, item)), 0)


def is_url(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


class Root:
    """A local or fsspec-backed artifact root. Remote artifacts are staged through ``local``."""

    def __init__(self, root: str) -> None:
        self.url = root.rstrip("/") or root
        self.remote = is_url(root)
        self.fs = None
        self.local = None
        if self.remote:
            try:
                import fsspec
            except ImportError:
                raise LayoutError(f"artifact root {root} is a URL: reading it needs the 'fsspec' package "
                                  "(pip install fsspec, plus s3fs for s3:// or gcsfs for gs://)") from None
            try:
                self.fs, self.base = fsspec.core.url_to_fs(root)
            except (ImportError, ValueError) as e:
                raise LayoutError(f"artifact root {root}: {e}") from None
            self.local = tempfile.mkdtemp(prefix="pipespec-stage-")
        else:
            self.base = os.path.abspath(root.removeprefix("file://"))

    def close(self) -> None:
        if self.local:
            shutil.rmtree(self.local, ignore_errors=True)

    def join(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts) if self.remote else os.path.join(self.base, *parts)

    def instance(self, run_id: str, step: str, index: int | None) -> str:
        return self.join(check_run_id(run_id), step, slot(index))

    def staged(self, run_id: str, step: str, index: int | None) -> str:
        """Where this instance's files are on the local disk (the root itself when local)."""
        if not self.remote:
            return self.instance(run_id, step, index)
        return os.path.join(self.local, check_run_id(run_id), step, slot(index))

    def read_values(self, run_id: str, step: str, index: int | None) -> dict:
        where = self.instance(run_id, step, index)              # checks the run id
        done, values = self.join(run_id, step, slot(index), DONE), self.join(run_id, step, slot(index), VALUES)
        try:
            if self.remote:
                if not self.fs.exists(done):
                    raise FileNotFoundError(done)
                with self.fs.open(values, "r") as f:
                    return json.load(f)
            if not os.path.exists(done):
                raise FileNotFoundError(done)
            with open(values, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise LayoutError(f"no finished result of step '{step}' (instance {slot(index)}) at {where}: "
                              f"it has no {DONE} marker; run that step first") from None

    def fetch(self, run_id: str, step: str, index: int | None, output: str) -> str:
        """A local path to an upstream artifact (downloaded first when the root is remote)."""
        check_run_id(run_id)
        if not self.remote:
            path = self.join(run_id, step, slot(index), output)
            if not os.path.exists(path):
                raise LayoutError(f"artifact '{output}' of step '{step}' (instance {slot(index)}) is missing at {path}")
            return path
        src = self.join(run_id, step, slot(index), output)
        dst = os.path.join(self.staged(run_id, step, index), output)
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not self.fs.exists(src):
                raise LayoutError(f"artifact '{output}' of step '{step}' (instance {slot(index)}) is missing at {src}")
            self.fs.get(src, dst, recursive=self.fs.isdir(src))
        return dst

    def publish(self, run_id: str, step: str, index: int | None, result_json: dict,
                artifacts: dict[str, str]) -> None:
        """Upload artifacts (when remote), then ``_values.json``, then ``_done`` last."""
        check_run_id(run_id)
        text = json.dumps(result_json, sort_keys=True, indent=1)
        if self.remote:
            for name, path in artifacts.items():
                dst = self.join(run_id, step, slot(index), name)
                if os.path.isdir(path):
                    self.fs.put(path.rstrip("/") + "/", dst, recursive=True)
                else:
                    self.fs.put_file(path, dst)
            self.fs.pipe_file(self.join(run_id, step, slot(index), VALUES), text.encode())
            self.fs.pipe_file(self.join(run_id, step, slot(index), DONE), b"")
            return
        d = self.instance(run_id, step, index)
        os.makedirs(d, exist_ok=True)
        write_atomic(os.path.join(d, VALUES), text)
        write_atomic(os.path.join(d, DONE), b"")          # a link planted at _done is replaced, not followed

    def read_json(self, path: str) -> Any:
        """The JSON document at ``path`` (a path of this root), None when absent or unreadable."""
        try:
            if self.remote:
                with self.fs.open(path, "r") as f:
                    return json.load(f)
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError, FileNotFoundError):
            return None

    def names(self, run_id: str, step: str) -> list[str]:
        """What ``ROOT/run_id/step`` holds (instance folders ``_``, ``0``, ...); [] when absent."""
        base = self.join(check_run_id(run_id), step)
        try:
            if self.remote:
                return [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(base, detail=False)]
            return os.listdir(base)
        except (OSError, FileNotFoundError):
            return []

    def exists(self, *parts: str) -> bool:
        path = self.join(*parts)
        return self.fs.exists(path) if self.remote else os.path.exists(path)

    def put_outcome(self, run_id: str, step: str, index: int | None, outcome: dict) -> None:
        """Record how an attempt of the instance ended (replacing an earlier attempt's record)."""
        text = json.dumps(outcome, sort_keys=True, indent=1)
        d = self.instance(run_id, step, index)                  # checks the run id
        if self.remote:
            self.fs.pipe_file(self.join(run_id, step, slot(index), OUTCOME), text.encode())
            return
        os.makedirs(d, exist_ok=True)
        write_atomic(os.path.join(d, OUTCOME), text)

    def outcomes(self, run_id: str, step: str) -> dict[int | None, dict]:
        """{index (None for a plain step): its recorded outcome} of every instance that has one."""
        out: dict[int | None, dict] = {}
        for name in self.names(run_id, step):
            if name != "_" and not name.isdigit():
                continue
            rec = self.read_json(self.join(run_id, step, name, OUTCOME))
            if isinstance(rec, dict):
                out[None if name == "_" else int(name)] = rec
        return out


class ConventionInputs:
    """Upstream values and artifact paths of any step, read from a ``Root`` by convention."""

    def __init__(self, pipeline: ir.Pipeline, root: Root, run_id: str, params: dict[str, Any],
                 run_date: str) -> None:
        self.pipeline, self.root, self.run_id = pipeline, root, run_id
        self.params, self.run_date = params, run_date
        self._counts: dict[str, int] = {}

    def instances(self, step: ir.Step) -> list[int | None]:
        if step.foreach is None:
            return [None]
        return list(range(len(self.foreach_items(step))))

    def foreach_items(self, step: ir.Step, values: dict | None = None,
                      artifacts: dict | None = None) -> list:
        """The step's foreach list, evaluated over its upstream results."""
        if step.foreach is None:
            return []
        if step.foreach.template is None:
            items = step.foreach.literal
        else:
            if values is None:
                values, artifacts = self.gather(step)
            inputs = StepInputs(self.params, values, artifacts or {}, run_id=self.run_id, run_date=self.run_date)
            try:
                items = step.foreach.template.render(Lookup(self.pipeline, step, inputs, {}, {}))
            except (EvalError, KeyError) as e:
                raise LayoutError(f"cannot evaluate the foreach of step '{step.name}': {e}") from None
        if not isinstance(items, list):
            raise LayoutError(f"foreach of step '{step.name}' gave {type(items).__name__}, not a list")
        return items

    def gather(self, step: ir.Step) -> tuple[dict, dict]:
        """({step: {output: value}}, {step: {output: path}}) for every input of ``step``."""
        values: dict[str, dict] = {}
        artifacts: dict[str, dict] = {}
        for inp in step.inputs:
            producer = self.pipeline.step(inp.step)
            idxs = self.instances(producer)
            if inp.is_artifact:
                paths = [self.root.fetch(self.run_id, producer.name, i, inp.output) for i in idxs]
                artifacts.setdefault(inp.step, {})[inp.output] = paths if producer.foreach is not None else paths[0]
            else:
                got = [self.root.read_values(self.run_id, producer.name, i).get("values", {}) for i in idxs]
                for i, g in zip(idxs, got):
                    if inp.output not in g:
                        raise LayoutError(f"step '{producer.name}' (instance {slot(i)}) recorded no value "
                                          f"'{inp.output}' in its {VALUES}")
                vals = [g[inp.output] for g in got]
                values.setdefault(inp.step, {})[inp.output] = vals if producer.foreach is not None else vals[0]
        return values, artifacts
