"""``pipespec import dvc.yaml``: a DVC pipeline written as a pipespec spec.

DVC stages become steps, and what DVC keeps in the workspace becomes what pipespec passes
between steps, so the imported spec runs on the local runner and compiles to Airflow, Kubeflow
and GitHub Actions:

- ``cmd`` (a string or a list, run in ``wdir``) -> ``run:`` (``cd WDIR && ...``);
- ``outs`` and ``metrics`` -> artifact outputs (``dir``/``file``, ``metrics`` for a flat JSON
  metrics file). Where the command names the path as a word, the word becomes
  ``${{ outputs.NAME }}``; otherwise the command runs as written and the file is copied to the
  output after it (``cp``), so a script with a hard-coded path still works;
- ``deps`` that another stage produces -> that stage's output: the word in the command becomes
  ``${{ steps.S.outputs.NAME }}``, or the artifact is copied to the path the script reads before
  it runs; other ``deps`` -> ``deps:`` (they key the cache, as in DVC);
- ``${...}`` in a command -> an expression: ``${item}``/``${item.x}``/``${key}`` of a
  ``foreach:``/``matrix:`` -> ``${{ item }}``, a params file or ``vars:`` value -> a typed param
  (``${train.seed}`` -> ``${{ params.train_seed }}``, typed from its value); elsewhere (paths,
  lists) ``${...}`` is resolved when importing;
- ``params:`` read by the script from the params file -> that file as a ``deps:`` entry (changing
  it re-runs the step, as in DVC), with a note: pipespec cannot hand a value to a script that
  reads the file itself;
- ``foreach:`` (a list, a mapping, or ``${...}``) and ``matrix:`` -> ``foreach:`` over the items
  (a mapping's entries as ``{key, value}``; a matrix as one mapping per combination);
- ``always_changed: true`` -> ``cache: false``; ``desc`` -> ``description``.

What has no equivalent (``plots``, ``persist``, ``frozen``, ``meta``, a dependency on one
instance of a ``foreach`` stage, ...) is named in a note with the stage and its position, never
dropped silently. The result is checked by pipespec's own front end before it is written.
"""

from __future__ import annotations

import itertools
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from .span import Span

_NAME = re.compile(r"[^a-z0-9]+")
_TEMPLATE = re.compile(r"\$\{\s*([A-Za-z_][\w.\[\]-]*)\s*\}")
_METRIC_EXT = (".json",)


class ImportError_(Exception):
    """The DVC file cannot be imported at all (not a mapping, no stages): a diagnostic."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.span = span


@dataclass
class Note:
    message: str
    span: Span


@dataclass
class _Out:
    stage: str                 # the step
    path: str                  # normalized, relative to the dvc.yaml folder
    written: str               # as the stage wrote it (relative to its wdir)
    name: str                  # the output's name
    type: str
    per_item: bool = False     # its path holds ${item}: one file per instance


@dataclass
class _Stage:
    name: str                  # the step name
    dvc_name: str
    node: Any                  # the positioned mapping
    body: dict
    wdir: str
    items: list | None = None  # foreach items (resolved), or None
    item_kind: str = ""        # "list" | "map" | "matrix"
    foreach_param: str | None = None
    outs: list[_Out] = field(default_factory=list)


def step_name(text: str) -> str:
    n = _NAME.sub("_", text.lower()).strip("_") or "stage"
    if not n[0].isalpha():
        n = "s_" + n
    return n[:40].rstrip("_")


def param_name(dotted: str) -> str:
    return step_name(dotted.replace(".", "_"))


def pipeline_name(text: str) -> str:
    n = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "imported"
    return n if n[0].isalpha() else "p-" + n


def _type_of(v: Any) -> str:
    """A param's type from its value in params.yaml, in the language's words (``kind_of``);
    anything else YAML can give (null, a date) is read as a string."""
    from .expr.values import kind_of

    kind = kind_of(v)
    return kind if kind in ("bool", "int", "float", "list", "map", "string") else "string"


def _lookup(ctx: dict, dotted: str) -> tuple[bool, Any]:
    cur: Any = ctx
    for part in re.split(r"\.|\[(\d+)\]", dotted):
        if part is None or part == "":
            continue
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def _words_at(cmd: str, word: str) -> list[int]:
    """Where ``word`` stands as a whole shell word (or the whole of one part between quotes),
    outside single quotes."""
    out = []
    for m in re.finditer(r"(?<![\w./@%+=:,-])" + re.escape(word) + r"(?![\w./@%+=:,-])", cmd):
        before = cmd[:m.start()]
        if before.count("'") % 2 == 0:
            out.append(m.start())
    return out


def _replace_word(cmd: str, word: str, expr: str) -> str | None:
    at = _words_at(cmd, word)
    if not at:
        return None
    for pos in reversed(at):
        cmd = cmd[:pos] + expr + cmd[pos + len(word):]
    return cmd


class Importer:
    def __init__(self, path: str, text: str, params_path: str | None = None, name: str | None = None) -> None:
        self.path = path
        self.text = text
        self.base = os.path.dirname(os.path.abspath(path))
        self.params_path = params_path
        self.name = name
        self.notes: list[Note] = []
        self.params: dict[str, tuple[str, Any]] = {}     # pipespec name -> (type, default)
        self.ctx: dict = {}                              # DVC's templating context
        self.params_file_rel: str | None = None

    # -- positions ----------------------------------------------------------------------------
    def note(self, message: str, node) -> None:
        self.notes.append(Note(message, node.span if node is not None else Span(self.path, 1, 1, 1, 2)))

    # -- the whole file -----------------------------------------------------------------------
    def run(self) -> dict:
        from .loader import load
        from .syntax import MapNode

        tree, diags = load(self.text, self.path)
        if tree is None:
            raise ImportError_(diags[0].message if diags else "not YAML", diags[0].span if diags else Span(self.path, 1, 1, 1, 2))
        if not isinstance(tree, MapNode) or not isinstance(tree.get("stages"), MapNode):
            raise ImportError_("a dvc.yaml holds a 'stages:' mapping; this file has none", tree.span)
        self._context(tree)
        stages = self._stages(tree.get("stages"))
        for key, _ in tree.items:
            if key.value not in ("stages", "vars", "params", "metrics", "plots", "artifacts"):
                self.note(f"top-level '{key.value}:' is not imported", key)
        for key in ("metrics", "plots", "artifacts"):
            if tree.get(key) is not None:
                self.note(f"top-level '{key}:' is not imported (pipespec records metrics per step output)",
                          tree.key_node(key))
        outs = {o.path: o for st in stages for o in st.outs}
        steps = {st.name: self._step(st, outs) for st in stages}
        spec: dict[str, Any] = {"pipespec": 1, "name": pipeline_name(self.name or os.path.basename(self.base))}
        spec["description"] = f"Imported from {os.path.basename(self.path)} by pipespec import."
        if self.params:
            spec["params"] = {n: {"type": t, "default": v} for n, (t, v) in sorted(self.params.items())}
        spec["steps"] = steps
        return spec

    def _context(self, tree) -> None:
        """params.yaml (DVC loads it by default) and the file's ``vars:``, merged in order."""
        import yaml

        from .syntax import MapNode, ScalarNode, SeqNode

        pfile = self.params_path or os.path.join(self.base, "params.yaml")
        if os.path.isfile(pfile):
            with open(pfile, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
            if isinstance(data, dict):
                self.ctx.update(data)
                self.params_file_rel = posixpath.normpath(os.path.relpath(os.path.abspath(pfile), self.base))
        elif self.params_path:
            raise ImportError_(f"params file {self.params_path} does not exist", Span(self.path, 1, 1, 1, 2))
        v = tree.get("vars")
        for item in (v.items if isinstance(v, SeqNode) else ()):
            if isinstance(item, MapNode):
                self.ctx.update(item.to_python())
            elif isinstance(item, ScalarNode) and isinstance(item.value, str):
                fname, _, keys = item.value.partition(":")
                fpath = os.path.join(self.base, fname)
                if not os.path.isfile(fpath):
                    self.note(f"vars file {fname} does not exist: its values are not available", item)
                    continue
                with open(fpath, encoding="utf-8") as f:
                    data = yaml.safe_load(f) or {}
                if keys and isinstance(data, dict):
                    data = {k: data[k] for k in keys.split(",") if k in data}
                if isinstance(data, dict):
                    self.ctx.update(data)

    # -- stages -------------------------------------------------------------------------------
    def _stages(self, node) -> list[_Stage]:
        from .syntax import MapNode

        out: list[_Stage] = []
        taken: set[str] = set()
        for key, val in node.items:
            dvc_name = str(key.value)
            if not isinstance(val, MapNode):
                self.note(f"stage '{dvc_name}' is not a mapping: not imported", key)
                continue
            name = step_name(dvc_name)
            base, i = name, 2
            while name in taken:
                name, i = f"{base[:37]}_{i}", i + 1
            taken.add(name)
            if name != dvc_name:
                self.note(f"stage '{dvc_name}' is step '{name}' (step names are lower-case words joined by _)", key)
            st = _Stage(name, dvc_name, val, {}, ".")
            if val.get("foreach") is not None:
                st.body = (val.get("do").to_python() if isinstance(val.get("do"), MapNode) else {})
                self._foreach(st, val.get("foreach"))
            elif val.get("matrix") is not None:
                st.body = {k: v for k, v in val.to_python().items() if k != "matrix"}
                self._matrix(st, val.get("matrix"))
            else:
                st.body = val.to_python()
            st.wdir = posixpath.normpath(str(st.body.get("wdir") or "."))
            self._outs(st)
            out.append(st)
        return out

    def _foreach(self, st: _Stage, node) -> None:
        from .syntax import ScalarNode

        raw = node.to_python()
        if isinstance(node, ScalarNode) and isinstance(raw, str):
            m = _TEMPLATE.fullmatch(raw.strip())
            found, raw = _lookup(self.ctx, m.group(1)) if m else (False, None)
            if not found:
                self.note(f"stage '{st.dvc_name}': foreach: {node.value!r} names no value: not expanded", node)
                raw = []
            elif isinstance(raw, list) and m:
                st.foreach_param = self._param(m.group(1), raw)
        if isinstance(raw, dict):
            st.items = [{"key": k, "value": v} for k, v in raw.items()]
            st.item_kind = "map"
            st.foreach_param = None
        else:
            st.items = list(raw) if isinstance(raw, list) else []
            st.item_kind = "list"

    def _matrix(self, st: _Stage, node) -> None:
        raw = node.to_python()
        axes: dict[str, list] = {}
        for k, v in (raw.items() if isinstance(raw, dict) else ()):
            if isinstance(v, str):
                m = _TEMPLATE.fullmatch(v.strip())
                found, v = _lookup(self.ctx, m.group(1)) if m else (False, None)
                if not found or not isinstance(v, list):
                    self.note(f"stage '{st.dvc_name}': matrix axis {k!r} names no list: not expanded", node)
                    v = []
            axes[str(k)] = list(v) if isinstance(v, list) else [v]
        st.items = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
        st.item_kind = "matrix"

    def _resolve(self, text: str, st: _Stage, item: Any = None, where: str = "") -> str:
        """``${...}`` resolved to text (paths and other non-command fields)."""
        def sub(m: re.Match) -> str:
            ref = m.group(1)
            if ref == "item" or ref.startswith("item.") or ref == "key":
                if st.items is None:
                    return m.group(0)
                value = item
                if st.item_kind == "map":
                    value = item["key"] if ref == "key" else item["value"]
                    ref = "item" + ref[4:] if ref.startswith("item") else "item"
                found, v = _lookup({"item": value}, ref)
            else:
                found, v = _lookup(self.ctx, ref)
            if not found:
                self.note(f"stage '{st.dvc_name}': ${{{m.group(1)}}} in {where} names no value: kept as written", st.node)
                return m.group(0)
            return v if isinstance(v, str) else json.dumps(v)
        return _TEMPLATE.sub(sub, text)

    def _param(self, dotted: str, value: Any) -> str:
        name = param_name(dotted)
        self.params.setdefault(name, (_type_of(value), value))
        return name

    def _outs(self, st: _Stage) -> None:
        taken: set[str] = set()
        entries: list[tuple[str, dict, str]] = []
        for key, kind in (("outs", "out"), ("metrics", "metrics")):
            for e in st.body.get(key) or []:
                path, opts = (next(iter(e.items())) if isinstance(e, dict) else (e, {}))
                entries.append((str(path), opts if isinstance(opts, dict) else {}, kind))
        if st.body.get("plots"):
            self.note(f"stage '{st.dvc_name}': plots: are not imported (render them from the step's outputs)", st.node)
        for path, opts, kind in entries:
            per_item = bool(st.items is not None and re.search(r"\$\{\s*(item|key)\b", path))
            sample = self._resolve(path, st, st.items[0] if per_item and st.items else None, "outs")
            norm = posixpath.normpath(posixpath.join(st.wdir, sample))
            if norm.startswith("../") or norm.startswith("/"):
                self.note(f"stage '{st.dvc_name}': output {path} is outside the project: not imported", st.node)
                continue
            if opts.get("persist"):
                self.note(f"stage '{st.dvc_name}': persist: true on {path} has no equivalent: pipespec starts "
                          "every output afresh", st.node)
            name = step_name(posixpath.splitext(posixpath.basename(_TEMPLATE.sub("", path)).strip("_-.") or "out")[0])
            base, i = name, 2
            while name in taken:
                name, i = f"{base}_{i}", i + 1
            taken.add(name)
            abspath = os.path.join(self.base, norm)
            if kind == "metrics" and norm.endswith(_METRIC_EXT) and self._flat_metrics(abspath):
                typ = "metrics"
            elif kind == "metrics":
                typ = "file"
                self.note(f"stage '{st.dvc_name}': metrics {path} is imported as a file output: a pipespec metrics "
                          "output is one flat JSON object of numbers", st.node)
            elif os.path.isdir(abspath) or (not os.path.exists(abspath) and not posixpath.splitext(norm)[1]):
                typ = "dir"
            else:
                typ = "file"
            st.outs.append(_Out(st.name, norm if not per_item else posixpath.normpath(posixpath.join(st.wdir, path)),
                                path, name, typ, per_item))

    @staticmethod
    def _flat_metrics(path: str) -> bool:
        if not os.path.isfile(path):
            return True               # not made yet: DVC's usual metrics file is flat JSON
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in data.values())

    # -- one step ------------------------------------------------------------------------------
    def _raw_cmd(self, st: _Stage) -> str:
        cmd = st.body.get("cmd")
        if isinstance(cmd, list):
            cmd = " && ".join(str(c) for c in cmd)
        if not isinstance(cmd, str) or not cmd.strip():
            self.note(f"stage '{st.dvc_name}' has no cmd: imported as a step that does nothing", st.node)
            return "true"
        return cmd.strip()

    def _tx(self, st: _Stage, text: str) -> str:
        """``${...}`` in command text -> pipespec expressions (items, params)."""
        def sub(m: re.Match) -> str:
            ref = m.group(1)
            if ref == "item" or ref.startswith("item.") or ref == "key":
                if st.items is None:
                    self.note(f"stage '{st.dvc_name}': ${{{ref}}} outside a foreach/matrix stage", st.node)
                    return m.group(0)
                if st.item_kind == "map":
                    return "${{ item.key }}" if ref == "key" else "${{ item.value" + ref[4:] + " }}"
                return "${{ " + ref + " }}"
            found, v = _lookup(self.ctx, ref)
            if not found:
                self.note(f"stage '{st.dvc_name}': ${{{ref}}} names no value in the params file or vars: kept as written",
                          st.node)
                return m.group(0)
            return "${{ params." + self._param(ref, v) + " }}"
        return _TEMPLATE.sub(sub, text)

    def _path_word(self, st: _Stage, written: str) -> str:
        """A path for a copy command: quoted for the shell; a path with ``${...}`` in double
        quotes, where pipespec's expressions may stand."""
        import shlex

        if "${" not in written:
            return shlex.quote(written)
        if any(c in _TEMPLATE.sub("", written) for c in '"$`\\'):
            self.note(f"stage '{st.dvc_name}': path {written} has shell characters: copy it by hand", st.node)
        return '"' + self._tx(st, written) + '"'

    def _step(self, st: _Stage, outs: dict[str, _Out]) -> dict:
        body = st.body
        cmd = self._raw_cmd(st)
        marks: dict[str, str] = {}

        def mark(expr: str) -> str:
            key = f"\x00{len(marks)}\x00"
            marks[key] = expr
            return key

        step: dict[str, Any] = {}
        if body.get("desc"):
            step["description"] = str(body["desc"])
        after: list[str] = []
        before: list[str] = []
        needs: list[str] = []
        deps: list[str] = []
        for o in st.outs:
            expr = "${{ outputs." + o.name + " }}"
            new = _replace_word(cmd, o.written, mark(expr))
            if new is not None:
                cmd = new
            else:
                src = self._path_word(st, o.written)
                after.append(f"cp -R {src}/. {expr}" if o.type == "dir" else f"cp {src} {expr}")
        for d in body.get("deps") or []:
            dep = self._resolve(str(d), st, None, "deps")
            norm = posixpath.normpath(posixpath.join(st.wdir, dep))
            o = outs.get(norm)
            if o is None or o.stage == st.name:
                inside = [x for x in outs.values() if x.stage != st.name
                          and (norm.startswith(x.path + "/") or x.path.startswith(norm + "/"))]
                per_item = [x for x in outs.values() if x.per_item and x.stage != st.name
                            and re.fullmatch(".+".join(map(re.escape, _TEMPLATE.sub("\x01", x.path).split("\x01"))), norm)]
                for x in inside + per_item:
                    if x.stage not in needs:
                        needs.append(x.stage)
                if inside or per_item:
                    self.note(f"stage '{st.dvc_name}': dep {dep} is part of (or holds) another stage's output: kept as "
                              "needs: and a file dep, which holds where the steps share a folder (the local runner)",
                              st.node)
                if norm.startswith("../") or norm.startswith("/"):
                    self.note(f"stage '{st.dvc_name}': dep {dep} is outside the project: not imported", st.node)
                    continue
                if o is None:
                    deps.append(norm)
                continue
            ref = "${{ steps." + o.stage + ".outputs." + o.name + " }}"
            new = _replace_word(cmd, str(d), mark(ref))
            if new is not None:
                cmd = new
            else:
                dst = self._path_word(st, dep)
                parent = posixpath.dirname(dep)
                mk = f"mkdir -p {self._path_word(st, parent)} && " if parent not in ("", ".") else ""
                before.append(f"{mk}rm -rf {dst} && cp -R {ref} {dst}" if o.type == "dir" else f"{mk}cp {ref} {dst}")
        cmd = self._tx(st, cmd)
        for key, expr in marks.items():
            cmd = cmd.replace(key, expr)
        pnames = self._params_read(st)
        if pnames and self.params_file_rel:
            deps.append(self.params_file_rel)
            self.note(f"stage '{st.dvc_name}' reads {', '.join(pnames)} from {self.params_file_rel} itself: the file is a "
                      "dep of the step (a change re-runs it), but pipespec cannot hand these values to the script; "
                      "write them into the command (${" + pnames[0] + "}) to make them params", st.node)
        if st.wdir != ".":
            import shlex

            # one shell: the copies in and out name paths as the stage wrote them (from wdir)
            before.insert(0, f"cd {shlex.quote(st.wdir)}")
        run = " && ".join([*before, cmd, *after])
        if st.items is not None:
            step["foreach"] = ("${{ params." + st.foreach_param + " }}") if st.foreach_param else st.items
        step["run"] = run
        if needs:
            step["needs"] = needs
        if st.outs:
            step["outputs"] = {o.name: o.type for o in st.outs}
        if deps:
            step["deps"] = sorted(set(deps))
        if body.get("always_changed"):
            step["cache"] = False
        if body.get("frozen"):
            self.note(f"stage '{st.dvc_name}' is frozen: pipespec has no frozen steps; it is imported as a normal step", st.node)
        if body.get("meta") is not None:
            self.note(f"stage '{st.dvc_name}': meta: is not imported", st.node)
        for k in body:
            if k not in ("cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "frozen", "always_changed",
                         "desc", "meta", "vars"):
                self.note(f"stage '{st.dvc_name}': '{k}:' is not imported", st.node)
        return step

    def _params_read(self, st: _Stage) -> list[str]:
        out = []
        for p in st.body.get("params") or []:
            if isinstance(p, dict):
                for f, keys in p.items():
                    self.note(f"stage '{st.dvc_name}': params from {f} are not imported; add {f} to deps:", st.node)
            else:
                if param_name(str(p)) not in self.params:
                    out.append(str(p))
        return out


def import_dvc(path: str, params_path: str | None = None, name: str | None = None) -> tuple[str, list[Note]]:
    """The spec's text and the notes about what changed in meaning or was left out."""
    import yaml

    with open(path, encoding="utf-8") as f:
        text = f.read()
    imp = Importer(path, text, params_path, name)
    spec = imp.run()
    head = ["# Imported from a DVC pipeline by `pipespec import`; review the notes below, then edit freely."]
    for n in imp.notes:
        # printable text only: a line break in a stage name or path cannot end the comment
        head.append(f"#  - line {n.span.line}: " + (n.message if n.message.isprintable() else json.dumps(n.message)))
    body = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=10**9, default_flow_style=False)
    return "\n".join(head) + "\n" + body, imp.notes
