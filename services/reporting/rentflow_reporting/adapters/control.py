"""Reporting's side of the control total: the payments it counted as collected, per business day
and channel (daily_totals, metric `collected`: identified receipts and suspense receipts on the day
they were paid, each counted once; reversals and unpaids take money off without a count). The
count must equal the ledger's (`rentflow payments reconcile` checks it); the pence are net of what
went back, so they are shown, not compared."""
from __future__ import annotations

import datetime as dt
from typing import Any


async def collected_totals(raw: Any, day: dt.date | None) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        "select business_date as day, key as channel, sum(count)::bigint as count, sum(amount_pence)::bigint as pence "
        "from daily_totals where metric = 'collected' and ($1::date is null or business_date = $1) "
        "group by 1, 2 having sum(count) <> 0 or sum(amount_pence) <> 0 order by 1, 2", day)
    return [{"day": r["day"].isoformat(), "channel": r["channel"], "count": r["count"], "pence": r["pence"]}
            for r in rows]
