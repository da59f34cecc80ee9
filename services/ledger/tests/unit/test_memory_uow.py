"""The in-memory unit of work behaves as the PostgreSQL one where the handlers rely on it: what
is not committed is gone (postings, balances, events), what is committed stays, and a row
breaking a unique key of the database is refused."""
from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest

from rentflow_common.events import Cause
from rentflow_ledger.adapters.memory import Conflict, MemoryLedger
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.domain.posting import Book, receipt_transaction_id
from rentflow_ledger.service_layer.accounts import upsert_accounts
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer.receipts import EMIT_SLICE, handle_payments_received
from rentflow_ledger.service_layer.suspense import allocate_suspense
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc
AT = dt.datetime(2026, 4, 7, 9, tzinfo=UTC)


async def ledger_with_account() -> MemoryLedger:
    ledger = MemoryLedger()
    async with ledger.uow() as uow:
        await upsert_accounts(uow, [AccountRecord("R1", "T", "P", "N", dt.date(2026, 4, 6), None, 10000, 0, None, None,
                                                  None, dt.date(2026, 4, 5), 0)], "test")
        await uow.commit()
    return ledger


def take(amount: int, reference: str = "R1") -> TakePayment:
    return TakePayment(PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=uuid.uuid4().hex,
                                       channel="card", amount_pence=amount, paid_at=AT, received_at=AT,
                                       reference=reference), Cause(uuid.uuid4(), "c"))


async def test_a_failed_unit_of_work_leaves_nothing():
    ledger = await ledger_with_account()
    outbox = len(ledger.outbox)
    with pytest.raises(RuntimeError):
        async with ledger.uow() as uow:
            await handle_payments_received(uow, [take(100), take(200, "nobody")])
            assert uow.tables.transactions and uow.tables.suspense  # written in the unit of work...
            raise RuntimeError("crash before commit")
    assert not ledger.tables.transactions and not ledger.tables.suspense  # ...and gone with it
    assert ledger.tables.accounts["R1"]["balance_pence"] == 0
    assert len(ledger.outbox) == outbox


async def test_what_is_committed_stays_with_its_events():
    ledger = await ledger_with_account()
    async with ledger.uow() as uow:
        await handle_payments_received(uow, [take(100), take(250)])
        await uow.commit()
    assert ledger.tables.accounts["R1"]["balance_pence"] == -350
    assert [t["balance_after_pence"] for t in ledger.tables.transactions.values()] == [-100, -350]
    assert sum(row.topic == "ledger.transactions.v1" for row in ledger.outbox) == 2


async def test_a_second_posting_of_a_payment_is_refused_as_the_unique_index_does():
    ledger = await ledger_with_account()
    book = Book({"R1": 0})
    payment_id = uuid.uuid4()
    first, second = (book.post("R1", "RCP", -100, transaction_id=uuid.uuid4(), business_date=AT.date(),
                               source_ref="x", payment_id=payment_id) for _ in range(2))
    async with ledger.uow() as uow:
        await uow.postings.add_transactions([first], AT)
        with pytest.raises(Conflict):
            await uow.postings.add_transactions([second], AT)


async def test_a_payments_posting_takes_the_id_derived_from_the_payment():
    """What lets PostgreSQL's primary key refuse a second posting of a payment (no index on
    payment_id): a receipt posted from a batch, and one allocated by hand from suspense, both take
    receipt_transaction_id(payment_id)."""
    ledger = await ledger_with_account()
    posted, held = take(100), take(200, "nobody")
    async with ledger.uow() as uow:
        await handle_payments_received(uow, [posted, held])
        await allocate_suspense(uow, held.payment.payment_id, "R1", "officer", "found it")
        await uow.commit()
    ids = {t["payment_id"]: t["transaction_id"] for t in ledger.tables.transactions.values()}
    assert ids == {p: receipt_transaction_id(p) for p in (posted.payment.payment_id, held.payment.payment_id)}


async def test_a_batch_longer_than_a_slice_emits_each_posting_with_its_own_balance_in_order():
    """A batch's TransactionPosted events are made a slice at a time while the postings are written
    (service_layer/receipts.py): across slices each event is its posting's, in posting order, and the
    flag of a payment after the tenancy ended follows its posting, with the same balance."""
    ledger = MemoryLedger()
    async with ledger.uow() as uow:
        await upsert_accounts(uow, [AccountRecord(ref, "T", "P", "N", dt.date(2025, 4, 6), end, 10000, 0, None, None,
                                                  None, dt.date(2026, 4, 5), 0)
                                    for ref, end in (("R1", None), ("R2", dt.date(2026, 4, 6)))], "test")
        await uow.commit()
    batch = [take(100 + n, "R2" if n % 7 == 3 else "R1") for n in range(2 * EMIT_SLICE + 9)]
    async with ledger.uow() as uow:
        await handle_payments_received(uow, batch)
        await uow.commit()
    posted = [orjson.loads(row.payload)["data"] for row in ledger.outbox if row.topic == "ledger.transactions.v1"]
    assert [(p["payment_id"], p["account_ref"], p["balance_after_pence"]) for p in posted] == [
        (str(t["payment_id"]), t["account_ref"], t["balance_after_pence"]) for t in ledger.tables.transactions.values()]
    assert [str(c.payment.payment_id) for c in batch] == [p["payment_id"] for p in posted]
    flagged = [orjson.loads(row.payload)["data"] for row in ledger.outbox
               if row.topic == "ledger.ended-tenancy-payments.v1"]
    assert len(flagged) == sum(n % 7 == 3 for n in range(len(batch)))
    balances = {p["transaction_id"]: p["balance_after_pence"] for p in posted}
    assert all(f["balance_after_pence"] == balances[f["transaction_id"]] for f in flagged)
