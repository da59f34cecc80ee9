"""What the ledger consumes: group "ledger", topic → batch handler.

One consumer subscribes to all four topics (one group member, one join) and `handle` hands
each handler its part of the batch, in one transaction: payments first, so a return or reversal
in the same batch finds the payment it reverses. A reversal that arrived before its payment (another
partition or topic) is kept pending and applied once the payment is taken."""
from __future__ import annotations

from typing import Sequence

from rentflow_common.consumer import Incoming
from rentflow_common.db import UnitOfWork
from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.receipts import handle_payments_received
from rentflow_ledger.service_layer.reversals import apply_pending, handle_payments_reversed

GROUP_ID = "ledger"


async def handle_payments(uow: UnitOfWork, items: Sequence[Incoming]) -> None:
    await handle_payments_received(uow, items)
    await apply_pending(uow, [i.envelope.data.payment_id for i in items])


HANDLERS = {"payments.received.v1": handle_payments,
            "directdebit.returned.v1": handle_dd_returned,
            "directdebit.mandates.v1": handle_mandate_instructions,
            "payments.reversed.v1": handle_payments_reversed}
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
