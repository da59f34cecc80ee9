"""What the ledger consumes: group "ledger", topic → batch handler, in the order a batch's
messages are handed to them: payments first, so a return or reversal in the same batch finds the
payment it reverses, then reversals (one handler takes both topics: it knows before it locks
anything whether reversals follow), DD returns, mandate instructions. A reversal that arrived
before its payment (another partition or topic) is kept pending and applied once the payment is taken.

This is the edge: each event becomes the ledger's command (service_layer/commands.py) and the
consumer's unit of work the ledger's (repositories + emit); the consumer commits."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from rentflow_common.consumer import Handler
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_ledger.domain.references import CheckScheme
from rentflow_ledger.service_layer.commands import ChangeMandate, ReturnDirectDebit, ReversePayment, TakePayment
from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.lumps import handle_payout_deductions, record_cash_detail, settle_cash_book
from rentflow_ledger.service_layer.benefits import handle_benefit_recovered
from rentflow_ledger.service_layer.outgoing import handle_outgoing_returned
from rentflow_ledger.service_layer.receipts import post_receipts, untaken
from rentflow_ledger.service_layer.reversals import apply_pending, handle_payments_reversed
from rentflow_ledger.service_layer.unit_of_work import SqlLedgerUnitOfWork
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction
from rentflow_schemas.payments import PaymentReceived, PaymentReversed

GROUP_ID = "ledger"


def handlers(scheme: CheckScheme | None) -> dict[str, Handler]:
    async def payments_and_reversals(uow: UnitOfWork, msgs: Sequence[Msg[Any]]) -> None:
        """Both topics' messages of a batch (in fetch order): the payments first, then the reversals.
        payment_reversals is locked before any account (see the adapter), and at once as strongly as
        the reversals will need: going from the payments' lock to theirs, two members would deadlock."""
        ledger = SqlLedgerUnitOfWork(uow)
        # `type() is`: pydantic's isinstance costs 0.1 µs a message
        reversals = [m for m in msgs if type(m.data) is PaymentReversed]
        received = [m for m in msgs if type(m.data) is not PaymentReversed] if reversals else msgs
        if received:
            if reversals:
                await ledger.reversals.lock_against_payments()
            else:
                await ledger.reversals.lock_against_new_reversals()  # payments batches do not wait for each other
            await payments(ledger, received)
        if reversals:
            await reversed_(ledger, reversals)

    async def payments(ledger: SqlLedgerUnitOfWork, msgs: Sequence[Msg[PaymentReceived]]) -> None:
        commands = TakePayment.many(msgs)
        now = dt.datetime.now(dt.timezone.utc)
        # a statement lump sum is not rent: the cash book matches it to its detail (service_layer/lumps.py)
        receipts = await untaken(ledger, [c for c in commands if c.payment.lump is None])
        # the cash book's detail first: it needs no account locked, and the receipts lock theirs until commit
        channels = await record_cash_detail(ledger, receipts, now, untaken=True)
        await post_receipts(ledger, receipts, scheme=scheme)
        await apply_pending(ledger, [m.data.payment_id for m in msgs if m.data.lump is None])
        await settle_cash_book(ledger, commands, channels, now)
        lumps = [m.data.payment_id for m in msgs if m.data.lump is not None]
        if lumps:  # a bank reversal of a lump that came before the lump itself
            await apply_pending(ledger, lumps)

    async def dd_returned(uow: UnitOfWork, msgs: Sequence[Msg[DirectDebitReturned]]) -> None:
        await handle_dd_returned(SqlLedgerUnitOfWork(uow), [ReturnDirectDebit.of(m) for m in msgs])

    async def mandates(uow: UnitOfWork, msgs: Sequence[Msg[MandateInstruction]]) -> None:
        await handle_mandate_instructions(SqlLedgerUnitOfWork(uow), [ChangeMandate.of(m) for m in msgs])

    async def reversed_(ledger: SqlLedgerUnitOfWork, msgs: Sequence[Msg[PaymentReversed]]) -> None:
        commands = [ReversePayment.of(m) for m in msgs]
        # first: new reversals lock payment_reversals before anything else is locked (see the adapter)
        await handle_payments_reversed(ledger, [c for c in commands
                                                if c.reversal.kind not in ("outgoing_returned", "benefit_recovered")])
        await handle_payout_deductions(ledger, commands)  # a refund or dispute taken out of a card payout
        await handle_benefit_recovered(ledger, [c for c in commands if c.reversal.kind == "benefit_recovered"])
        # money we paid out came back: the refund it was is credited back (service_layer/outgoing.py)
        await handle_outgoing_returned(ledger, [c for c in commands if c.reversal.kind == "outgoing_returned"])

    return {"payments.received.v1": payments_and_reversals,
            "directdebit.returned.v1": dd_returned,
            "directdebit.mandates.v1": mandates,
            "payments.reversed.v1": payments_and_reversals}


TOPICS = list(handlers(None))
# payments are read by attribute only: they may come as msgspec Structs (BatchConsumer `fast`); reversals
# stay pydantic models (`type(m.data) is PaymentReversed` above tells the two topics apart)
FAST = ("payments.received.v1",)
# a batch of payments only starts while the one before it (payments only) commits: its handlers already
# work beside another member's payments batch (the accounts, the cash book's lock and payment_reversals'
# locks order them; a payment taken by both fails the later one's unique keys, which then waits its turn)
OVERLAP = ("payments.received.v1",)
