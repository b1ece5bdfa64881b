"""What a run tells the systems around it: alerts (``alerts``), Prometheus metrics
(``prometheus``) and ECS JSON logs (``logs``); ``hooks`` is the one place the local runner
calls them, after a run. Standard library only; never imported by ``validate`` or ``compile``."""
