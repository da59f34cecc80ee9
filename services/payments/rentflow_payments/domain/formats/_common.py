"""Small pure helpers the file parsers share: money, dates, references, item identities, text.

Money is parsed from its decimal text with string arithmetic (never float): "12.34" → 1234.
"""
from __future__ import annotations

import datetime as dt
import re

from rentflow_common.parsing import BadValue, pounds_to_pence  # noqa: F401  (the formats import them from here)
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_SPACES = re.compile(r"[\s\-]+")


def iso_date(text: str | None, field: str) -> dt.date:
    """An ISO 8601 date; a date-time is cut to its date."""
    raw = (text or "").strip()
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        raise BadValue(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None


def london_midnight(day: dt.date) -> str:
    """The start of a Europe/London business date, as an ISO 8601 instant with its offset."""
    return dt.datetime.combine(day, dt.time(0), LONDON).isoformat()


def normalise_reference(text: str) -> str:
    """Upper case without spaces or hyphens: the form the ledger matches references in."""
    return _SPACES.sub("", text).upper()


class Occurrences:
    """Numbers identical items within one file (1, 2, ...), so that two identical collections in
    one report stay two items while the same item in a re-sent file gets the same identity."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def key(self, *parts: object) -> str:
        base = "|".join(str(p) for p in parts)
        n = self._seen.get(base, 0) + 1
        self._seen[base] = n
        return f"{base}|{n}"


def clip(text: str | None, limit: int) -> str | None:
    """Whitespace collapsed and cut to `limit` characters; None for blank."""
    if text is None:
        return None
    out = " ".join(text.split())
    return out[:limit] or None
