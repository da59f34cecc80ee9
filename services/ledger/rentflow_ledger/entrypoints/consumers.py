"""What the ledger consumes: group "ledger", topic → batch handler, in the order a batch's
messages are handed to them: payments first, so a return or reversal in the same batch finds the
payment it reverses. A reversal that arrived before its payment (another partition or topic) is
kept pending and applied once the payment is taken."""
from __future__ import annotations

from typing import Sequence

from rentflow_common.consumer import Handler
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_ledger.domain.references import CheckScheme
from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.receipts import handle_payments_received
from rentflow_ledger.service_layer.reversals import apply_pending, handle_payments_reversed
from rentflow_schemas.directdebit import DirectDebitReturned
from rentflow_schemas.payments import PaymentReceived

GROUP_ID = "ledger"


def handlers(scheme: CheckScheme | None) -> dict[str, Handler]:
    async def handle_payments(uow: UnitOfWork, msgs: Sequence[Msg[PaymentReceived]]) -> None:
        await handle_payments_received(uow, msgs, scheme=scheme)
        await apply_pending(uow, [m.data.payment_id for m in msgs])

    async def handle_returns(uow: UnitOfWork, msgs: Sequence[Msg[DirectDebitReturned]]) -> None:
        # a cancelled indemnity claim is not another unpaid (the cash book credits it back)
        await handle_dd_returned(uow, [m for m in msgs if m.data.cancels_return_id is None])

    return {"payments.received.v1": handle_payments,
            "directdebit.returned.v1": handle_returns,
            "directdebit.mandates.v1": handle_mandate_instructions,
            "payments.reversed.v1": handle_payments_reversed}


TOPICS = list(handlers(None))
