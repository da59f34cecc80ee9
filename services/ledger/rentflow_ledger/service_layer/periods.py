"""Closing a month (docs/domain.md §6): from the commit on, no posting lands in it; items dated in it
post to the next open period keeping their value date (domain/periods.py). Closing updates the
ledger state row, so it waits for the batches in flight (they read the row FOR SHARE) and every
later one sees the period closed."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork


class AlreadyClosed(RuntimeError):
    pass


async def close_period(uow: LedgerUnitOfWork, period: str, by: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    await uow.periods.lock_for_close()
    row = await uow.periods.closed(period)
    if row is not None:
        raise AlreadyClosed(f"period {period} was already closed by {row['closed_by']} at {row['closed_at'].isoformat()}")
    await uow.periods.close(period, now, by)
    return {"period": period, "closed_at": now.isoformat(), "closed_by": by}


async def list_periods(uow: LedgerUnitOfWork) -> list[dict[str, Any]]:
    return [{"period": r["period"], "closed_at": r["closed_at"].isoformat(), "closed_by": r["closed_by"]}
            for r in await uow.periods.list()]
