"""The local runner: ``pipespec run`` on this machine, over the same IR the compilers render.

``scheduler`` walks the DAG (which step may start, what it reads, when the run is over);
``plan`` sets each step's mode from ``--only``/``--from``; ``reuse`` decides cache hits
(``cachekey`` says what a result depends on); ``attempts`` drives each running step's
attempt machine (``pipespec.runtime.attempt``) over ``runtime.processes`` and the helper
threads (``workers``); ``signals`` takes Ctrl-C; ``owner`` the run's lock and containment;
``objects`` is the content-addressed artifact store; ``records`` the SQLite run records;
``progress`` what is printed; ``report`` the views of ``pipespec runs`` and ``pipespec
metrics``. Layout of the store: docs/runner.md.
"""

from .plan import PlanError
from .scheduler import Runner

__all__ = ["Runner", "PlanError"]
