"""The reporting consumer group: ledger postings, suspense and accounts into the aggregates."""
from __future__ import annotations

from typing import Sequence

from rentflow_common.consumer import Handler, Incoming
from rentflow_common.db import UnitOfWork

from rentflow_reporting.service_layer.handlers import ACCOUNTS, SUSPENSE, TRANSACTIONS, apply_ledger_events
from rentflow_reporting.service_layer.scheduler import SnapshotScheduler

GROUP_ID = "reporting"
TOPICS = [TRANSACTIONS, SUSPENSE, ACCOUNTS]


def ledger_events_handler(scheduler: SnapshotScheduler | None) -> Handler:
    async def handle(uow: UnitOfWork, items: Sequence[Incoming]) -> None:
        await apply_ledger_events(uow, items)
        if scheduler is not None:
            scheduler.mark_dirty()

    return handle
