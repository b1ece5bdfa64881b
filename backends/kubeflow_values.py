"""How KFP's pipeline spec spells pipespec's types and values: parameter types, artifact types,
numbers (every one a double), durations, CPU and memory."""

from __future__ import annotations

from pipespec import expr as E

_PARAM_TYPES = {"int": "NUMBER_INTEGER", "float": "NUMBER_DOUBLE", "string": "STRING", "path": "STRING",
                "bool": "BOOLEAN", "list": "LIST", "map": "STRUCT"}
_ARTIFACT_TITLES = {"dataset": "system.Dataset", "model": "system.Model", "metrics": "system.Metrics",
                    "file": "system.Artifact", "dir": "system.Artifact"}


def param_type(t: E.Type | str) -> str:
    kind = t if isinstance(t, str) else t.kind
    return _PARAM_TYPES.get(kind, "STRING")


def artifact_spec(out_type: str, as_list: bool = False) -> dict:
    spec = {"artifactType": {"schemaTitle": _ARTIFACT_TITLES[out_type], "schemaVersion": "0.0.1"}}
    if as_list:
        spec["isArtifactList"] = True
    return spec


def kfp_number(v):
    """Defaults as the SDK writes them: every number a double (protobuf Value)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [kfp_number(x) for x in v]
    if isinstance(v, dict):
        return {k: kfp_number(x) for k, x in v.items()}
    return v


def duration(seconds: float) -> str:
    """A protobuf Duration in JSON form: '30s', '0.5s' (never exponent notation)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def cpu_text(cores: float) -> str:
    return f"{int(cores)}" if float(cores).is_integer() else f"{round(cores * 1000)}m"


def memory_text(n: int) -> str:
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)
