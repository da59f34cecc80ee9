"""Patterns a user gives (an import's `skip=` option, RENTFLOW_STATEMENT_SKIP), compiled with RE2:
matching takes time linear in the text whatever the pattern, so no pattern can freeze the service
(Python's `re` took 8 s on a 26-character text with a nested quantifier). RE2 has no
backreferences or lookaround; a pattern using them is refused with RE2's reason. Case-insensitive."""
from __future__ import annotations

from typing import Protocol

import re2

MAX_PATTERN_CHARS = 200
MAX_PROGRAM_BYTES = 1 << 20  # RE2's memory for one compiled pattern: a{1000}{1000} and such are refused


class PatternError(ValueError):
    """Not a pattern this service runs; the message says why."""


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


def linear(pattern: str) -> Pattern:
    """One of the code's own patterns, run on RE2 where the text it reads is whatever a file's sender
    wrote (`\\bDWP\\b.*\\bUC\\b` took 22 s on Python's re over 20 KB of "DWP DWP ...")."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)  # type: ignore[no-any-return]


def compile_pattern(text: str) -> Pattern | None:
    """None for an empty pattern (nothing is skipped)."""
    if not text:
        return None
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError(f"at most {MAX_PATTERN_CHARS} characters, got {len(text)}")
    if any(ord(c) < 0x20 and c not in "\t" for c in text):
        raise PatternError("must not contain control characters")
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = False
    options.max_mem = MAX_PROGRAM_BYTES
    try:
        return re2.compile(text, options)  # type: ignore[no-any-return]
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"not a pattern RE2 accepts: {reason}") from None
