"""The process that runs one ``call:`` step: ``python bootstrap.py JOB.json``.

Standard library only and run by file path, so a call: step costs one interpreter start and
the user's own imports, nothing of pipespec. The job file says where the spec's folder is,
which ``module:function`` to call, the keyword arguments, and where to write the result.
The executor (``pipespec.runtime.execute``) writes the job, and checks the result.

Exit status: 0 when the function returned; 1 when it raised (traceback on stderr);
3 when the module or function cannot be found or the result cannot be saved as JSON.
"""

import json
import os
import sys
import traceback


def _plain(v, where):
    """Numpy scalars/arrays and paths become JSON; anything else unknown is an error."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x, where) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x, where) for k, x in v.items()}
    for conv in ("item", "tolist"):  # numpy scalars, numpy arrays
        f = getattr(v, conv, None)
        if callable(f):
            try:
                return _plain(f(), where)
            except (TypeError, ValueError):
                pass
    raise TypeError(f"{where} is a {type(v).__module__}.{type(v).__qualname__}, which is not JSON")


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    sys.path[0] = job["spec_dir"]  # not this file's folder: user modules must not meet ours
    name = f"{job['module']}:{job['function']}"
    try:
        import importlib

        module = importlib.import_module(job["module"])
    except Exception:
        if sys.exc_info()[0] is ModuleNotFoundError and getattr(sys.exc_info()[1], "name", "") == job["module"]:
            print(f"pipespec: call: {name}: no module '{job['module']}' in {job['spec_dir']}", file=sys.stderr)
            return 3
        traceback.print_exc()
        print(f"pipespec: call: {name}: importing the module failed", file=sys.stderr)
        return 1
    fn = getattr(module, job["function"], None)
    if not callable(fn):
        print(f"pipespec: call: {name}: module '{job['module']}' ({getattr(module, '__file__', '?')}) "
              f"has no function '{job['function']}'", file=sys.stderr)
        return 3
    try:
        result = fn(**job["kwargs"])
    except Exception:
        traceback.print_exc()
        print(f"pipespec: call: {name} raised (traceback above)", file=sys.stderr)
        return 1
    if result is not None and not isinstance(result, dict):
        print(f"pipespec: call: {name} returned a {type(result).__name__}; a call: step returns None "
              "or a dict of its value outputs", file=sys.stderr)
        return 3
    try:
        data = {k: _plain(v, f"returned output '{k}'") for k, v in (result or {}).items()}
    except TypeError as e:
        print(f"pipespec: call: {name}: {e}", file=sys.stderr)
        return 3
    _write_atomic(job["result"], json.dumps(data))
    return 0


def _write_atomic(path, text):
    """As ``pipespec.files.write_atomic`` (this file imports nothing of pipespec): a fresh
    sibling with an unpredictable name, opened O_EXCL|O_NOFOLLOW, then renamed over ``path``."""
    import secrets

    tmp = f"{path}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
