"""What any HTTP input may carry, said once for every service: text without NUL bytes (PostgreSQL
text cannot hold them) or other control characters (they corrupt logs, terminals and exports),
dates within years a rent ledger can mean (1900 to 2100), amounts and counts within bigint and a
sane bound (a weekly rent of 2^62 pence once stopped every debit run and every KPI). Each is a
pydantic annotated type, so a bad value is a 422 that names the field, never a 500 further in.

    class Body(BaseModel):
        note: Text
        through: Day
    async def route(offset: Annotated[Offset, Query()] = 0): ...
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
EARLIEST_YEAR, LATEST_YEAR = EARLIEST_DATE.year, LATEST_DATE.year
MAX_PENCE = 10**12  # £10bn: anything larger is a typo, and it stays far inside bigint
MAX_WEEKLY_PENCE = 10**6  # £10,000 a week: far above any social rent or service charge
MAX_UPRATE_PERCENT = 100  # a year's change of every rent: more is a typo
MAX_OFFSET = 10**9  # rows to skip: far more than any table here holds
# C0 controls but tab, line feed and carriage return; DEL; the C1 controls (terminal escapes and such)
_CONTROL = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {0x7F} | set(range(0x80, 0xA0))
_CONTROL_TABLE = dict.fromkeys(_CONTROL)


def control_character(value: str) -> str | None:
    """The first control character in `value` as `\\xNN` (None when there is none)."""
    if value.isprintable() or len(value.translate(_CONTROL_TABLE)) == len(value):
        return None
    return next(f"\\x{ord(c):02x}" for c in value if ord(c) in _CONTROL)


def no_nul(value: str) -> str:
    """No NUL byte and no other control character (tab and line breaks are text)."""
    found = control_character(value)
    if found == "\\x00":
        raise PydanticCustomError("nul_byte", "must not contain NUL bytes (\\x00)")
    if found is not None:
        raise PydanticCustomError("control_character", "must not contain control characters (found {found})",
                                  {"found": found})
    return value


def in_years(value: dt.date) -> dt.date:
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise PydanticCustomError("date_range", "must be a date from {earliest} to {latest}",
                                  {"earliest": EARLIEST_DATE.isoformat(), "latest": LATEST_DATE.isoformat()})
    return value


Text = Annotated[str, AfterValidator(no_nul)]
Day = Annotated[dt.date, AfterValidator(in_years)]
Moment = Annotated[dt.datetime, AfterValidator(in_years)]
Pence = Annotated[int, Field(ge=-MAX_PENCE, le=MAX_PENCE)]
WeeklyPence = Annotated[int, Field(ge=0, le=MAX_WEEKLY_PENCE)]
Year = Annotated[int, Field(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
