"""Stage 1: YAML text -> positioned syntax tree (``syntax.Node``), or diagnostics.

PyYAML (libyaml when available) composes the node graph; this module converts it to our own
tree, resolving plain scalars by the YAML 1.2 core schema (so ``on``, ``yes`` and ``no`` stay
strings, and ``2024-01-01`` is not a date) while refusing what YAML accepts silently:
duplicate keys, non-string keys, YAML 1.1 boolean words as keys, custom tags, alias bombs,
oversized files, several documents.
"""

from __future__ import annotations

import re

import yaml

from .diagnostics import Diagnostic
from .span import Span
from .syntax import MapNode, Node, ScalarNode, SeqNode

MAX_BYTES = 2 * 1024 * 1024          # a pipeline spec is a few KB; 2 MiB is generous
MAX_NODES = 200_000                  # nodes after alias expansion (billion-laughs bound)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_IMPLICIT = "tag:pipespec:implicit"
_STD = "tag:yaml.org,2002:"
_STR = _STD + "str"
_MERGE = _STD + "merge"
_YScalar = yaml.ScalarNode       # what libyaml and PyYAML compose (never a subclass)
_ALLOWED_TAGS = {_IMPLICIT, _STD + "str", _STD + "int", _STD + "float", _STD + "bool",
                 _STD + "null", _STD + "map", _STD + "seq"}

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution); \Z, not $, which also
# matches before a final newline ("0\n" is a string, not 0)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)\Z")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"^[-+]?[0-9]+\Z")
_INT8 = re.compile(r"^0o[0-7]+\Z")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)\Z")
_INFINITIES = (float("inf"), float("-inf"))
# what YAML (libyaml) counts as a line break, and so what a position's line number counts
YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def yaml_lines(text: str) -> list[str]:
    """The lines of ``text`` as YAML numbers them (a mark's line indexes this list)."""
    if any(b in text for b in _OTHER_BREAKS):
        return YAML_LINE_BREAK.split(text)
    return text.split("\n")
# the control characters no target can carry: NUL ends every argument and environment
# variable of a process (the runner, Airflow, KFP and GitHub workers alike). The others (ESC,
# VT, ...) reach a process intact and every target's files escape them.
_CONTROL = re.compile(r"\x00")
# a double-quoted scalar's escapes, to point at the one that produced a control character
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.S)
_ESCAPE_CODES = {"0": 0, "a": 7, "b": 8, "t": 9, "\t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "e": 27}
# words YAML 1.1 tools (PyYAML, many CI systems) read as booleans
YAML11_BOOL_WORDS = {"yes", "Yes", "YES", "no", "No", "NO", "on", "On",
                     "ON", "off", "Off", "OFF"}


class _ResolvingLoader(_Loader):  # type: ignore[misc, valid-type]
    """Marks implicitly-typed plain scalars so we resolve them ourselves (YAML 1.2 core)."""

    def resolve(self, kind, value, implicit):  # noqa: D401 - PyYAML hook
        if kind is yaml.ScalarNode and implicit[0]:
            return _IMPLICIT
        # what SafeLoader's resolver answers for the rest (it has no path resolvers), without
        # its Python-level search: libyaml calls this once per node
        return _DEFAULT_TAGS[kind]


_DEFAULT_TAGS = {yaml.ScalarNode: _STD + "str", yaml.SequenceNode: _STD + "seq", yaml.MappingNode: _STD + "map"}
assert not _Loader.yaml_path_resolvers
# every null, bool, number, .inf and .nan of the core schema starts with one of these
_NON_STRING_FIRST = frozenset("~nNtTfF+-.0123456789")


# every number must fit what every target can hold: KFP/protobuf and JSON consumers read
# integers as int64, so anything outside is refused (E210) rather than silently rounded
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
# significant digits above which a literal is out of int64 range without converting it
# (Python refuses to convert more than 4300 decimal digits at all)
_MAX_DIGITS = {10: 19, 8: 22, 16: 16}
_OUT_OF_RANGE = INT64_MAX + 1          # what a literal too long to convert becomes (then E210)


def _int(digits: str, base: int, sign: int = 1) -> int:
    if len(digits.lstrip("0")) > _MAX_DIGITS[base]:
        return sign * _OUT_OF_RANGE
    return sign * int(digits, base)


def resolve_plain(text: str):
    if text and text[0] not in _NON_STRING_FIRST:
        return text
    if text and text[0] in "nNtTfF":          # only null and the booleans start with a letter
        return None if text in ("null", "Null", "NULL") else _BOOL.get(text, text)
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT10.match(text):
        return _int(text.lstrip("+-"), 10, -1 if text[0] == "-" else 1)
    if _INT8.match(text):
        return _int(text[2:], 8)
    if _INT16.match(text):
        return _int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


class LoadError(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


class _Converter:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = yaml_lines(text)
        self.count = 0
        self.diags: list[Diagnostic] = []
        self._stack: set[int] = set()

    def span(self, node) -> Span:
        s, e = node.start_mark, node.end_mark
        return Span(self.file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)

    def source(self, node) -> str:
        s, e = node.start_mark, node.end_mark
        return self._source(s.line, s.column, e.line, e.column)

    def _source(self, line: int, col: int, end_line: int, end_col: int) -> str:
        # libyaml also counts \r, \x85, \u2028 and \u2029 as line breaks: a mark may lie past
        # the last of our "\n"-split lines
        if line == end_line or line >= len(self.lines):
            return self.lines[line][col:end_col] if line < len(self.lines) else ""
        parts = [self.lines[line][col:]]
        parts += self.lines[line + 1:end_line]
        if end_line < len(self.lines):
            parts.append(self.lines[end_line][:end_col])
        return "\n".join(parts)

    def convert(self, node) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise LoadError(Diagnostic(
                "E104", f"the document expands to more than {MAX_NODES} nodes through aliases",
                self.span(node), help="anchors and aliases (&a / *a) must not multiply the document; write the values out"))
        if node.tag not in _ALLOWED_TAGS:
            self.diags.append(Diagnostic(
                "E106", f"YAML tag '{node.tag.replace(_STD, '!!')}' is not allowed", self.span(node),
                help="pipespec specs hold plain data: remove the tag"))
        if node.__class__ is _YScalar:
            return self.scalar(node)
        if id(node) in self._stack:
            raise LoadError(Diagnostic("E104", "an alias refers to the node that contains it",
                                       self.span(node), help="recursive anchors are not allowed"))
        self._stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                convert = self.convert
                return SeqNode(tuple([convert(i) for i in node.value]), self.span(node))
            return self.mapping(node)
        finally:
            self._stack.discard(id(node))

    def scalar(self, node) -> ScalarNode:
        style = node.style or ""
        text = node.value
        tag = node.tag
        s, e = node.start_mark, node.end_mark
        line, col, end_line, end_col = s.line, s.column, e.line, e.column
        span = Span(self.file, line + 1, col + 1, end_line + 1, end_col + 1)
        # the common case, a one-line scalar: its source text without the general path
        source = self.lines[line][col:end_col] if line == end_line and line < len(self.lines) \
            else self._source(line, col, end_line, end_col)
        if tag == _IMPLICIT:
            value = resolve_plain(text)
            if (value.__class__ is int and not INT64_MIN <= value <= INT64_MAX) or value.__class__ is float \
                    and value in _INFINITIES and not _INF.match(text):
                self.number_out_of_range(value, text, span)
            return ScalarNode(value, span, style, source)
        if tag == _STR:
            if style == '"' and _CONTROL.search(text):
                self.control_character(text, source, span)
            return ScalarNode(text, span, style, source)
        if tag == _STD + "null":
            value = None
        elif tag == _STD + "int" and len(text) > 40:   # too long for int64 however written
            value = _OUT_OF_RANGE
        else:  # an explicit standard tag such as !!int
            try:
                value = yaml.safe_load(f"!!{tag[len(_STD):]} {text!r}")
            except (yaml.YAMLError, ValueError):
                value = text
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX \
                or isinstance(value, float) and value in _INFINITIES and not _INF.match(text.strip()):
            self.number_out_of_range(value, text, span)
        elif isinstance(value, str) and _CONTROL.search(value):
            self.control_character(value, source, span)
        return ScalarNode(value, span, style, source)

    def number_out_of_range(self, value, text: str, span: Span) -> None:
        shown = text if len(text) <= 32 else f"{text[:12]}...{text[-8:]} ({len(text)} digits)"
        if isinstance(value, float):
            msg = f"the number {shown} is too large for a 64-bit float (it would become infinity)"
        else:
            msg = (f"the integer {shown} is outside the 64-bit range that every target can hold "
                   f"({INT64_MIN} to {INT64_MAX})")
        self.diags.append(Diagnostic("E210", msg, span,
                                     help="use a smaller number, or quote it to make it a string"))

    def control_character(self, value: str, source: str, span: Span) -> None:
        ch = _CONTROL.search(value).group()
        where = span
        for m in _ESCAPE.finditer(source):
            hexa = m.group(1) or m.group(2) or m.group(3)
            code = int(hexa, 16) if hexa else _ESCAPE_CODES.get(m.group(4), -1)
            if 0 <= code < 0x110000 and _CONTROL.match(chr(code)):
                before = source[:m.start()]
                line = span.line + before.count("\n")
                col = span.col + len(before) if "\n" not in before else len(before) - before.rfind("\n")
                where = Span(span.file, line, col, line, col + len(m.group()))
                break
        self.diags.append(Diagnostic(
            "E110", f"control character U+{ord(ch):04X} (NUL) in a string: no target can carry it", where,
            help="remove it: a process's arguments and environment variables end at a NUL"))

    def mapping(self, node) -> MapNode:
        items: list[tuple[ScalarNode, Node]] = []
        seen: dict = {}
        convert = self.convert
        for knode, vnode in node.value:
            # our resolver marks every plain scalar implicit, so a plain << arrives untagged
            if knode.value == "<<" and isinstance(knode, yaml.ScalarNode) and knode.tag == _IMPLICIT \
                    or knode.tag == _MERGE and isinstance(knode, yaml.ScalarNode):
                self.diags.append(Diagnostic("E106", "merge keys (<<) are not allowed", self.span(knode),
                                             help="write the keys out; merge keys are YAML 1.1 only"))
                continue
            key = convert(knode)
            value = convert(vnode)
            if not isinstance(key, ScalarNode) or not isinstance(key.value, str):
                shown = key.source if isinstance(key, ScalarNode) else None
                self.diags.append(Diagnostic(
                    "E102", f"mapping key {shown} is not a string" if shown else "a mapping key is a collection, not a string",
                    key.span,
                    help=f"quote the key: '{shown}'" if isinstance(key, ScalarNode) else "keys must be plain strings"))
                continue
            if key.style == "" and key.value in YAML11_BOOL_WORDS:
                self.diags.append(Diagnostic(
                    "E103", f"key '{key.value}' is read as a boolean by YAML 1.1 tools", key.span,
                    help=f"quote it: \"{key.value}\""))
            if key.value in seen:
                first = seen[key.value]
                self.diags.append(Diagnostic(
                    "E101", f"duplicate key '{key.value}'", key.span,
                    notes=(f"first defined at line {first.span.line}, column {first.span.col}",),
                    help="remove one of them; YAML silently keeps only the last"))
                continue
            seen[key.value] = key
            items.append((key, value))
        return MapNode(tuple(items), self.span(node))


_FLOW_EXPR = re.compile(r"[\[{,]\s*(?:[^'\"\s][^:'\"]*:\s*)?(\$\{\{)")
# inside a flow collection that spans lines, an entry may also start a line
_FLOW_EXPR_LINE = re.compile(r"(?:^|[\[{,])\s*(?:[^'\"\s][^:'\"]*:\s*)?(\$\{\{)")


def _flow_expression_hint(file: str, text: str, line: int, in_flow: bool = False) -> Diagnostic | None:
    """Recognise the commonest YAML mistake: an unquoted ${{ inside a flow collection."""
    lines = yaml_lines(text)
    rx = _FLOW_EXPR_LINE if in_flow else _FLOW_EXPR
    for ln in (line, line - 1, line + 1):
        if 0 <= ln < len(lines):
            m = rx.search(lines[ln])
            if m:
                col = m.start(1) + 1
                return Diagnostic(
                    "E107", "an unquoted ${{ inside a flow collection ({...} or [...]) is read as a YAML mapping",
                    Span(file, ln + 1, col, ln + 1, col + 3),
                    help="quote the expression (\"${{ ... }}\") or write the collection in block style")
    return None


_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[^\s#'\"{\[][^:#]*?):(?: +(?P<value>.*))?$")


def _quoted(value: str) -> str | None:
    """``value`` as a quoted YAML scalar meaning the same text, or None when neither quote
    style fits on one line."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return None


def _yaml_trap_help(text: str, mark, msg: str) -> str | None:
    """A hint for the YAML mistakes people make most: a ': ' inside an unquoted value (with
    the quoted line), a key indented deeper than its siblings (read as part of the value
    above), a tab used for indentation, and a key indented to no level of the lines above."""
    if mark is None:
        return None
    lines = yaml_lines(text)
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    if "cannot start any token" in msg and line[mark.column:mark.column + 1] == "\t":
        return "YAML indents with spaces, never tabs: replace the tab with spaces"
    m = _KEY_LINE.match(line)
    prev = next((lines[i] for i in range(mark.line - 1, -1, -1)
                 if lines[i].strip() and not lines[i].lstrip().startswith("#")), None)
    pm = _KEY_LINE.match(prev) if prev is not None else None
    if "mapping values are not allowed" in msg and m:
        value_col = len(m.group("indent")) + len(m.group("dash") or "") + len(m.group("key")) + 1
        if mark.column > value_col and m.group("value"):
            q = _quoted(m.group("value").rstrip())
            head = line[:len(line) - len(m.group("value"))]
            if q:
                return f"a ': ' inside an unquoted value starts a mapping; quote the whole value: {head.strip()} {q}"
            return f"a ': ' inside an unquoted value starts a mapping; write {m.group('key')}: | and the value on the next line, indented"
        if pm and pm.group("value") and len(m.group("indent")) > len(pm.group("indent")):
            return (f"'{m.group('key')}:' is indented deeper than '{pm.group('key')}:' above it, so YAML reads it "
                    f"as part of that value: indent it like '{pm.group('key')}:' ({len(pm.group('indent'))} spaces)")
    if "did not find expected key" in msg or "expected <block end>" in msg:
        here = len(line) - len(line.lstrip(" "))
        levels = sorted({len(x) - len(x.lstrip(" ")) for x in lines[:mark.line]
                         if x.strip() and not x.lstrip().startswith("#")})
        if here not in levels and levels:
            return (f"this line is indented by {here} space{'s' * (here != 1)}, which matches no level above it "
                    f"({', '.join(map(str, levels))}): indent it like the keys it belongs with")
    return None


def too_large(size: int, file: str) -> Diagnostic:
    """The file is over the size bound (``load_spec`` asks before reading it)."""
    return Diagnostic("E105", f"file is {size} bytes, over the {MAX_BYTES}-byte bound", Span(file, 1, 1, 1, 2),
                      help="split the pipeline or move data out of the spec")


def load(text: str | bytes, file: str = "<string>") -> tuple[Node | None, list[Diagnostic]]:
    """Parse ``text`` into a syntax tree. Returns (tree or None, diagnostics)."""
    start = Span(file, 1, 1, 1, 2)
    if len(text) > MAX_BYTES:
        return None, [too_large(len(text), file)]
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            return None, [Diagnostic("E109", f"file is not UTF-8 text ({e.reason} at byte {e.start})",
                                     _offset_span(file, text[:e.start].decode("utf-8")),
                                     help="save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        return None, [Diagnostic("E109", "file contains NUL bytes: not a text file",
                                 _offset_span(file, text[:text.index("\x00")]))]
    loader = _ResolvingLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if e.context_mark is not None and "end of stream" in str(e.problem or ""):
            mark = e.context_mark  # the end of the file says nothing; where the scalar opened does
        line = mark.line if mark else 0
        hint = _flow_expression_hint(file, text, line, "flow" in str(e.context or ""))
        if hint:
            return None, [hint]
        if "expected a single document" in str(e.context or "") + str(e.problem or ""):
            return None, [Diagnostic("E109", "the file holds more than one YAML document", _mark_span(file, mark, text),
                                     help="one pipeline per file: remove the '---' separator")]
        msg = (e.problem or e.context or "invalid YAML").strip()
        if e.context and e.problem:
            msg = f"{e.problem} ({e.context})"
        return None, [Diagnostic("E100", msg, _mark_span(file, mark, text), help=_yaml_trap_help(text, mark, msg))]
    except yaml.YAMLError as e:  # reader errors: control characters and the like
        where = getattr(e, "position", None)
        span = _offset_span(file, text[:where]) if isinstance(where, int) else start
        if isinstance(e, yaml.reader.ReaderError):
            ch = e.character if isinstance(e.character, str) else chr(e.character)
            return None, [Diagnostic("E100", f"control character {ch!r} is not allowed in YAML", span,
                                     help=f"remove it, or write it as the escape \"\\x{ord(ch):02x}\" inside double quotes")]
        return None, [Diagnostic("E100", str(e).splitlines()[0], span)]
    finally:
        loader.dispose()
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _IMPLICIT and root.value == ""
                        and not root.style):  # a lone '---' is an empty document too
        return None, [Diagnostic("E109", "the file is empty", start, help="start with `pipespec: 1`")]
    try:
        bomb = _first_oversized(root, {}, set())
    except RecursionError:
        return None, [Diagnostic("E104", "the document nests too deeply", start)]
    if bomb is not None:
        return None, [Diagnostic(
            "E104", f"the document expands to more than {MAX_NODES} nodes through aliases",
            _Converter(file, text).span(bomb),
            help="anchors and aliases (&a / *a) must not multiply the document; write the values out")]
    conv = _Converter(file, text)
    try:
        tree = conv.convert(root)
    except LoadError as e:
        return None, conv.diags + [e.diag]
    except RecursionError:
        return None, [Diagnostic("E104", "the document nests too deeply", start)]
    return tree, conv.diags


def _first_oversized(node, sizes: dict, open_: set):
    """The smallest collection whose expansion through aliases exceeds ``MAX_NODES``, or None.

    Sizes are memoised per node, so this costs one visit per distinct node however many
    aliases there are: a billion-laughs document is refused in microseconds, before it is
    expanded. (A recursive alias is left to the converter, which names it.)"""
    if not isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) or id(node) in open_:
        return None
    if id(node) in sizes:
        return None
    open_.add(id(node))
    total = 1
    children = node.value if isinstance(node, yaml.SequenceNode) else [c for kv in node.value for c in kv]
    for child in children:
        found = _first_oversized(child, sizes, open_)
        if found is not None:
            return found
        total += sizes.get(id(child), 1)
    open_.discard(id(node))
    sizes[id(node)] = total
    return node if total > MAX_NODES else None


def _offset_span(file: str, before: str) -> Span:
    """The one-character span just after the text ``before``."""
    lines = YAML_LINE_BREAK.split(before)
    line = len(lines)
    col = len(lines[-1]) + 1
    return Span(file, line, col, line, col + 1)


def _mark_span(file: str, mark, text: str) -> Span:
    if mark is None:
        return Span(file, 1, 1, 1, 2)
    lines = yaml_lines(text)
    if mark.line >= len(lines):     # the end of the stream, past a last line without a newline
        return Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)
