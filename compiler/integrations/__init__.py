"""What a run tells the systems around it: MLflow tracking and registry (``tracking``, for the
local runner and ``pipespec exec`` on workers alike; imports MLflow only when a spec tracks),
alerts (``alerts``), Prometheus metrics (``prometheus``) and ECS JSON logs (``logs``, for
``pipespec run`` and ``pipespec exec``); ``hooks`` is the one place the local runner calls
them, after a run. Never imported by ``validate`` or ``compile``."""
