"""The inbox: event ids a consumer group has processed, recorded in the same transaction as the
effects, for messages that carry no outbox sequence (rentflow_common.progress covers the rest)."""
from __future__ import annotations

import uuid
from typing import Any, Iterable


async def claim_new(raw_conn: Any, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Records the ids and returns those not seen before (inside the caller's transaction)."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    rows = await raw_conn.fetch(
        "insert into inbox (event_id) select unnest($1::uuid[]) on conflict do nothing returning event_id", ids
    )
    return {r["event_id"] for r in rows}
