"""Target-tool test tooling: cached envs with the real Airflow / kfp / GitHub tools + verifiers.

See README.md. Pytest helpers live in `verify` (airflow_check, airflow_run, kfp_check,
kfp_local_run, github_check, act_run).
"""
