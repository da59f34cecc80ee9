"""Small pure helpers the file parsers share: money, dates, references, item identities, text.

Money is parsed from its decimal text with string arithmetic (never float): "12.34" → 1234.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_POUNDS = re.compile(r"^(\d{1,12})(?:\.(\d{1,2})0*)?$")  # "18.150": banks pad decimals with zeros
_SPACES = re.compile(r"[\s\-]+")


class BadValue(ValueError):
    """A field of one item is wrong; the message names the field and what is wrong with it."""


def pounds_to_pence(text: str | None, field: str) -> int:
    """"12.34" / "12.3" / "12" / "1,234.56" / "12.340" → pence; anything else (negative, a fraction of a
    penny, blank) is refused."""
    raw = (text or "").strip().replace(",", "").removeprefix("£")
    m = _POUNDS.match(raw)
    if not m:
        raise BadValue(f"{field}: {text!r} is not an amount in pounds and whole pence, e.g. 123.45")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


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
