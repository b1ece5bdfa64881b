"""The ``pipespec`` command line. Sub-commands live in ``pipespec.commands.<name>`` and are
imported only when used, so ``pipespec validate`` never pays for the runner or a backend.

Exit codes: 0 success, 1 the spec (or the run) failed, 2 usage or I/O error.
"""

from __future__ import annotations

import importlib
import os
import sys

from . import __version__

# name -> (module under pipespec.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check specs and report every problem (exit 1 when invalid)"),
    "check-repo": ("check_repo", "check a whole repository for CI: every spec, names and outputs across specs, "
                                 "stale and orphaned compiled files"),
    "schema": ("schema", "print the JSON Schema of the spec language"),
    "graph": ("graph", "print the step graph as Mermaid or Graphviz dot"),
    "ir": ("ir", "print the intermediate representation as JSON"),
    "run": ("run", "run a pipeline on this machine: parallel, cached, resumable"),
    "exec": ("exec_step", "run ONE step of a pipeline (what every backend's workers call)"),
    "observe": ("observe", "a compiled target's run start and end: MLflow parent run, metrics, alerts"),
    "runs": ("runs", "list recorded runs, or show one: pipespec runs show RUN"),
    "resume": ("resume", "re-run the failed and unfinished steps of a run"),
    "metrics": ("metrics", "compare metrics across runs as a table"),
    "gc": ("gc", "check the run store's integrity and remove what nothing references"),
    "compile": ("compile", "compile a spec for a target: airflow, kubeflow, github"),
    "image": ("image", "write the Dockerfile of a spec's step image and build it: pipespec, kfp, requirements, code"),
    "targets": ("targets", "list the installed backends and what each supports"),
    "upgrade": ("upgrade", "rewrite specs for the newest language version, keeping comments and layout"),
    "import": ("import_spec", "write a pipespec spec from a DVC pipeline (dvc.yaml)"),
}


class UsageError(Exception):
    """Bad arguments or unreadable input: reported on stderr, exit 2."""


class Failed(Exception):
    """The spec or the work failed and has already been reported: exit with ``code``."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


def build_parser():
    import argparse

    p = argparse.ArgumentParser(prog="pipespec", description="Write an ML pipeline once, run it anywhere.")
    p.add_argument("--version", action="version", version=f"pipespec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_command=name)
        _module(name).add_arguments(sp)
    return p


def _module(name: str):
    return importlib.import_module(f"pipespec.commands.{COMMANDS[name][0]}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from .regexes import warm

    warm()                        # compiled regexes kept from an earlier process, like bytecode
    args = None
    if argv and argv[0] in COMMANDS:    # a plain command line: no argparse (pipespec.fastargs)
        from .fastargs import parse

        args = parse(argv[0], _module(argv[0]).add_arguments, argv[1:])
    if args is None:
        # build only the parser of the command asked for: the others may import more
        parser = _parser_for(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
            return int(e.code or 0)
        if not getattr(args, "_command", None):
            parser.print_help(sys.stderr)
            return 2
    try:
        return int(_module(args._command).main(args) or 0)
    except UsageError as e:
        print(f"pipespec {args._command}: error: {e}", file=sys.stderr)
        return 2
    except Failed as e:
        return e.code
    except KeyboardInterrupt:
        print("pipespec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug of ours: say so in one line (PIPESPEC_DEBUG=1 for the traceback)
        if os.environ.get("PIPESPEC_DEBUG"):
            raise
        print(f"pipespec {args._command}: internal error: {type(e).__name__}: {e}\n"
              "  this is a bug in pipespec; rerun with PIPESPEC_DEBUG=1 for the traceback and report it",
              file=sys.stderr)
        return 70


def _parser_for(argv: list[str]):
    import argparse

    cmd = next((a for a in argv if not a.startswith("-")), None)
    if cmd in COMMANDS:
        p = argparse.ArgumentParser(prog="pipespec", description="Write an ML pipeline once, run it anywhere.")
        p.add_argument("--version", action="version", version=f"pipespec {__version__}")
        sub = p.add_subparsers(dest="command", metavar="COMMAND")
        sp = sub.add_parser(cmd, help=COMMANDS[cmd][1], description=COMMANDS[cmd][1])
        sp.set_defaults(_command=cmd)
        _module(cmd).add_arguments(sp)
        return p
    return build_parser()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
