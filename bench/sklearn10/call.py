"""``python call.py MODULE:FUNCTION key=value ...``: how dvc and snakemake run the bench's
step functions (bench case 8): import the module, call the function with the keywords (digits
become ints), as pipespec's call: bootstrap does."""

import importlib
import os
import sys

sys.path[0] = os.getcwd()
mod, _, fn = sys.argv[1].partition(":")
kwargs = {}
for arg in sys.argv[2:]:
    k, _, v = arg.partition("=")
    kwargs[k] = int(v) if v.isdigit() else v
getattr(importlib.import_module(mod), fn)(**kwargs)
