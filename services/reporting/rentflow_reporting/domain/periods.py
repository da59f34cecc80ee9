"""Reporting periods: week Monday–Sunday, calendar month, and quarter and year on the
financial year starting 1 April (Q1 April–June, Q2 July–September, Q3 October–December,
Q4 January–March)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

PeriodKind = Literal["week", "month", "quarter", "year"]
PERIOD_KINDS: tuple[str, ...] = get_args(PeriodKind)
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: dt.date
    end: dt.date  # last day, inclusive

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        fy = f"{self.start.year if self.start.month >= 4 else self.start.year - 1}"
        fy = f"{fy}/{(int(fy) + 1) % 100:02d}"
        if self.kind == "year":
            return fy
        return f"{fy} Q{financial_quarter(self.start)}"


@dataclass(frozen=True)
class Selection:
    """The period a KPI request resolves to; figures run from period.start to `through`."""

    period: Period
    through: dt.date
    complete: bool


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _month_span(first: dt.date, months: int) -> dt.date:
    """Last day of the span of `months` calendar months starting at `first` (a 1st)."""
    year, month = _add_months(first.year, first.month, months)
    return dt.date(year, month, 1) - ONE_DAY


def financial_quarter(d: dt.date) -> int:
    """1 for April–June … 4 for January–March."""
    return (d.month - 4) % 12 // 3 + 1


def period_containing(kind: str, d: dt.date) -> Period:
    if kind == "week":
        start = d - dt.timedelta(days=d.weekday())
        return Period("week", start, start + dt.timedelta(days=6))
    if kind == "month":
        start = d.replace(day=1)
        return Period("month", start, _month_span(start, 1))
    if kind == "quarter":
        start_month = 4 + (financial_quarter(d) - 1) * 3  # 4, 7, 10, 13 (= January)
        start = dt.date(d.year, start_month, 1) if start_month <= 12 else dt.date(d.year, 1, 1)
        return Period("quarter", start, _month_span(start, 3))
    if kind == "year":
        start = dt.date(d.year if d.month >= 4 else d.year - 1, 4, 1)
        return Period("year", start, _month_span(start, 12))
    raise ValueError(f"period must be one of {', '.join(PERIOD_KINDS)}, got {kind!r}")


def previous_period(p: Period) -> Period:
    return period_containing(p.kind, p.start - ONE_DAY)


def latest_ended(kind: str, as_of: dt.date) -> Period:
    """The latest period whose last day is on or before as_of."""
    current = period_containing(kind, as_of)
    return current if current.end == as_of else previous_period(current)


def select_period(kind: str, as_of: dt.date, first_activity: dt.date | None) -> Selection:
    """The latest period ended on or before as_of, when the data reaches back into it;
    otherwise (nothing has ended in the data yet) the current period up to as_of."""
    ended = latest_ended(kind, as_of)
    if first_activity is not None and first_activity <= ended.end:
        return Selection(ended, ended.end, True)
    current = period_containing(kind, as_of)
    return Selection(current, as_of, as_of == current.end)


def to_date(kind: str, as_of: dt.date) -> Selection:
    """The period containing as_of, up to as_of (what the consumer snapshots after batches)."""
    current = period_containing(kind, as_of)
    return Selection(current, as_of, as_of == current.end)
