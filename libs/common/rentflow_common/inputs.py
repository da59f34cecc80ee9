"""What any HTTP input may carry, said once for every service: text without NUL bytes (PostgreSQL
text cannot hold them), dates within years a rent ledger can mean (and date arithmetic and
PostgreSQL can hold), amounts and counts within bigint and a sane bound. Each is a pydantic
annotated type, so a bad value is a 422 that names the field, never a 500 further in.

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
LATEST_DATE = dt.date(2199, 12, 31)
MAX_PENCE = 10**12  # £10bn: anything larger is a typo, and it stays far inside bigint
MAX_OFFSET = 10**9  # rows to skip: far more than any table here holds


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_byte", "must not contain NUL bytes (\\x00)")
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
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
