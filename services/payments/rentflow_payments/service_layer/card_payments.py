"""GOV.UK Pay card payments: one payment per `resource_id` however many deliveries, in any order.

- succeeded / captured / settled → the payment (provider_ref = resource_id, channel card, paid at
  the resource's created_date), once;
- refunded → the payment too if not yet known (it must have succeeded to be refunded), then a
  refund (`payments.reversed.v1`, kind refund: the ledger posts `REF`) of what `refund_summary.
  amount_submitted` (the total refunded so far) adds to what was refunded before — so repeats and
  late arrivals of earlier refunds add nothing, and the total never exceeds the payment;
- started → nothing yet; failed / expired / cancelled → recorded on the card payment, never posted
  (a payment that succeeded stays succeeded).
A delivery already handled (its webhook_message_id) changes nothing. The card payment's row is
locked while an event is handled, so concurrent deliveries of one payment queue behind each other."""
from __future__ import annotations

import uuid
from datetime import datetime

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause
from rentflow_common.money import pounds
from rentflow_common.logging import get_logger

from rentflow_payments.adapters import repository as repo
from rentflow_payments.domain import events
from rentflow_payments.domain.card_events import ENDED, REFUNDED, STARTED, SUCCEEDED, CardEvent
from rentflow_payments.domain.model import PaymentIn
from rentflow_payments.service_layer.handlers import ACCEPTED, take_in
from rentflow_schemas.payments import PaymentReversed

log = get_logger(__name__)

ACCEPTED_OUTCOME, DUPLICATE, RECORDED, IGNORED = "accepted", "duplicate", "recorded", "ignored"


async def apply(uow: UnitOfWork, provider_id: str, ev: CardEvent, *, source: events.Source,
                import_id: uuid.UUID | None, correlation_id: str, received_at: datetime) -> tuple[str, uuid.UUID]:
    """(outcome, payment_id) of one delivery, in the caller's transaction."""
    raw = uow.raw
    pid = events.payment_id(provider_id, ev.resource_id)
    if not await repo.claim_webhook_message(raw, ev.webhook_message_id, ev.resource_id, ev.event_type, received_at):
        return DUPLICATE, pid
    card = await repo.lock_card_payment(raw, ev.resource_id, provider_id, received_at)
    kind = ev.event_type
    if kind in SUCCEEDED or kind == REFUNDED:
        payment = PaymentIn(provider_ref=ev.resource_id, channel="card", amount_pence=ev.resource.amount,
                            paid_at=ev.resource.created_date or ev.created_date, reference=ev.resource.reference,
                            fee_pence=ev.resource.fee if ev.resource.fee is not None
                            and ev.resource.fee <= ev.resource.amount else None)
        [outcome] = await take_in(uow, provider_id, [payment], source=source, import_id=import_id,
                                  correlation_id=correlation_id, received_at=received_at)
        refunded = card["refunded_pence"]
        fresh = outcome.status == ACCEPTED
        if kind == REFUNDED:
            target = min(ev.resource.refund_summary.amount_submitted if ev.resource.refund_summary else 0,
                         ev.resource.amount)
            if target > refunded:
                await _refund(uow, provider_id, ev, pid, target - refunded, target, source=source,
                              import_id=import_id, correlation_id=correlation_id, received_at=received_at)
                refunded, fresh = target, True
        await repo.update_card_payment(raw, ev.resource_id, state="succeeded", amount=ev.resource.amount,
                                       refunded=refunded, at=received_at)
        return (ACCEPTED_OUTCOME if fresh else DUPLICATE), pid
    if kind == STARTED or kind in ENDED:
        if card["state"] != "succeeded" and kind in ENDED:
            await repo.update_card_payment(raw, ev.resource_id, state=ENDED[kind], amount=ev.resource.amount,
                                           refunded=card["refunded_pence"], at=received_at)
        return RECORDED, pid
    log.info("govuk_pay.event_ignored", event_type=kind, resource_id=ev.resource_id)
    return IGNORED, pid


async def _refund(uow: UnitOfWork, provider_id: str, ev: CardEvent, pid: uuid.UUID, amount: int, total: int, *,
                  source: events.Source, import_id: uuid.UUID | None, correlation_id: str,
                  received_at: datetime) -> None:
    rid = events.reversal_id(provider_id, f"govuk-pay-refund|{ev.resource_id}|{total}")
    reason = f"GOV.UK Pay refund (refunded {pounds(total)} of {pounds(ev.resource.amount)})"
    new = await repo.insert_reversals(uow.raw, [(rid, provider_id, pid, "refund", amount, ev.created_date,
                                                 reason, source, import_id, received_at)])
    if new:
        uow.emit(PaymentReversed(
            reversal_id=rid, payment_id=pid, provider_id=provider_id, provider_ref=ev.resource_id,
            kind="refund", amount_pence=amount, reversed_at=ev.created_date, reason=reason, source=source,
            import_id=import_id, received_at=received_at), cause=Cause(None, correlation_id), occurred_at=received_at)
