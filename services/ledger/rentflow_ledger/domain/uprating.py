"""Year-end uprating (docs/domain.md §4): every current tenancy's weekly rent × (1 + P/100), rounded
half up to the penny, from an effective Monday given with at least the notice period."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from rentflow_common.inputs import MAX_WEEKLY_PENCE

from rentflow_ledger.domain.adjustments import Refused


def parse_percent(value: str | int | float) -> Decimal:
    try:
        p = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refused(f"percent: not a number: {value!r}", 422) from None
    if not p.is_finite() or p <= -100 or p > 100:
        raise Refused(f"percent: must be above -100 and at most 100, got {value}", 422)
    return p


def uprated(weekly: int, percent: Decimal) -> int:
    """The new weekly rent; Refused (422) when it would pass the most a weekly rent may be, so an
    uprating either changes every rent or none."""
    new = int((Decimal(weekly) * (1 + percent / 100)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if new > MAX_WEEKLY_PENCE:
        raise Refused(f"percent: {percent.normalize():f}% would take a weekly rent of £{weekly / 100:,.2f} above "
                      f"£{MAX_WEEKLY_PENCE // 100:,} (the most a weekly rent may be); nothing was changed", 422)
    return new


def check_effective(effective: dt.date, today: dt.date, notice_days: int, service_days: int = 7) -> None:
    """Rent weeks start on Monday; Housing Act 1985 s.102–103: at least four weeks (or one rental
    period if longer) after the notice is served — the notice period is configuration. A notice
    posted today is served some days later (notifications: two working days after posting, six
    calendar days over Christmas), so the effective date must also leave `service_days` for that:
    otherwise every notice would be refused while the debit run charged the new rent."""
    if effective.weekday() != 0:
        raise Refused(f"effective: must be a Monday (rent weeks start on Monday), got {effective:%A} {effective}", 422)
    earliest = today + dt.timedelta(days=notice_days + service_days)
    if effective < earliest:
        raise Refused(f"effective: {effective} is too soon for the {notice_days}-day notice period: notices posted "
                      f"today ({today}) take up to {service_days} days to be served; the earliest is {earliest}", 422)
