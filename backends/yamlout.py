"""A small block-style YAML writer for the data the backends build: dicts with str keys, lists,
str, int, float, bool and None. Takes that data, gives YAML text that any YAML 1.1 or 1.2
reader loads back to the same data (tests/backends/test_yamlout.py proves it with hypothesis).

Why not PyYAML: its representer and emitter are Python-level and general (anchors, tags, flow
styles, line folding); at 10000 steps they took seconds, this takes a fraction of that.

How strings are written, most readable first, each only where it is safe:

- plain, when the text is printable ASCII that no reader takes for anything but a string:
  no indicator first, no ``: `` or `` #``, and no word or number that YAML 1.1 or 1.2 would
  resolve (``yes``, ``on``, ``~``, ``1e3``, ``0x1F``, ``2024-01-01``, ``.inf`` ...). The test
  for numbers is deliberately broad: text starting with a digit is quoted unless it holds a
  character no number, date or time can hold (``5s``, ``1Gi``);
- single-quoted, for other single-line printable ASCII (``'on'``, ``'3.11'``, ``'{{$}}'``);
- a literal block (``|`` or ``|-``) for multi-line printable text without trailing blanks;
- otherwise JSON's double-quoted form, with every non-printable character escaped (a YAML
  double-quoted scalar reads JSON escapes the same way).
"""

from __future__ import annotations

import json
import re

# printable ASCII; the first character no indicator, '.', '+', '~' or a digit; no ': ' or ' #'
_PLAIN = re.compile(r"(?:[A-Za-z_/$(^]|-[A-Za-z_]|--(?!-)|\.[A-Za-z_/])[\x20-\x7e]*\Z")
# Text starting with a digit is a number, date or time to some reader only if every character is
# in the alphabet of those forms (YAML 1.1 ints, floats, sexagesimals, timestamps; 1.2 core and
# JSON numbers): one character outside it ('5s', '1Gi', '0 3 * * *') makes it a string to all.
_DIGIT_FIRST = re.compile(r"[0-9][\x20-\x7e]*\Z")
_NOT_NUMERIC = re.compile(r"[^0-9a-fA-FxXoO._+\-: tTzZ]")
_BAD_INSIDE = re.compile(r": | #|[: ]\Z")
# words YAML 1.1 (PyYAML) or 1.2 reads as bool or null, and .inf/.nan ('<<', '=', '~' and
# digits cannot start a plain scalar above)
_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", ".inf", ".nan"})
_SINGLE = re.compile(r"[\x20-\x7e]*\Z")
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]")


def comment(lines: list[str]) -> str:
    """``lines`` as YAML comment lines (``# ...``). A comment ends at a line break, and to a YAML
    1.1 reader (PyYAML, kfp) NEL, LS and PS are line breaks too; so every character that is not
    printable is written as an escape (``\\n``, ``\\u2028``): no text can end a comment early."""
    return "".join(("# " + _NON_PRINTABLE.sub(_escape_char, line)).rstrip() + "\n" for line in lines)


def dump(data, *, sort_keys: bool = False, indent_sequences: bool = False) -> str:
    """``data`` as a YAML document (no ``---``). ``indent_sequences`` puts a sequence's dashes two
    columns right of its key (GitHub's style) instead of under it (PyYAML's default)."""
    out: list[str] = []
    _Writer(out, sort_keys, 2 if indent_sequences else 0).node(data, 0, "")
    return "".join(out)


class _Writer:
    def __init__(self, out: list[str], sort_keys: bool, seq_indent: int) -> None:
        self.out = out
        self.sort_keys = sort_keys
        self.seq_indent = seq_indent
        self.scalars: dict[str, str | None] = {}     # text -> its one-line form, None: a literal block

    def node(self, value, indent: int, lead: str) -> None:
        """Write ``value`` with its first line starting ``lead`` (already indented) and the rest
        at ``indent``."""
        if isinstance(value, dict) and value:
            self.mapping(value, indent, lead)
        elif isinstance(value, list) and value:
            self.sequence(value, indent, lead)
        else:
            self.out.append(lead + self.inline(value, indent) + "\n")

    def mapping(self, d: dict, indent: int, lead: str) -> None:
        out, pad = self.out, " " * indent
        for k in (sorted(d) if self.sort_keys else d):
            if not isinstance(k, str):
                raise TypeError(f"mapping key {k!r} is not a str")
            v = d[k]
            key = self.scalar(k)
            if key is None:                      # a key is one line: no literal block
                key = _double_quoted(k)
            if len(key) > 1000:                  # YAML's limit for an implicit key is 1024
                raise ValueError(f"mapping key {k[:40]!r}... is too long")
            if isinstance(v, dict) and v:
                out.append(lead + key + ":\n")
                self.mapping(v, indent + 2, pad + "  ")
            elif isinstance(v, list) and v:
                out.append(lead + key + ":\n")
                i = indent + self.seq_indent
                self.sequence(v, i, " " * i)
            else:
                out.append(lead + key + ": " + self.inline(v, indent + 2) + "\n")
            lead = pad

    def sequence(self, items: list, indent: int, lead: str) -> None:
        pad = " " * indent
        for v in items:
            self.node(v, indent + 2, lead + "- ")
            lead = pad

    def inline(self, v, indent: int) -> str:
        """A scalar or empty collection after ``key: `` or ``- ``; a literal block continues on
        the following lines at ``indent``."""
        if isinstance(v, str):
            text = self.scalar(v)
            if text is not None:
                return text
            pad = " " * (indent or 2)          # a block scalar at the root still needs some indentation
            body = v[:-1] if v.endswith("\n") else v
            lines = "\n".join(pad + line if line else "" for line in body.split("\n"))
            return ("|\n" if v.endswith("\n") else "|-\n") + lines
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int):
            return str(int(v))
        if isinstance(v, float):
            return _float(v)
        if isinstance(v, dict):          # only empty ones reach here
            return "{}"
        if isinstance(v, list):
            return "[]"
        raise TypeError(f"cannot write {type(v).__name__} as YAML")

    def scalar(self, s: str) -> str | None:
        try:
            return self.scalars[s]
        except KeyError:
            text = self.scalars[s] = _string(s)
            return text


def _string(s: str) -> str | None:
    """The one-line form of ``s``, or None when it is written as a literal block."""
    if (_PLAIN.match(s) or _DIGIT_FIRST.match(s) and _NOT_NUMERIC.search(s)) \
            and not _BAD_INSIDE.search(s) and s.lower() not in _WORDS:
        return s
    if _SINGLE.match(s):
        return "'" + s.replace("'", "''") + "'"
    if _literal_ok(s):
        return None
    return _double_quoted(s)


def _double_quoted(s: str) -> str:
    return _NON_PRINTABLE.sub(_escape, json.dumps(s, ensure_ascii=False))


def _literal_ok(s: str) -> bool:
    """Multi-line text that a literal block keeps exactly: every line printable with no trailing
    blank, no blank first (it would need an indentation indicator), at most one final newline."""
    if "\n" not in s or s[0] in " \n" or s.endswith("\n\n"):
        return False
    return all(line.isprintable() and not line.endswith(" ") for line in s.split("\n"))


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(m: re.Match) -> str:
    return _SHORT_ESCAPES.get(m.group()) or _escape(m)


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


def _float(v: float) -> str:
    """As PyYAML writes floats: YAML 1.1 needs a '.' before an exponent (1.0e+16, not 1e+16)."""
    if v != v:
        return ".nan"
    if v in (float("inf"), float("-inf")):
        return ".inf" if v > 0 else "-.inf"
    text = repr(v).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text
