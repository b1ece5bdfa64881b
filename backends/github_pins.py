"""The one table of GitHub actions a compiled workflow may use: each pinned by full commit SHA,
with its release tag for the ``# vX.Y.Z`` comment and the ``with:`` inputs it accepts.

actionlint stops checking an action's inputs once it is pinned by SHA, so ``action_step``
checks the inputs we emit against ``inputs`` here instead. ``annotate`` adds the version
comments to serialised YAML; it only touches lines that are exactly ``uses: <pinned ref>``.

Sources: /work/shared/design/github-action-pins.md (checkout, upload-artifact, download-artifact:
resolved from the actions' own tags on 2026-11-26). setup-python v6.2.0 was resolved from
several independent public pin tables that agree (a309ff8b..., released 2026-01-22); re-verify
with ``git ls-remote https://github.com/actions/setup-python refs/tags/v6.2.0`` when bumping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    action: str
    sha: str
    version: str
    runtime: str
    inputs: frozenset[str]

    @property
    def ref(self) -> str:
        return f"{self.action}@{self.sha}"


PINS: dict[str, Pin] = {p.action: p for p in (
    Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1", "node24",
        frozenset({"repository", "ref", "token", "ssh-key", "persist-credentials", "path", "clean",
                   "fetch-depth", "fetch-tags", "lfs", "submodules", "sparse-checkout"})),
    Pin("actions/setup-python", "a309ff8b426b58ec0e2a45f0f869d46889d02405", "v6.2.0", "node24",
        frozenset({"python-version", "python-version-file", "cache", "architecture",
                   "check-latest", "token", "cache-dependency-path", "update-environment",
                   "allow-prereleases", "freethreaded", "pip-version", "pip-install"})),
    Pin("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0", "node24",
        frozenset({"name", "path", "if-no-files-found", "retention-days", "compression-level",
                   "overwrite", "include-hidden-files"})),
    Pin("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1", "node24",
        frozenset({"name", "artifact-ids", "path", "pattern", "merge-multiple", "github-token",
                   "repository", "run-id"})),
)}

_BY_REF = {p.ref: p for p in PINS.values()}
_USES_LINE = re.compile(r"^(\s*(?:- )?uses: )(\S+)$")


def action_step(action: str, with_: dict, name: str | None = None) -> dict:
    """A workflow step that uses ``action`` at its pinned SHA. Raises KeyError for an input
    the action does not declare (a bug in the backend, not in the user's spec)."""
    pin = PINS[action]
    unknown = sorted(set(with_) - pin.inputs)
    if unknown:
        raise KeyError(f"{action} {pin.version} has no input(s) {', '.join(unknown)}")
    step: dict = {}
    if name:
        step["name"] = name
    step["uses"] = pin.ref
    if with_:
        step["with"] = dict(with_)
    return step


def annotate(text: str) -> str:
    """Append ``# <version>`` to every ``uses:`` line that names a pinned ref."""
    out = []
    for line in text.split("\n"):
        m = _USES_LINE.match(line)
        if m and m.group(2) in _BY_REF:
            line = f"{line} # {_BY_REF[m.group(2)].version}"
        out.append(line)
    return "\n".join(out)
