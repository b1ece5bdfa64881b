"""Cache decisions: an instance's key, whether the store already holds its result (a cache hit,
or its success earlier in the run being resumed), and, when it must run, why.

The key's parts come from ``cachekey`` (what the step reads, as the compiled IR says); a hit
is restored from the object store into this run's folder, as if the step had just made it.
"""

from __future__ import annotations

import json
import os

from ..runtime import slot
from . import cachekey
from .records import NO_INDEX, dumps
from .state import Instance


class Reuse:
    def __init__(self, runner) -> None:
        r = runner
        self.records, self.objects, self.hasher, self.modules = r.records, r.objects, r.hasher, r.modules
        self.reads, self.params, self.base_env = r.reads, r.params, r.base_env
        self.spec_dir, self.spec_path, self.run_dir = r.spec_dir, r.spec_path, r.run_dir
        self.run_id, self.run_date = r.run_id, r.run_date
        self.no_cache, self.explain, self.resume_rows = r.no_cache, r.explain, r.resume_rows

    def key(self, inst: Instance, run_status: str | None) -> None:
        """Set the instance's cache key and its parts (``cachekey.DepError``: a bad ``deps:``)."""
        step = inst.step
        r = self.reads[step.name]
        run_fields = {"id": self.run_id, "date": self.run_date, "status": run_status}
        inst.input_hashes = {k: v for k, v in inst.state.inputs[2].items() if k in r.inputs}
        inst.parts = {
            "definition": r.definition,
            "params": {p: self.params[p] for p in r.params},
            "inputs": inst.input_hashes,
            "deps": cachekey.dep_digests(self.spec_dir, step.deps, self.hasher) if step.deps else {},
            "modules": self.modules.digests(step.module) if step.kind == "call" else {},
            "item": inst.item,
            "run": {k: run_fields.get(k) for k in r.run},
            "env": {k: self.base_env.get(k) for k in r.env},
        }
        inst.key = cachekey.make_key(inst.parts)

    def reused(self, inst: Instance) -> str | None:
        """Restore the instance's result from the store when it may be reused: the reason
        (``succeeded earlier in this run``, ``cache key unchanged ...``), or None."""
        step, st = inst.step, inst.state
        idx = NO_INDEX if inst.index is None else inst.index
        row = None
        resumed = self.resume_rows.get((step.name, idx)) if not step.is_finally else None
        if resumed is not None and resumed["cache_key"] == inst.key:
            row, why = resumed, "succeeded earlier in this run"
        elif st.mode == "reuse" or (st.mode == "run" and step.cache and not self.no_cache):
            row, why = self.records.find_cached(inst.key), "cached"
        if row is None or not self._restore(inst, row):
            return None
        inst.cache_hit = True
        # the run that really made it, through any chain of cache hits
        inst.reused_from = row["reused_from"] if row["cache_hit"] and row["reused_from"] else row["run_id"]
        return why if why != "cached" else f"cache key unchanged (from run {row['run_id']})"

    def why_run(self, inst: Instance) -> str:
        """Why an instance runs instead of being reused (``--explain`` looks at the last one)."""
        step, st = inst.step, inst.state
        if st.mode == "force":
            return "selected by --only/--from"
        if not step.cache:
            return "cache: false"
        if self.no_cache:
            return "--no-cache"
        if not self.explain:
            return "not cached"
        # a fan-out instance is compared with the earlier one of the same item, wherever it
        # stood in that run's list (never with the one at the same position)
        item = None if inst.index is None else dumps(inst.item)
        prev = self.records.previous(self.spec_path, step.name, item, self.run_id)
        if prev is None:
            return "no earlier execution of this step" + (" for this item" if item is not None else "")
        changes = cachekey.explain(json.loads(prev["key_parts"]), inst.parts)
        if changes:
            return "; ".join(changes)
        if prev["status"] != "succeeded":
            return f"its last execution (run {prev['run_id']}) {prev['status']}"
        return "its stored outputs are gone"

    def _restore(self, inst: Instance, row) -> bool:
        try:
            hashes = json.loads(row["output_hashes"] or "{}")
            if not all(self.objects.has(h) for h in hashes.values()):
                return False
            paths = {}
            for name, h in hashes.items():
                dst = os.path.join(self.run_dir, inst.step.name, slot(inst.index), name)
                self.objects.restore(h, dst)
                paths[name] = dst
        except (OSError, ValueError):
            return False
        inst.hashes, inst.artifacts = hashes, paths
        inst.values = json.loads(row["values_json"] or "{}")
        inst.metrics = json.loads(row["metrics_json"] or "{}")
        inst.attempts = 0
        return True
