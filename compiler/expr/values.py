"""Run-time values of expressions: plain JSON-like Python values, and how they behave.

Python's own ``==`` says ``True == 1``; the language keeps bool apart from numbers, so every
comparison goes through ``equal`` and every number test through ``is_number``. The definitions
are in ``runtime`` (the one implementation, which generated DAG files embed); these are their
public names.
"""

from __future__ import annotations

from .runtime import _equal as equal
from .runtime import _is_number as is_number
from .runtime import _kind_of as kind_of
from .runtime import _normalize as normalize
from .runtime import _to_text as to_text
from .runtime import _with_article as with_article

__all__ = ["equal", "is_number", "kind_of", "normalize", "to_text", "with_article"]
