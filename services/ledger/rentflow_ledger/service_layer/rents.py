"""Rent-free weeks and the year-end uprating (docs/domain.md §2, §4).

Uprating records one rent change per current tenancy (tenancy not ended before the effective
date) in rent_changes, keyed by account and effective date (so running it twice changes
nothing and emits nothing), and emits RentChanged for each new one (notifications turns them
into rent review notices). The account's own weekly rent is left as imported: the debit run
takes each week's rent from the history (domain/rent_weeks.py), so the new rent is charged
from the effective date and not before. The old rent is the rent in force on the effective
date (the latest earlier change, else the account's)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rentflow_common.events import Cause
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.posting import LONDON
from rentflow_ledger.domain.rent_weeks import rent_week, weeks_in_rent_year
from rentflow_ledger.domain.uprating import check_effective, parse_percent, uprated
from rentflow_ledger.domain.adjustments import Refused
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork

UTC = dt.timezone.utc


async def set_rent_free_weeks(uow: LedgerUnitOfWork, rent_year: int, weeks: list[int]) -> dict[str, Any]:
    total = weeks_in_rent_year(rent_year)
    bad = [w for w in weeks if not 1 <= w <= total]
    if bad:
        raise Refused(f"weeks: rent year {rent_year}/{(rent_year + 1) % 100:02d} has weeks 1–{total}, got {bad}", 422)
    await uow.rents.set_rent_free_weeks(rent_year, sorted(set(weeks)))
    return {"rent_year": rent_year, "weeks": sorted(set(weeks)), "weeks_in_year": total}


async def uprate(uow: LedgerUnitOfWork, percent_text: str | int | float, effective: dt.date, *, notice_days: int = 28,
                 service_days: int = 7) -> dict[str, Any]:
    """`notice_days`: the legal notice period; `service_days`: time to serve the notices before it."""
    now = dt.datetime.now(UTC)
    percent = parse_percent(percent_text)
    check_effective(effective, now.astimezone(LONDON).date(), notice_days, service_days)
    rows = await uow.rents.in_force(effective)
    year, _ = rent_week(effective)
    reason = f"annual uprating {percent.normalize():f}% from {effective} (rent year {year}/{(year + 1) % 100:02d})"
    changes = [(r["account_ref"], derive_event_id("rent-change", r["account_ref"], effective.isoformat()), r["rent"],
                uprated(r["rent"], percent), r["charges"]) for r in rows]
    inserted = await uow.rents.add_changes(effective, changes, reason, now)
    by_ref = {r["account_ref"]: r for r in rows}
    cause = Cause(None, f"rents-uprate:{effective}:{percent}")
    old_total = new_total = 0
    for ref, change_id, old, new, charges in changes:
        if ref not in inserted:
            continue
        old_total += old
        new_total += new
        r = by_ref[ref]
        events.rent_changed(uow, {
            "change_id": change_id, "account_ref": ref, "tenant_name": r["tenant_name"], "property": r["property"],
            "patch": r["patch"], "old_weekly_rent_pence": old, "new_weekly_rent_pence": new,
            "old_weekly_charges_pence": charges, "new_weekly_charges_pence": charges, "effective_date": effective,
            "payment_method": r["payment_method"], "reason": reason, "occurred_at": now}, cause)
    return {"percent": f"{percent.normalize():f}", "effective": effective.isoformat(), "changed": len(inserted),
            "unchanged": len(changes) - len(inserted), "old_weekly_pence": old_total, "new_weekly_pence": new_total}
