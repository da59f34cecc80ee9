"""Rent weeks (DOMAIN.md §2): weekly tenancies are charged per rent week starting Monday.

A week is charged when its Monday is after the balance date (the opening balance covers
everything up to it), on or after the tenancy start, on or before the run's `through` date
and on or before the tenancy end. A tenancy that starts mid-week is therefore charged from
the first Monday on or after its start: the part week before it is not charged (a pro-rata
part-week charge is a later refinement, issue #4). A tenancy ending mid-week is charged the
full week in which it ends."""
from __future__ import annotations

import datetime as dt


def monday_on_or_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def default_balance_date(tenancy_start: dt.date) -> dt.date:
    return tenancy_start - dt.timedelta(days=1)


def first_rent_week(tenancy_start: dt.date, balance_date: dt.date | None) -> dt.date:
    bd = balance_date if balance_date is not None else default_balance_date(tenancy_start)
    return monday_on_or_after(max(tenancy_start, bd + dt.timedelta(days=1)))


def rent_weeks(tenancy_start: dt.date, tenancy_end: dt.date | None, balance_date: dt.date | None,
               through: dt.date) -> list[dt.date]:
    """The Mondays of every rent week due up to `through` (the same rule the SQL debit run uses)."""
    week = first_rent_week(tenancy_start, balance_date)
    last = min(through, tenancy_end) if tenancy_end else through
    weeks = []
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(days=7)
    return weeks
