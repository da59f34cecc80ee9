"""Rent weeks and what each one charges (docs/domain.md §2).

- A rent week runs Monday–Sunday. Rent year Y (Y/Y+1) starts on the first Monday on or after
  1 April Y; weeks are numbered 1, 2, … within it: 52, or 53 when the April–March year has 53
  Mondays.
- A week is due when any of its days is charged: a day is charged when it is after the balance
  date (the opening balance covers everything up to it), on or after the tenancy start, on or
  before the tenancy end and on or before the run's `through` date's week (a week is raised
  when its Monday is on or before `through`).
- Part weeks: a week with only some days charged (tenancy starting or ending mid-week, or a
  mid-week balance date) is charged weekly × days / 7, rounded half up to the penny; the debit
  is dated, like every debit, on the week's Monday. (The docs/contract.md's "debits are raised for rent
  weeks starting after the balance date" is the case of a balance date on a Sunday.)
- Rent-free weeks (configured per rent year by week number) carry no debit at all.
- The weekly amounts come from the rent history: the latest change effective on or before the
  week's Monday, else the account's own weekly rent and charges (a change effective mid-week
  applies from the next Monday).
- One debit per account, charge code and week (the unique index makes re-runs charge nothing)."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Mapping, NamedTuple, Sequence

ONE_DAY = dt.timedelta(days=1)
ONE_WEEK = dt.timedelta(days=7)


def monday_on_or_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def default_balance_date(tenancy_start: dt.date) -> dt.date:
    return tenancy_start - ONE_DAY


def rent_year_start(year: int) -> dt.date:
    return monday_on_or_after(dt.date(year, 4, 1))


def rent_week(monday: dt.date) -> tuple[int, int]:
    """(rent year, week number) of the week starting on `monday`: rent year 2026 is 2026/27."""
    year = monday.year if monday >= rent_year_start(monday.year) else monday.year - 1
    return year, (monday - rent_year_start(year)).days // 7 + 1


def weeks_in_rent_year(year: int) -> int:
    return (rent_year_start(year + 1) - rent_year_start(year)).days // 7


def pro_rata(weekly: int, days: int) -> int:
    """weekly × days / 7, rounded half up to the penny."""
    if days == 7:
        return weekly
    return int((Decimal(weekly) * days / 7).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def first_rent_week(tenancy_start: dt.date, balance_date: dt.date | None) -> dt.date:
    """The Monday of the first week with a charged day."""
    bd = balance_date if balance_date is not None else default_balance_date(tenancy_start)
    return monday_of(max(tenancy_start, bd + ONE_DAY))


def charged_days(monday: dt.date, tenancy_start: dt.date, tenancy_end: dt.date | None,
                 balance_date: dt.date) -> int:
    first = max(monday, tenancy_start, balance_date + ONE_DAY)
    last = min(monday + dt.timedelta(days=6), tenancy_end) if tenancy_end else monday + dt.timedelta(days=6)
    return max(0, (last - first).days + 1)


def rent_weeks(tenancy_start: dt.date, tenancy_end: dt.date | None, balance_date: dt.date | None,
               through: dt.date) -> list[dt.date]:
    """The Mondays of every rent week with a charged day, up to `through`."""
    bd = balance_date if balance_date is not None else default_balance_date(tenancy_start)
    week = first_rent_week(tenancy_start, bd)
    last = min(through, tenancy_end) if tenancy_end else through
    weeks = []
    while week <= last:
        if charged_days(week, tenancy_start, tenancy_end, bd) > 0:
            weeks.append(week)
        week += ONE_WEEK
    return weeks


class Rates(NamedTuple):
    effective: dt.date
    rent: int
    charges: int


def rates_for(monday: dt.date, history: Sequence[Rates], rent: int, charges: int) -> tuple[int, int]:
    """`history` sorted by effective date: the latest change effective on or before `monday`."""
    current = (rent, charges)
    for r in history:
        if r.effective <= monday:
            current = (r.rent, r.charges)
        else:
            break
    return current


class Due(NamedTuple):
    week_start: dt.date
    code: str
    amount: int


def charged_weeks(tenancy_start: dt.date, tenancy_end: dt.date | None, balance_date: dt.date, through: dt.date,
                  rent_free: Mapping[int, Iterable[int]] | None = None) -> list[tuple[dt.date, int]]:
    """(Monday, charged days) of every rent week due up to `through`, rent-free weeks left out:
    the same for every account with the same tenancy dates (the debit run computes it once for them)."""
    free = {year: set(weeks) for year, weeks in (rent_free or {}).items()}
    out = []
    for monday in rent_weeks(tenancy_start, tenancy_end, balance_date, through):
        year, number = rent_week(monday)
        if number in free.get(year, ()):
            continue
        out.append((monday, charged_days(monday, tenancy_start, tenancy_end, balance_date)))
    return out


def debits_of(weeks: Sequence[tuple[dt.date, int]], rent: int, charges: int, *, history: Sequence[Rates] = (),
              rent_code: str = "DBR", charges_code: str = "DSC") -> list[Due]:
    """The debits of these charged weeks (`charged_weeks`) for one account's rent and charges."""
    out: list[Due] = []
    for monday, days in weeks:
        weekly_rent, weekly_charges = rates_for(monday, history, rent, charges) if history else (rent, charges)
        for code, weekly in ((rent_code, weekly_rent), (charges_code, weekly_charges)):
            amount = weekly if days == 7 else pro_rata(weekly, days)
            if amount > 0:
                out.append(Due(monday, code, amount))
    return out


def due_debits(tenancy_start: dt.date, tenancy_end: dt.date | None, balance_date: dt.date, through: dt.date,
               rent: int, charges: int, *, history: Sequence[Rates] = (),
               rent_free: Mapping[int, Iterable[int]] | None = None, rent_code: str = "DBR",
               charges_code: str = "DSC") -> list[Due]:
    """Every debit due up to `through` for one account (before removing those already raised)."""
    return debits_of(charged_weeks(tenancy_start, tenancy_end, balance_date, through, rent_free), rent, charges,
                     history=history, rent_code=rent_code, charges_code=charges_code)


def parse_rent_free(text: str | None) -> dict[int, set[int]]:
    """env RENTFLOW_RENT_FREE_WEEKS: '2026:1,38,39,52;2027:1,52' → {2026: {1, 38, 39, 52}, 2027: {1, 52}}."""
    out: dict[int, set[int]] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        year, _, weeks = part.partition(":")
        try:
            out[int(year)] = {int(w) for w in weeks.split(",") if w.strip()}
        except ValueError:
            raise ValueError(f"RENTFLOW_RENT_FREE_WEEKS: expected 'YEAR:W,W;YEAR:W', got {part!r}") from None
    return out
