"""Secret values never reach what pipespec writes: as GitHub Actions does, every known value of a
declared secret (and each line of a multi-line one) is replaced by ``***`` in step logs, error
messages, store records and the terminal (docs/spec.md "secrets").

``Masker.for_pipeline(pipeline)`` knows the values of the pipeline's secrets that are set (the
environment, or ``.env`` beside the spec); ``text()`` masks a message, ``feed()`` a byte stream
(a secret split across two chunks is still masked), ``mask_file()`` a log file in place.
"""

from __future__ import annotations

import os
import re
from typing import IO, Iterable

SECRET_OUTPUT = ("output '{}' holds the value of a secret: a secret reaches only the steps that "
                 "declare it, never through outputs")

MASK = "***"
MIN_LEN = len(MASK)          # a masked stream never grows, so a file can be masked in place


class Masker:
    def __init__(self, values: Iterable[str] = ()) -> None:
        needles: set[str] = set()
        for v in values:
            for part in (v, *v.splitlines()):
                part = part.strip("\r")
                if len(part.encode()) >= MIN_LEN and len(part) >= MIN_LEN:
                    needles.add(part)
        ordered = sorted(needles, key=len, reverse=True)      # the longest wins where they overlap
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(b"|".join(re.escape(n.encode()) for n in ordered)) if ordered else None
        self._keep = max((len(n.encode()) for n in ordered), default=1) - 1
        self._carry = b""

    @classmethod
    def for_pipeline(cls, pipeline, environ: dict[str, str] | None = None) -> "Masker":
        from .context import _dotenv

        environ = os.environ if environ is None else environ
        values = [environ.get(s.env) for s in pipeline.secrets]
        if any(v is None for v in values) and pipeline.secrets:
            dotenv = _dotenv(pipeline)
            values = [v if v is not None else dotenv.get(s.env) for v, s in zip(values, pipeline.secrets)]
        return cls(v for v in values if v)

    def __bool__(self) -> bool:
        return self._text is not None

    def text(self, s):
        """``s`` with every secret value masked (None and non-strings pass through)."""
        if self._text is None or not isinstance(s, str):
            return s
        return self._text.sub(MASK, s)

    def output_holding_a_secret(self, *outputs: dict) -> str | None:
        """The name of the first value output that holds a secret's value, or None. Such an
        output would carry the secret into the run records, the terminal and other steps, so
        the step fails instead (GitHub, likewise, drops a job output that holds a secret)."""
        if self._text is None:
            return None
        import json

        for group in outputs:
            for name, v in group.items():
                text = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
                if self._text.search(text):
                    return name
        return None

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """The masked bytes of a stream so far; what might start a secret is held back until
        the next call (or ``final``)."""
        if self._bytes is None:
            return data
        data = self._carry + data
        if final:
            self._carry = b""
            return self._bytes.sub(MASK.encode(), data)
        cut = len(data) - self._keep
        out, pos = [], 0
        for m in self._bytes.finditer(data):
            if m.start() >= cut:
                break
            out += (data[pos:m.start()], MASK.encode())
            pos = m.end()
        end = max(cut, pos)
        out.append(data[pos:end])
        self._carry = data[end:]
        return b"".join(out)

    def copy(self, src: IO[bytes], dst: IO[bytes]) -> None:
        """Copy a pipe to ``dst``, masked, until end of file (the executor's output threads)."""
        m = Masker.__new__(Masker)
        m.__dict__.update(self.__dict__, _carry=b"")
        while True:
            chunk = src.read1(1 << 16) if hasattr(src, "read1") else src.read(1 << 16)
            data = m.feed(chunk, final=not chunk)
            if data:
                dst.write(data)
                dst.flush()
            if not chunk:
                return

    def mask_file(self, path: str) -> None:
        """Mask a file in place (it only shrinks). Errors are the caller's to ignore."""
        if self._bytes is None:
            return
        m = Masker.__new__(Masker)
        m.__dict__.update(self.__dict__, _carry=b"")
        with open(path, "r+b") as f:
            r = w = 0
            while True:
                f.seek(r)
                chunk = f.read(1 << 20)
                r += len(chunk)
                data = m.feed(chunk, final=not chunk)
                if data:
                    f.seek(w)
                    f.write(data)
                    w += len(data)
                if not chunk:
                    break
            f.truncate(w)
