"""Diagnostics: one dataclass for every problem pipespec reports, and one renderer per format.

Checks produce ``Diagnostic`` values; nothing else is raised at the user. Renderers are picked
from ``RENDERERS`` by ``--format``.
"""

from __future__ import annotations

from .record import record, field, replace

from .codes import CODES, ERROR, PLUGIN_CODES, WARNING, entry
from .span import Span


@record(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    help: str | None = None
    notes: tuple[str, ...] = ()
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if self.code not in CODES and self.code not in PLUGIN_CODES:
            raise KeyError(f"unregistered diagnostic code {self.code}")
        if not self.severity:
            object.__setattr__(self, "severity", entry(self.code)[1])

    @property
    def name(self) -> str:
        return entry(self.code)[0]

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_error(self) -> "Diagnostic":
        return replace(self, severity=ERROR)

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.col, self.code, self.message)

    def to_json(self) -> dict:
        d = {"code": self.code, "name": self.name, "severity": self.severity,
             "message": self.message, **self.span.to_json()}
        if self.help:
            d["help"] = self.help
        if self.notes:
            d["notes"] = list(self.notes)
        return d


class Diagnostics:
    """An ordered, de-duplicated collection that checks append to."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[tuple] = set()

    def add(self, code: str, message: str, span: Span, help: str | None = None,
            notes: tuple[str, ...] = ()) -> Diagnostic:
        d = Diagnostic(code, message, span, help, notes)
        key = (d.code, d.message, d.span)
        if key not in self._seen:
            self._seen.add(key)
            self._items.append(d)
        return d

    def extend(self, items) -> None:
        for d in items:
            key = (d.code, d.message, d.span)
            if key not in self._seen:
                self._seen.add(key)
                self._items.append(d)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self._items, key=Diagnostic.sort_key)

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class SourceCache:
    """Source lines per file, for showing the offending line under a diagnostic."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self._lines: dict[str, list[str]] = {k: v.splitlines() for k, v in (texts or {}).items()}

    def add(self, file: str, text: str) -> None:
        self._lines[file] = text.splitlines()

    def line(self, file: str, n: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None or n < 1 or n > len(lines):
            return None
        return lines[n - 1]

    def is_end(self, file: str, n: int) -> bool:
        """Line ``n`` is the one just past the last line of a non-empty file (where a parser
        that ran out of text puts its error)."""
        lines = self._lines.get(file)
        return bool(lines) and n == len(lines) + 1


_CONTROL_PICTURES = {c: 0x2400 + c for c in range(32) if c != 9} | {127: 0x2421}


def render_text(diags: list[Diagnostic], sources: SourceCache, color: bool = False) -> str:
    out: list[str] = []
    for d in diags:
        s = d.span
        sev = d.severity
        if color:
            c = "\x1b[1;31m" if sev == ERROR else "\x1b[1;33m"
            head = f"\x1b[1m{s.file}:{s.line}:{s.col}:\x1b[0m {c}{sev}[{d.code}]\x1b[0m: {d.message}"
        else:
            head = f"{s.file}:{s.line}:{s.col}: {sev}[{d.code}]: {d.message}"
        out.append(head)
        src = sources.line(s.file, s.line)
        if src is not None:
            # control characters are shown as their Unicode pictures (one column each), so a
            # NUL or an escape in the file cannot garble the terminal or shift the caret
            src = src.translate(_CONTROL_PICTURES)
            gutter = str(s.line)
            pad = " " * len(gutter)
            width = (s.end_col - s.col) if s.end_line == s.line else len(src) - s.col + 1
            width = max(1, min(width, max(1, len(src) - s.col + 1)))
            # tabs keep their width in the caret line so the caret lines up
            prefix = "".join(ch if ch == "\t" else " " for ch in src[: max(0, s.col - 1)])
            out.append(f"{pad} |")
            out.append(f"{gutter} | {src}")
            out.append(f"{pad} | {prefix}{'^' * width}")
        elif sources.is_end(s.file, s.line):
            pad = " " * len(str(s.line))
            out += [f"{pad} |", f"{s.line} | ", f"{pad} | ^ end of file"]
        for n in d.notes:
            out.append(f"  = note: {n}")
        if d.help:
            out.append(f"  = help: {d.help}")
    return "\n".join(out) + ("\n" if out else "")


JSON_REPORT_VERSION = 1   # of the object below: schemas/validate-output.v1.schema.json


def render_json(diags: list[Diagnostic], sources: SourceCache, color: bool = False,
                files: list[str] | None = None) -> str:
    """The versioned report: the files checked (each with its counts), the totals, and every
    diagnostic. ``files`` defaults to the files the diagnostics name."""
    from . import __version__

    names = list(dict.fromkeys(files if files is not None else [d.span.file for d in diags]))
    per = {f: {"file": f, "valid": True, "errors": 0, "warnings": 0} for f in names}
    for d in diags:
        entry = per.setdefault(d.span.file, {"file": d.span.file, "valid": True, "errors": 0, "warnings": 0})
        entry["errors" if d.is_error else "warnings"] += 1
        entry["valid"] = entry["errors"] == 0
    rows = list(per.values())
    doc = {
        "version": JSON_REPORT_VERSION,
        "tool": {"name": "pipespec", "version": __version__},
        "files": rows,
        "summary": {"files": len(rows), "invalid": sum(not r["valid"] for r in rows),
                    "errors": sum(r["errors"] for r in rows), "warnings": sum(r["warnings"] for r in rows)},
        "diagnostics": [d.to_json() for d in diags],
    }
    import json   # the JSON renderer only

    return json.dumps(doc, indent=2) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diags: list[Diagnostic], sources: SourceCache, color: bool = False) -> str:
    """GitHub Actions workflow commands: annotations on the pull-request diff."""
    out = []
    for d in diags:
        s = d.span
        kind = "error" if d.is_error else "warning"
        msg = d.message + (f" (help: {d.help})" if d.help else "")
        out.append(
            f"::{kind} file={_gh_escape(s.file, True)},line={s.line},col={s.col},"
            f"endLine={s.end_line},endColumn={s.end_col},"
            f"title={_gh_escape(f'{d.code} {d.name}', True)}::{_gh_escape(msg)}"
        )
    return "\n".join(out) + ("\n" if out else "")


def render_sarif(diags: list[Diagnostic], sources: SourceCache, color: bool = False) -> str:
    """A SARIF 2.1.0 log for code-scanning UIs (``sarif.py``, imported only for this format)."""
    from .sarif import render

    return render(diags, sources)


RENDERERS = {"text": render_text, "json": render_json, "github": render_github, "sarif": render_sarif}

__all__ = ["Diagnostic", "Diagnostics", "SourceCache", "RENDERERS", "ERROR", "WARNING"]
