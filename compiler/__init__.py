"""pipespec: one declarative YAML spec for an ML pipeline, validated, run locally, compiled anywhere.

Stages (data flows one way): ``loader`` (YAML text -> positioned syntax tree) -> ``schema``
(shape diagnostics) -> ``spec`` (the typed raw model, with positions) -> ``analysis``
(expressions) -> ``graph`` (dependencies) -> ``checks`` (diagnostics) -> ``lower`` (IR, ``ir``)
-> a backend or the local runner.
This module stays import-light: the ``validate`` path runs in pre-commit hooks.
"""

__version__ = "0.1.0"
