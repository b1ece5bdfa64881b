"""``pipespec ir FILE``: the intermediate representation as canonical JSON, and its digest."""

from __future__ import annotations

import json
import sys

from .common import require_valid


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--digest", action="store_true", help="print only the IR digest")


def main(args) -> int:
    pipe = require_valid(args.file).pipeline
    if args.digest:
        print(pipe.digest())
    else:
        json.dump(json.loads(pipe.to_json()), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0
