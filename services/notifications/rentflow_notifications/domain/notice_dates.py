"""When a notice is served and whether it is in time (docs/domain.md §3, §4). Pure: the caller gives
"today" (the letter date) and the rules.

- Service: a letter posted first class is deemed served on the second working day after posting
  (CPR 6.26; the Interpretation Act 1978 s.7 presumption as the courts apply it), so by default
  served_on = the letter date + 2 working days. Configurable (0 for hand delivery).
- Secure tenancies, Housing Act 1985 s.103: the variation takes effect at least four weeks, or one
  rental period if longer, after service: effective_on >= served_on + max(28 days, one period).
- Assured tenancies, Housing Act 1988 s.13: a configurable number of months (docs/domain.md: one month
  under the old rules; social tenancies are outside the Renters' Rights Act's two months), and
  never less than one rental period.
- Direct Debit payers: the Direct Debit Guarantee wants an advance notice 10 working days before
  the first collection at the new amount. Notifications knows no collection schedule, so the first
  collection is taken to be on the effective date, the earliest it can be.
- DD re-presentation (code 0): the payer is told 5 working days before; the re-presentation date
  is the 5th working day after the letter is served, if that is no later than `represent_by`.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Literal

from rentflow_notifications.domain.working_days import add_working_days, is_working_day

Tenancy = Literal["secure", "assured"]
RentalPeriod = Literal["week", "fortnight", "four_weeks", "month"]
_PERIOD_DAYS = {"week": 7, "fortnight": 14, "four_weeks": 28}
_SEARCH_DAYS = 800  # how far back the "latest date that still works" searches go


@dataclass(frozen=True)
class NoticeRules:
    tenancy: Tenancy = "secure"
    rental_period: RentalPeriod = "week"
    assured_notice_months: int = 1
    service_working_days: int = 2
    dd_advance_working_days: int = 10
    represent_notice_working_days: int = 5

    def __post_init__(self) -> None:
        if self.tenancy not in ("secure", "assured"):
            raise ValueError(f"tenancy must be secure or assured, not {self.tenancy!r}")
        if self.rental_period not in ("week", "fortnight", "four_weeks", "month"):
            raise ValueError(f"rental_period must be week, fortnight, four_weeks or month, not {self.rental_period!r}")
        for name in ("assured_notice_months", "service_working_days", "dd_advance_working_days",
                     "represent_notice_working_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def one_period_after(day: dt.date, period: RentalPeriod) -> dt.date:
    return add_months(day, 1) if period == "month" else day + dt.timedelta(days=_PERIOD_DAYS[period])


def served_on(letter_date: dt.date, rules: NoticeRules) -> dt.date:
    """The day a letter dated (and posted) on `letter_date` is deemed served."""
    return add_working_days(letter_date, rules.service_working_days)


def earliest_effective(served: dt.date, rules: NoticeRules) -> dt.date:
    """The first day a rent change served on `served` may take effect."""
    period_end = one_period_after(served, rules.rental_period)
    if rules.tenancy == "secure":
        return max(served + dt.timedelta(days=28), period_end)
    return max(add_months(served, rules.assured_notice_months), period_end)


def statutory_rule(rules: NoticeRules) -> str:
    if rules.tenancy == "secure":
        return "Housing Act 1985 s.103: four weeks, or one rental period if longer, after service"
    months = rules.assured_notice_months
    return (f"Housing Act 1988 s.13 (assured): {months} month{'s' if months != 1 else ''}, and at least one "
            f"rental period, after service")


def dd_notice_in_time(served: dt.date, first_collection: dt.date, rules: NoticeRules) -> bool:
    return add_working_days(served, rules.dd_advance_working_days) <= first_collection


def _latest(ok: Callable[[dt.date], bool], before: dt.date) -> dt.date | None:
    """The latest day on or before `before` for which `ok` holds."""
    day = before
    for _ in range(_SEARCH_DAYS):
        if ok(day):
            return day
        day -= dt.timedelta(days=1)
    return None


@dataclass(frozen=True)
class RentNoticePlan:
    letter_date: dt.date
    served_on: dt.date
    effective_on: dt.date
    serve_by: dt.date | None  # the last day service still works (statute and, for DD payers, the DD notice)
    post_by: dt.date | None  # the last letter date whose deemed service is in time
    in_time: bool
    refusal: str | None  # why it cannot be served in time, in words


@lru_cache(maxsize=4096)  # a bulk run asks the same question thousands of times
def plan_rent_notice(letter_date: dt.date, effective_on: dt.date, *, dd_payer: bool,
                     rules: NoticeRules) -> RentNoticePlan:
    """Whether a notice of variation dated `letter_date` is in time for `effective_on`."""
    served = served_on(letter_date, rules)
    # the searches start where the answer can first be: a period is at least a week, and n working
    # days span at least n // 5 weeks
    statute_by = _latest(lambda s: earliest_effective(s, rules) <= effective_on,
                         effective_on - dt.timedelta(days=28 if rules.tenancy == "secure" else 7))
    dd_by = (_latest(lambda s: dd_notice_in_time(s, effective_on, rules),
                     effective_on - dt.timedelta(days=7 * (rules.dd_advance_working_days // 5)))
             if dd_payer else None)
    if statute_by is None or (dd_payer and dd_by is None):
        serve_by = None
    else:
        serve_by = min(statute_by, dd_by) if dd_by is not None else statute_by
    post_by = _latest(lambda d: served_on(d, rules) <= serve_by, serve_by) if serve_by else None
    problems = []
    if statute_by is None or served > statute_by:
        problems.append(f"{statutory_rule(rules)} means service by {statute_by}" if statute_by
                        else f"{statutory_rule(rules)} cannot be met")
    if dd_payer and (dd_by is None or served > dd_by):
        problems.append(f"the Direct Debit Guarantee's {rules.dd_advance_working_days} working days' advance "
                        f"notice before the first collection at the new amount (taken as {effective_on}) means "
                        f"service by {dd_by}")
    refusal = None
    if problems:
        refusal = (f"too late for a rent change effective {effective_on}: a letter dated {letter_date} is served "
                   f"on {served}; " + "; and ".join(problems))
    return RentNoticePlan(letter_date, served, effective_on, serve_by, post_by, not problems, refusal)


def representation_date(letter_date: dt.date, represent_by: dt.date | None, rules: NoticeRules) -> dt.date | None:
    """The day a returned DD (code 0) is collected again: the `represent_notice_working_days`-th working
    day after the letter is served, if that is no later than `represent_by`; else None (too late)."""
    if represent_by is None:
        return None
    day = add_working_days(served_on(letter_date, rules), rules.represent_notice_working_days)
    return day if day <= represent_by and is_working_day(day) else None
