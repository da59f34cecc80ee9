"""Closing a month (docs/domain.md §6): from the commit on, no posting lands in it; items dated in it
post to the next open period keeping their value date (domain/periods.py). Closing updates the
ledger state row, so it waits for the batches in flight (they read the row FOR SHARE) and every
later one sees the period closed."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rentflow_common.db import UnitOfWork


class AlreadyClosed(RuntimeError):
    pass


async def close_period(uow: UnitOfWork, period: str, by: str) -> dict[str, Any]:
    raw = uow.raw
    now = dt.datetime.now(dt.timezone.utc)
    await raw.execute("select 1 from ledger_state where id = 1 for update")
    row = await raw.fetchrow("select period, closed_at, closed_by from periods where period = $1", period)
    if row is not None:
        raise AlreadyClosed(f"period {period} was already closed by {row['closed_by']} at {row['closed_at'].isoformat()}")
    await raw.execute("insert into periods (period, closed_at, closed_by) values ($1, $2, $3)", period, now, by)
    await raw.execute("update ledger_state set closed_periods = array_append(closed_periods, $1) where id = 1", period)
    return {"period": period, "closed_at": now.isoformat(), "closed_by": by}


async def list_periods(raw: Any) -> list[dict[str, Any]]:
    return [{"period": r["period"], "closed_at": r["closed_at"].isoformat(), "closed_by": r["closed_by"]}
            for r in await raw.fetch("select * from periods order by period")]
