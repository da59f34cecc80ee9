"""Accounting periods (docs/domain.md §6): months, closed at month end. A closed period takes no
postings; an item dated in one posts to the next open period keeping its value date (its
business date is unchanged, only the period it is booked in moves)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rentflow_ledger.domain.posting import period_of

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


@dataclass(frozen=True)
class PeriodCalendar:
    closed: frozenset[str] = frozenset()

    def posting_period(self, day: dt.date) -> str:
        period = period_of(day)
        while period in self.closed:
            period = next_period(period)
        return period

    def override(self, day: dt.date) -> str | None:
        """The period to book in when it differs from the business date's month, else None."""
        if not self.closed:
            return None
        period = self.posting_period(day)
        return None if period == period_of(day) else period
