"""``pipespec schema``: print the JSON Schema (for editors: VS Code, JetBrains)."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    pass


def main(args) -> int:
    from ..schema import schema_text

    sys.stdout.write(schema_text())
    return 0
