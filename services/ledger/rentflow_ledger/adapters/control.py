"""The ledger side of the control total (intake accepted = ledger posted + in suspense): every
payment the ledger took in, once per posting of it: a receipt posted to a rent account (also one
allocated by hand from suspense, counted on the day it was paid), or a suspense item never
allocated (open, or closed by a reversal), or a statement lump sum (the cash book took it: matched to
its detail or waiting as a finance item; never posted, so never counted twice, and counted in
`lumps` too: reporting never sees them). Per business day (Europe/London date of paid_at) and
channel."""
from __future__ import annotations

import datetime as dt
from typing import Any

TAKEN = """
    select t.payment_id, coalesce(s.business_date, t.business_date) as day, t.channel, -t.amount_pence as pence,
           false as lump
    from transactions t left join suspense s on s.payment_id = t.payment_id
    where t.payment_id is not null and t.amount_pence < 0
    union all
    select payment_id, business_date, channel, amount_pence, false from suspense where transaction_id is null
    union all
    select payment_id, value_date, channel, amount_pence, true from lumps"""


async def ledger_totals(raw: Any, day: dt.date | None) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        f"""with taken as ({TAKEN}),
                 by_payment as (select payment_id, day, channel, count(*) as n, sum(pence) as pence,
                                       bool_or(lump) as lump from taken
                                where $1::date is null or day = $1 group by 1, 2, 3)
            select day, channel, sum(n)::bigint as count, coalesce(sum(pence), 0)::bigint as pence,
                   (count(*) filter (where lump))::bigint as lumps,
                   coalesce(array_agg(payment_id order by payment_id) filter (where n > 1), '{{}}') as doubled
            from by_payment group by 1, 2 order by 1, 2""", day)
    return [{"day": r["day"].isoformat(), "channel": r["channel"], "count": r["count"], "pence": r["pence"],
             "lumps": r["lumps"], "doubled": [str(p) for p in r["doubled"]]} for r in rows]


async def ledger_items(raw: Any, day: dt.date, channel: str) -> list[tuple[str, int]]:
    """(payment_id, pence) of one day and channel, a payment twice if it was taken twice."""
    rows = await raw.fetch(f"with taken as ({TAKEN}) select payment_id, pence from taken "
                           "where day = $1 and channel = $2 order by payment_id", day, channel)
    return [(str(r["payment_id"]), r["pence"]) for r in rows]
