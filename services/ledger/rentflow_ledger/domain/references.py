"""Payment references as payers type them, reduced to the form accounts are keyed by."""
from __future__ import annotations

import re

_STRIP = re.compile(r"[\s\-]+")


def normalise_reference(reference: str | None) -> str:
    """Upper-case, without spaces (of any kind) or hyphens: ' ab-12 34 ' → 'AB1234'."""
    if not reference:
        return ""
    return _STRIP.sub("", reference).upper()
