"""What the ledger emits, from its domain objects, through the unit of work (`uow.emit`: the
registry gives topic, key and id; the schema models validate)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Callable, Iterable, Protocol

from pydantic import BaseModel

from rentflow_common.events import Cause, Deferred, instant, uuid_text
from rentflow_ledger.domain.posting import Journal, Transaction, period_of
from rentflow_schemas.directdebit import DdFailure, MandateChanged
from rentflow_schemas.ledger import AccountUpserted, EndedTenancyPayment, JournalPosted, SuspenseEvent, TransactionPosted
from rentflow_schemas.rents import RentChanged


class Emitter(Protocol):
    """What emits: a unit of work (the ledger's, in memory or on PostgreSQL) or
    rentflow_common.events.Emitter."""

    def emit(self, event: BaseModel, *, cause: Cause | None = None, identity: tuple[object, ...] | None = None,
             key: str | None = None, occurred_at: dt.datetime | None = None) -> uuid.UUID: ...

    def emit_data(self, model: type[BaseModel], data: dict[str, Any], *, identity: tuple[object, ...], key: str,
                  cause: Cause | None, occurred_at: dt.datetime) -> uuid.UUID: ...

    def deferred_many(self, model: type[BaseModel], field: str) -> Callable[..., list[Deferred]]: ...

    def complete(self, deferred: Deferred, value: int) -> None: ...


def transaction_posted(uow: Emitter, t: Transaction, posted_at: dt.datetime, cause: Cause | None) -> None:
    """One per posting: a Transaction's fields are already the event's types, so its data goes out as a
    plain dict (`emit_data`), keyed and identified as the registry says (tests/unit/test_events.py
    validates it and compares it with the model's encoding)."""
    uow.emit_data(TransactionPosted, _posted(t, posted_at), identity=(t.transaction_id,), key=t.account_ref,
                  cause=cause, occurred_at=posted_at)


Posting = tuple[uuid.UUID, str, str, int, dt.date, str, str, "str | None", "uuid.UUID | None", "str | None",
                "Cause | None"]


def postings_deferred_many(uow: Emitter, posted_at: dt.datetime, postings: Iterable[Posting]) -> list[Deferred]:
    """`transaction_posted` for the many postings of one batch (the receipts' hot path), made before their
    balances are known (their accounts not locked yet), each given as (transaction_id, account_ref, type_code,
    amount, business_date, period, source_ref, channel, payment_id, allocation_rule, cause): the time
    serialised once (`instant`), each posting's row made but for its balance_after_pence in one loop
    (`deferred_many`), which `uow.complete(deferred, balance)` adds once posted, so under the locks only the
    balance is written in. The same rows (tests/unit/test_events.py)."""
    at = instant(posted_at)
    return uow.deferred_many(TransactionPosted, "balance_after_pence")((
        ({"transaction_id": transaction_id, "account_ref": account_ref, "type_code": type_code, "amount_pence": amount,
          "balance_after_pence": 0, "posted_at": at, "business_date": business_date, "period": period,
          "source_ref": source_ref, "channel": channel, "payment_id": payment_id, "allocation_rule": allocation_rule,
          "week_start": None}, (transaction_id,), account_ref, cause)
        for (transaction_id, account_ref, type_code, amount, business_date, period, source_ref, channel, payment_id,
             allocation_rule, cause) in postings), at)


def _posted(t: Transaction, posted_at: Any) -> dict[str, Any]:
    """TransactionPosted's data, in the model's field order (`posted_at` a datetime or its `instant`)."""
    return {
        "transaction_id": t.transaction_id, "account_ref": t.account_ref, "type_code": t.type_code,
        "amount_pence": t.amount_pence, "balance_after_pence": t.balance_after_pence, "posted_at": posted_at,
        "business_date": t.business_date, "period": t.posting_period or period_of(t.business_date),
        "source_ref": t.source_ref, "channel": t.channel, "payment_id": t.payment_id,
        "allocation_rule": t.allocation_rule, "week_start": t.week_start}


def journal_posted(uow: Emitter, j: Journal, posted_at: dt.datetime, cause: Cause | None) -> None:
    """A debit run's journals carry a line per debit: built from the Journal's typed values, which
    balances (and has two lines or more) by construction, without validating them again."""
    uow.emit_data(JournalPosted, {
        "journal_id": j.journal_id, "business_date": j.business_date, "period": j.period, "posted_at": posted_at,
        "kind": j.kind, "source_ref": j.source_ref,
        "lines": [{"gl_code": x.gl_code, "debit_pence": x.debit_pence, "credit_pence": x.credit_pence,
                   "account_ref": x.account_ref} for x in j.lines]},
        identity=(j.journal_id,), key=j.source_ref, cause=cause, occurred_at=posted_at)


def suspense(uow: Emitter, data: dict[str, Any], at: dt.datetime, cause: Cause | None) -> None:
    """SuspenseEvent: an item opened, allocated or reversed (`data["action"]`)."""
    uow.emit(SuspenseEvent(**data), cause=cause, occurred_at=at)


def suspense_opened(uow: Emitter, payment: Any, business_date: dt.date, period: str, reason: str | None,
                    at: dt.datetime, cause: Cause | None) -> None:
    """`suspense` of an item opened for a payment received, on the hot path: the payment's values
    were validated with it, so they go out as a plain dict (`emit_data`), byte for byte the row
    `suspense` writes (tests/unit/test_events.py), without a model validated per item. `reason` is
    the allocation's (never None for a payment it did not place; the suspense row requires one)."""
    uow.emit_data(SuspenseEvent, {
        "action": "opened", "payment_id": payment.payment_id, "amount_pence": payment.amount_pence,
        "channel": payment.channel, "reference": payment.reference, "payer_name": payment.payer_name,
        "received_at": payment.received_at, "reason": reason, "account_ref": None, "allocated_by": None,
        "note": None, "paid_at": payment.paid_at, "business_date": business_date, "period": period},
        identity=("opened", payment.payment_id), key=uuid_text(payment.payment_id), cause=cause, occurred_at=at)


def account_upserted(uow: Emitter, data: dict[str, Any], version: int, content_hash: str,
                     at: dt.datetime, cause: Cause | None) -> None:
    uow.emit(AccountUpserted(**data), identity=(data["account_ref"], version, content_hash), cause=cause,
             occurred_at=at)


def dd_failure(uow: Emitter, data: dict[str, Any], cause: Cause | None) -> None:
    uow.emit(DdFailure(**data), cause=cause, occurred_at=data["occurred_at"])


def mandate_changed(uow: Emitter, data: dict[str, Any], key: str, cause: Cause | None) -> None:
    """`key` says what changed it (an instruction or a return), so a redelivery emits the same id."""
    uow.emit(MandateChanged(**data), identity=(key,), cause=cause, occurred_at=data["occurred_at"])


def rent_changed(uow: Emitter, data: dict[str, Any], cause: Cause | None) -> None:
    uow.emit(RentChanged(**data), cause=cause, occurred_at=data["occurred_at"])


def ended_tenancy_payment(uow: Emitter, t: Transaction, payment: Any, tenancy_end: dt.date, posted_at: dt.datetime,
                          cause: Cause | None) -> None:
    """A receipt posted to a tenancy that had ended before it was paid (domain/tenancy.py), on the
    receipts' hot path: the posting's and the validated payment's values as a plain dict (`emit_data`),
    byte for byte the row of the model (tests/unit/test_events.py)."""
    uow.emit_data(EndedTenancyPayment, {
        "transaction_id": t.transaction_id, "payment_id": t.payment_id, "account_ref": t.account_ref,
        "amount_pence": -t.amount_pence, "channel": t.channel, "reference": payment.reference,
        "payer_name": payment.payer_name, "business_date": t.business_date, "tenancy_end": tenancy_end,
        "balance_after_pence": t.balance_after_pence, "posted_at": posted_at},
        identity=(t.transaction_id,), key=t.account_ref, cause=cause, occurred_at=posted_at)


def unreconciled(uow: Emitter, data: dict[str, Any], cause: Cause | None) -> None:
    """Something the ledger could not place on its own, opened, reworded or resolved: a finance task."""
    from rentflow_schemas.ledger import UnreconciledItem
    item = UnreconciledItem(**data)
    # an item may be reworded more than once: each wording is its own event
    identity = (item.item_id, item.action, item.reason) if item.action == "updated" else None
    uow.emit(item, cause=cause, occurred_at=data["occurred_at"], identity=identity)
