"""Durations and resource quantities, as written in specs, to seconds, cores and bytes."""

from __future__ import annotations

import re

_DUR = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_MEM_UNITS = {None: 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def seconds(v) -> float:
    """``90`` -> 90.0; ``'1h30m'`` -> 5400.0. Raises ValueError on anything else."""
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, (int, float)):
        return float(v)
    m = _DUR.match(str(v))
    if not m or not any(m.groups()):
        raise ValueError(v)
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return float(((d * 24 + h) * 60 + mi) * 60 + s)


def cores(v) -> float:
    """``2`` -> 2.0; ``'500m'`` -> 0.5."""
    if isinstance(v, str) and v.endswith("m"):
        return int(v[:-1]) / 1000
    return float(v)


def memory_bytes(v) -> int:
    """``'4Gi'`` -> 4294967296; ``1000`` -> 1000."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    m = _MEM.match(str(v))
    if not m:
        raise ValueError(v)
    return int(float(m.group(1)) * _MEM_UNITS[m.group(2)])


def format_duration(s: float) -> str:
    """5400.0 -> '1h30m' (for messages and targets that want text)."""
    s = int(s)
    out = ""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            out += f"{s // n}{unit}"
            s %= n
    return out + (f"{s}s" if s or not out else "")
