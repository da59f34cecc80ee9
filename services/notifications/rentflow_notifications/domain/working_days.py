"""Working days in England & Wales: Monday to Friday, less the bank holidays (with the
substitute days when a holiday falls at a weekend), from the `holidays` package."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Container

import holidays


@lru_cache(maxsize=64)
def _england_wales(year: int) -> frozenset[dt.date]:
    # England and Wales share one list of bank holidays (subdivision ENG).
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def load_years(*years: int) -> None:
    """Reads these years' bank holidays now. The first look loads the `holidays` package's
    calendars (about 0.3 s of CPU): a service does it at start, not in its first batch."""
    for year in years:
        _england_wales(year)


class EnglandWalesBankHolidays:
    """A set-like view of every England & Wales bank holiday, any year."""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and day in _england_wales(day.year)


ENGLAND_WALES = EnglandWalesBankHolidays()


def is_working_day(day: dt.date, bank_holidays: Container[dt.date] = ENGLAND_WALES) -> bool:
    return day.weekday() < 5 and day not in bank_holidays


def add_working_days(start: dt.date, days: int, bank_holidays: Container[dt.date] = ENGLAND_WALES) -> dt.date:
    """The date `days` working days after `start` (start itself never counts, so a task opened
    on a Saturday with 5 days is due the following Friday, not Thursday). `days` >= 0;
    0 gives `start` itself if it is a working day, else the next working day."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if bank_holidays is ENGLAND_WALES:  # every task of a batch asks it of the same day or two
        return _in_england_wales(start, days)
    return _add_working_days(start, days, bank_holidays)


@lru_cache(maxsize=1024)
def _in_england_wales(start: dt.date, days: int) -> dt.date:
    return _add_working_days(start, days, ENGLAND_WALES)


def _add_working_days(start: dt.date, days: int, bank_holidays: Container[dt.date]) -> dt.date:
    day = start
    if days == 0:
        while not is_working_day(day, bank_holidays):
            day += dt.timedelta(days=1)
        return day
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day, bank_holidays):
            counted += 1
    return day
