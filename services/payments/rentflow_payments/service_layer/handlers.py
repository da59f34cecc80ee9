"""Intake commands. Every side effect of a command is here: the rows it writes and the events it
emits in the caller's unit of work (the caller commits; the outbox relay publishes)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, NamedTuple, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, instant
from rentflow_common.logging import get_logger
from rentflow_schemas.payments import PaymentReceived

from rentflow_payments.adapters import repository as repo
from rentflow_payments.domain import events
from rentflow_payments.domain.model import Payment

log = get_logger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


class Outcome(NamedTuple):  # a tuple: one per payment of a request, a quarter of a frozen dataclass's cost
    provider_ref: str
    payment_id: uuid.UUID
    status: str  # accepted | duplicate


_tuple = tuple.__new__  # a NamedTuple made without its __new__ (a Python call per payment)


class IdempotencyKeyTaken(Exception):
    """Another request stored a response under the same Idempotency-Key first."""


async def take_in(uow: UnitOfWork, provider_id: str, payments: Sequence[Payment], *, source: events.Source,
                  import_id: uuid.UUID | None, correlation_id: str, received_at: datetime) -> list[Outcome]:
    """Stores the payments this provider has not sent before and emits one PaymentReceived for
    each, in the caller's transaction. A provider_ref seen before (earlier, or earlier in the same
    request) is a duplicate: it answers with the first payment's id and emits nothing. So each
    PaymentReceived is emitted once, by the commit of its payments row: the outbox need not check
    it for a duplicate (`once`).
    A few statements whatever the number of payments: a COPY into payments (in a savepoint; again by
    INSERT ... ON CONFLICT when a payment is known already, or for a few payments), COPY into the outbox."""
    firsts: dict[str, Payment] = {}
    for p in payments:
        firsts.setdefault(p.provider_ref, p)
    refs = sorted(firsts)  # the refs sort as they are, with no key function called per payment
    ids = dict(zip(refs, events.payment_ids(provider_id, refs)))
    rows: list[repo.PaymentRow] = []
    for ref, pid in ids.items():
        p = firsts[ref]
        # channel: a StrEnum, written as its text; match_ref: events.optional_field, inlined
        rows.append(_tuple(repo.PaymentRow, (pid, ref, p.channel, p.amount_pence, p.currency, p.paid_at,
                                             p.reference, p.payer_name, p.__dict__.get("match_ref"))))
    new = await repo.insert_payments(uow.raw, rows, provider_id=provider_id, received_at=received_at,
                                     source=source, import_id=import_id, correlation_id=correlation_id)
    cause = Cause(None, correlation_id)
    emit = uow.emitter(PaymentReceived, once=True)  # only with its new payments row: never twice
    at = instant(received_at)  # each event carries it twice (occurred_at, received_at): serialised once
    received_data = events.received_data_of(provider_id=provider_id, received_at=at, source=source, imp=import_id)
    for ref in refs:
        if ref in new:
            pid = ids[ref]
            emit(received_data(firsts[ref], pid), (pid,), events.received_key(provider_id, ref), cause, at)
    outcomes = []
    for p in payments:
        ref = p.provider_ref
        if ref in new:
            new.discard(ref)  # a repeat within the request is a duplicate of the first
            outcomes.append(_tuple(Outcome, (ref, ids[ref], ACCEPTED)))
        else:
            outcomes.append(_tuple(Outcome, (ref, ids[ref], DUPLICATE)))
    return outcomes


@dataclass(frozen=True)
class IdempotencyClaim:
    key: str
    request_sha256: bytes
    path: str


async def push(uow: UnitOfWork, provider_id: str, payments: Sequence[Payment], *, received_at: datetime,
               render: Callable[[list[Outcome]], bytes], status_code: int,
               idempotency: IdempotencyClaim | None = None) -> bytes:
    """A provider's push (one payment or a batch); returns the rendered answer, stored under the
    Idempotency-Key in the same transaction when one was given."""
    outcomes = await take_in(uow, provider_id, payments, source="push", import_id=None,
                             correlation_id=uow.correlation_id, received_at=received_at)
    body = render(outcomes)
    if idempotency is not None and not await repo.claim_idempotency_key(
            uow.raw, provider_id, idempotency.key, idempotency.request_sha256, idempotency.path,
            status_code, body):
        raise IdempotencyKeyTaken(idempotency.key)
    return body
