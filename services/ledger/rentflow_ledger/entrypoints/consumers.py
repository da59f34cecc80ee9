"""What the ledger consumes: group "ledger", topic → batch handler.

One consumer subscribes to all three topics (one group member, one join) and `handle` hands
each handler its part of the batch, in one transaction: payments first, so a return in the
same batch finds the collection it reverses."""
from __future__ import annotations

from typing import Sequence

from rentflow_common.consumer import Incoming
from rentflow_common.db import UnitOfWork
from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.receipts import handle_payments_received

GROUP_ID = "ledger"
HANDLERS = {"payments.received.v1": handle_payments_received,
            "directdebit.returned.v1": handle_dd_returned,
            "directdebit.mandates.v1": handle_mandate_instructions}
TOPICS = list(HANDLERS)


async def handle(uow: UnitOfWork, items: Sequence[Incoming]) -> None:
    """`Incoming.topic` is the topic name without the deployment's prefix."""
    if not items:
        return
    first = items[0].topic
    if all(i.topic == first for i in items):  # the usual case: one topic
        await HANDLERS[first](uow, items)
        return
    parts: dict[str, list[Incoming]] = {name: [] for name in HANDLERS}
    for item in items:
        parts[item.topic].append(item)
    for name, handler in HANDLERS.items():
        if parts[name]:
            await handler(uow, parts[name])
