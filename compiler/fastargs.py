"""The plain command lines of ``pipespec``, parsed without argparse.

``pipespec validate`` runs in every pre-commit hook, and a cached ``pipespec run`` in every
edit-run loop; importing argparse (with gettext and shutil) and building its parser is a few
milliseconds of each. The options are still declared once, by each command's
``add_arguments(p)``: ``Table`` records those calls, and ``parse`` reads a command line with
them when it is one of the plain shapes below, giving exactly what argparse gives
(``tests/frontend/test_fastargs.py`` compares the two on generated command lines). Anything
else answers None, and argparse parses it, with its help, abbreviations and error messages:

* ``--name value``, ``--name=value``, ``-x value``, ``-xvalue``, flags ``-x``/``--name``,
  exact names only;
* the positionals in one run (``nargs`` None or ``"+"``), none starting with ``-``;
* a value of ``type`` int, float or str and within its ``choices``, not starting with ``-``.
"""

from __future__ import annotations

_SUPPORTED = {"action", "default", "metavar", "help", "choices", "type", "dest", "nargs"}


class Unsupported(Exception):
    """An ``add_argument`` this module does not read: that command goes to argparse."""


class _Option:
    __slots__ = ("names", "dest", "kind", "default", "choices", "type", "nargs")

    def __init__(self, names, kw) -> None:
        if set(kw) - _SUPPORTED:
            raise Unsupported(sorted(set(kw) - _SUPPORTED))
        self.names = names
        self.kind = kw.get("action", "store")
        if self.kind not in ("store", "store_true", "append"):
            raise Unsupported(self.kind)
        self.type = kw.get("type", str)
        if self.type not in (str, int, float):
            raise Unsupported(self.type)
        self.choices = kw.get("choices")
        self.nargs = kw.get("nargs")
        positional = not names[0].startswith("-")
        if self.nargs not in ((None, "+") if positional else (None,)):
            raise Unsupported(self.nargs)
        if positional:
            self.dest = kw.get("dest", names[0])
        else:
            long = next((n for n in names if n.startswith("--")), names[0])
            self.dest = kw.get("dest") or long.lstrip("-").replace("-", "_")
        self.default = kw.get("default", False if self.kind == "store_true" else None)


class Table:
    """What a command's ``add_arguments`` declares, recorded instead of built."""

    def __init__(self) -> None:
        self.positionals: list[_Option] = []
        self.options: dict[str, _Option] = {}
        self.defaults: dict = {}

    def add_argument(self, *names: str, **kw) -> None:
        opt = _Option(names, kw)
        if names[0].startswith("-"):
            for n in names:
                self.options[n] = opt
        else:
            self.positionals.append(opt)

    def set_defaults(self, **kw) -> None:
        self.defaults.update(kw)


class Args:
    """What ``parse`` gives: the attributes argparse's Namespace would have."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"Args({', '.join(f'{k}={v!r}' for k, v in sorted(self.__dict__.items()))})"


def _value(opt: _Option, text: str):
    if not text or text.startswith("-"):
        raise ValueError(text)            # argparse may read it as an option: let it decide
    value = opt.type(text)
    if opt.choices is not None and value not in opt.choices:
        raise ValueError(text)
    return value


def parse(command: str, add_arguments, argv: list[str]) -> Args | None:
    """``argv`` (after the command's name) as argparse would parse it, or None when it is not
    one of the plain shapes (argparse then parses it, or explains what is wrong)."""
    table = Table()
    try:
        add_arguments(table)
    except (Unsupported, AttributeError):   # e.g. a mutually exclusive group: argparse's
        return None
    out: dict = {"command": command, "_command": command}
    unique = {id(o): o for o in table.options.values()}.values()
    for opt in (*table.positionals, *unique):
        out[opt.dest] = list(opt.default) if isinstance(opt.default, list) else opt.default
    positionals: list[str] = []
    ended = False                          # the positionals' run has ended
    i = 0
    try:
        while i < len(argv):
            tok = argv[i]
            i += 1
            if not tok.startswith("-") or tok == "-":
                if tok == "-" or (positionals and ended):
                    return None
                positionals.append(tok)
                continue
            if positionals:
                ended = True
            if tok == "--" or tok.startswith("---"):
                return None
            name, eq, inline = tok.partition("=") if tok.startswith("--") else (tok[:2], "", tok[2:])
            if not tok.startswith("--") and inline:
                if inline.startswith("="):     # argparse reads -t=x as -t x
                    return None
                eq = "="
            opt = table.options.get(name)
            if opt is None:
                return None
            if opt.kind == "store_true":
                if eq:
                    return None
                out[opt.dest] = True
                continue
            if not eq:
                if i >= len(argv):
                    return None
                inline = argv[i]
                i += 1
            value = _value(opt, inline)
            if opt.kind == "append":
                out[opt.dest].append(value)
            else:
                out[opt.dest] = value
    except ValueError:
        return None
    pos = table.positionals
    if len(pos) != 1 or not positionals:
        return None if pos or positionals else Args(**out, **table.defaults)
    if pos[0].nargs is None:
        if len(positionals) != 1:
            return None
        out[pos[0].dest] = _value(pos[0], positionals[0]) if pos[0].choices else positionals[0]
    else:
        out[pos[0].dest] = positionals
    out.update(table.defaults)
    return Args(**out)
