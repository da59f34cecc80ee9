"""The reporting consumer group: ledger postings, suspense and accounts into the aggregates."""
from __future__ import annotations

from typing import Any, Sequence

from rentflow_common.consumer import Handler
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg

from rentflow_reporting.service_layer.handlers import ACCOUNTS, SUSPENSE, TRANSACTIONS, apply_ledger_events
from rentflow_reporting.service_layer.scheduler import SnapshotScheduler

GROUP_ID = "reporting"
TOPICS = [ACCOUNTS, TRANSACTIONS, SUSPENSE]
# the handler reads these events' attributes only: they may come as msgspec Structs (BatchConsumer `fast`)
FAST = tuple(TOPICS)


def handlers(scheduler: SnapshotScheduler | None) -> dict[str, Handler]:
    """One handler for the three topics: it takes a batch's events together, in fetch order."""
    async def handle(uow: UnitOfWork, msgs: Sequence[Msg[Any]]) -> None:
        await apply_ledger_events(uow, msgs)
        if scheduler is not None:
            scheduler.mark_dirty()

    return {topic: handle for topic in TOPICS}
