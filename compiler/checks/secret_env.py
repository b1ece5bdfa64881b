"""Two secrets read from one environment variable (E410). A secret's ``env:`` name (default: its
name upper-cased) is where every target puts its value for the step executor -- the local
runner's environment, the GitHub job's ``env:``, the Airflow worker's, the pod's -- so two
secrets with one name would silently get one value between them."""

from __future__ import annotations

from ..spec import as_str


def check(ctx) -> None:
    first: dict[str, tuple[str, bool]] = {}     # env name -> (first secret, by default)
    for name, (key, node) in ctx.raw.secrets.items():
        if not isinstance(name, str):
            continue
        env_node = node.get("env")
        env = as_str(env_node)
        if env_node is not None and env is None:
            continue          # not a string: the schema reported it
        var = env or name.upper()
        other, other_default = first.setdefault(var, (name, env_node is None))
        if other == name:
            continue
        how = " (by default: its name upper-cased)" if env_node is None else ""
        other_how = " (by default)" if other_default else ""
        ctx.diags.add("E410", f"secret '{name}' is read from the environment variable {var}{how}, as secret "
                      f"'{other}' is{other_how}: every target would give both one value",
                      (env_node if env_node is not None else key).span,
                      help="give each secret its own env: name")
