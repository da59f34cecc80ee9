"""The intake side of the control total (accepted = ledger posted + in suspense): what intake
accepted, per business day (Europe/London date of paid_at, as the ledger books it) and channel."""
from __future__ import annotations

import datetime as dt
from typing import Any

DAY = "(paid_at at time zone 'Europe/London')::date"


async def accepted_totals(raw: Any, day: dt.date | None) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        f"select {DAY} as day, channel, count(*) as count, coalesce(sum(amount_pence), 0)::bigint as pence "
        f"from payments where ($1::date is null or {DAY} = $1) group by 1, 2 order by 1, 2", day)
    return [{"day": r["day"].isoformat(), "channel": r["channel"], "count": r["count"], "pence": r["pence"]}
            for r in rows]


async def accepted_items(raw: Any, day: dt.date, channel: str) -> list[tuple[str, int]]:
    """(payment_id, pence) of one day and channel: asked for only where the totals differ."""
    rows = await raw.fetch(f"select payment_id, amount_pence from payments where {DAY} = $1 and channel = $2 "
                           "order by payment_id", day, channel)
    return [(str(r["payment_id"]), r["amount_pence"]) for r in rows]
