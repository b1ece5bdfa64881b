"""Paths that leave the project: a ``deps:`` entry or a ``targets.*.output`` that is absolute
or climbs out of the project with ``..``.

Both are written relative to the spec's folder. The project is the git repository holding the
spec (``files.project_root``), else the spec's folder: ``../src/model.py`` from a spec in
``pipelines/`` and ``../../.github/workflows/x.yml`` stay inside it, ``/etc/shadow``, ``/**``
(the whole filesystem) and ``../../../../.bashrc`` do not. A dep outside it would key the cache
on whatever files the running machine has, and hash them into the run records; an output
outside it lets a spec make ``compile --all`` (a pre-commit hook) overwrite any file its user
can. The runner checks deps again at run time, where links are resolved (``runner/cachekey.py``).
"""

from __future__ import annotations

import os

from ..files import is_inside, project_root
from ..spec import as_map, map_items
from ..syntax import ScalarNode, SeqNode

PROJECT = "the project (the git repository holding the spec, else the spec's folder)"


def check(ctx) -> None:
    d = ctx.diags
    f = ctx.raw.file
    base = os.path.dirname(os.path.abspath(f)) if not f.startswith("<") else os.getcwd()
    root = None

    def escapes(p: str) -> bool:
        nonlocal root
        root = root or project_root(base)
        return not is_inside(os.path.normpath(os.path.join(base, p)), root)

    for st in ctx.raw.all_steps:
        deps = st.get("deps")
        for item in deps.items if isinstance(deps, SeqNode) else ():
            if not (isinstance(item, ScalarNode) and isinstance(item.value, str)) or not item.value:
                continue
            p = item.value
            if p.startswith("/"):
                d.add("E407", f"deps: '{p}' of step '{st.name}' is an absolute path; deps are files "
                              "of the project, named relative to the spec's folder", item.span,
                      help="copy the file into the project and name it relative to the spec's folder")
            elif ".." in p and escapes(p):
                d.add("E408", f"deps: '{p}' of step '{st.name}' leaves {PROJECT}", item.span,
                      help="deps are files of the project; move the file into it")
    for name, conf in map_items(ctx.raw.root.get("targets")):
        out = as_map(conf).get("output") if as_map(conf) else None
        if isinstance(out, ScalarNode) and isinstance(out.value, str) and out.value:
            p = out.value
            if p.startswith("/") or ".." in p and escapes(p):
                how = "is an absolute path" if p.startswith("/") else f"leaves {PROJECT}"
                d.add("E409", f"targets.{name.value}.output: '{p}' {how}", out.span,
                      help="name a file of the project relative to the spec's folder, e.g. dags/pipeline.py "
                           "(pipespec compile -o PATH writes wherever you ask)")
