"""What people type into files and forms: UK dates and amounts in pounds, read the one way every
service reads them (payments' file formats, the ledger's accounts CSV). No IO."""
from __future__ import annotations

import datetime as dt
import re

_POUNDS = re.compile(r"^(\d{1,12})(?:\.(\d{1,2})0*)?$")  # "18.150": banks pad decimals with zeros
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), 1)}
_UK_DATE = re.compile(r"^(\d{1,2})[/.\- ]([A-Za-z]{3}|\d{1,2})[/.\- ](\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


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


def uk_date(value: str, field: str) -> tuple[dt.date, dt.time | None]:
    """2026-10-06, 06/10/2026, 6/10/26, 06-Oct-2026, 06 Oct 2026 (day first), optional HH:MM[:SS]."""
    v = value.strip()
    try:
        if len(v) >= 10 and v[4] == "-":
            if len(v) == 10:
                return dt.date.fromisoformat(v), None
            at = dt.datetime.fromisoformat(v)
            return at.date(), at.timetz() if at.tzinfo else at.time()
    except ValueError:
        pass
    m = _UK_DATE.match(v)
    if m:
        day, month, year = m.group(1), m.group(2), m.group(3)
        mon = _MONTHS.get(month.lower()) if month.isalpha() else int(month)
        try:
            d = dt.date(int(year) + (2000 if len(year) == 2 else 0), mon or 0, int(day))
            t = dt.time(int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)) if m.group(4) else None
            return d, t
        except ValueError:
            pass
    raise BadValue(f"{field}: {value!r} is not a date (e.g. 06/10/2026 or 2026-10-06)")
