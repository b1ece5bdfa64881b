"""The local runner: ``pipespec run`` on this machine, over the same IR the compilers render.

``scheduler`` (the DAG, worker threads, signals) calls ``pipespec.runtime`` for every step;
``cachekey`` says what a result depends on; ``objects`` is the content-addressed artifact
store; ``records`` the SQLite run records; ``progress`` what is printed; ``report`` the views
of ``pipespec runs`` and ``pipespec metrics``. Layout of the store: docs/runner.md.
"""

from .plan import PlanError
from .scheduler import Runner

__all__ = ["Runner", "PlanError"]
