"""The built-in opt-in rules: examples of the policy API, on only when ``[policies] builtin``
names them (docs/policies.md). Each reads the typed raw model, as any policy does."""

from __future__ import annotations

from ..syntax import MapNode, ScalarNode, SeqNode
from . import _declare


@_declare("E832", "step-without-timeout", "error", "every step has a timeout")
def step_without_timeout(ctx) -> None:
    """A step with no ``timeout:`` of its own nor from ``defaults:``: a hung step holds its
    worker until the target's own limit, if there is one."""
    if ctx.spec.defaults.timeout is not None:
        return
    for step in ctx.spec.all_steps:
        if step.settings.timeout is None:
            ctx.report(step.key, f"step '{step.name}' has no timeout",
                       help="add timeout: (e.g. timeout: 1h) to the step, or to defaults: for every step")


def _images(spec):
    """(node, what) for every image: the spec writes: the defaults', each step's, each target's."""
    if isinstance(spec.defaults.image, ScalarNode):
        yield spec.defaults.image, "defaults: image"
    for step in spec.all_steps:
        if isinstance(step.settings.image, ScalarNode):
            yield step.settings.image, f"the image of step '{step.name}'"
    if isinstance(spec.targets, MapNode):
        for k, v in spec.targets.items:
            img = v.get("image") if isinstance(v, MapNode) else None
            if isinstance(img, ScalarNode):
                yield img, f"targets.{k.value}.image"


def unpinned(ref: str) -> str | None:
    """Why the image reference ``ref`` is not pinned ("no tag", "the :latest tag"), or None.
    A digest (``@sha256:...``) pins it; a registry port (``host:5000/x``) is not a tag."""
    if "@" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (it means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return "has the :latest tag"
    return None


@_declare("E833", "unpinned-image", "error", "no untagged or :latest image")
def unpinned_image(ctx) -> None:
    """An image that is untagged or ``:latest`` runs whatever was pushed last: two runs of one
    spec may run different code. Option ``digest = true`` asks for ``@sha256:`` on every image."""
    digest = ctx.options.get("digest", False)
    for node, what in _images(ctx.spec):
        ref = node.value if isinstance(node.value, str) else str(node.value)
        why = "has no digest (@sha256:...)" if digest and "@" not in ref else unpinned(ref)
        if why:
            ctx.report(node, f"{what} '{ref}' {why}",
                       help="name a fixed version (python:3.12-slim) or a digest (python@sha256:...)")


@_declare("E834", "missing-required-key", "error", "keys the repository requires are set")
def missing_required_key(ctx) -> None:
    """Each dotted key of option ``keys`` (default ``["targets.airflow.owner"]``) is set in the
    spec and not empty. Read from the raw mapping, so any key the schema accepts can be asked
    for (``description``, ``targets.airflow.tags``)."""
    keys = ctx.options.get("keys", ["targets.airflow.owner"])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError("option keys is a list of dotted keys such as \"targets.airflow.owner\"")
    root = ctx.spec.root
    top = root.key_node("name") or (root.items[0][0] if root.items else root)   # a top-level key: at name:
    for dotted in keys:
        node, at = root, top
        missing = False
        for part in dotted.split("."):
            child = node.get(part) if isinstance(node, MapNode) else None
            if child is None:
                missing = True
                break
            at, node = node.key_node(part), child
        if missing or _empty(node):
            ctx.report(at, f"the spec does not set {dotted}, which this repository requires",
                       help=f"set {dotted} (required by {ctx.config})")


def _empty(node) -> bool:
    if isinstance(node, ScalarNode):
        return node.value is None or node.value == ""
    return isinstance(node, (MapNode, SeqNode)) and not node.items


RULES = [step_without_timeout, unpinned_image, missing_required_key]
