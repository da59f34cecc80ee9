"""The cash book's handler on the in-memory unit of work (adapters/memory.py): the same code the
consumer runs, no database. A lump before its detail is a finance item, matched and resolved when
the detail comes; a redelivered lump changes nothing; interest is never matched."""
from __future__ import annotations

import datetime as dt
import uuid

import orjson

from rentflow_common.events import Cause
from rentflow_ledger.adapters.memory import MemoryLedger
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer.lumps import handle_cash_book
from rentflow_schemas import derive_event_id
from rentflow_schemas.ledger import UnreconciledItem
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc


def take(amount: int, channel: str, day: dt.date, *, lump: str | None = None, imp: uuid.UUID | None = None):
    ref = uuid.uuid4().hex
    at = dt.datetime.combine(day, dt.time(10), UTC)
    p = PaymentReceived(payment_id=derive_event_id("payment", "p", ref), provider_id="p", provider_ref=ref,
                        channel=channel, amount_pence=amount, paid_at=at, received_at=at, reference="R",
                        source="file", import_id=imp, lump=lump)
    return TakePayment(p, Cause(uuid.uuid4(), "test"))


async def run(ledger: MemoryLedger, *commands: TakePayment) -> list[UnreconciledItem]:
    async with ledger.uow() as uow:
        await handle_cash_book(uow, list(commands))
        items = [UnreconciledItem.model_validate(orjson.loads(r.payload)["data"]) for r in uow.emitted
                 if r.topic == "ledger.unreconciled.v1"]
        await uow.commit()
    return items


async def test_a_lump_before_its_detail_waits_as_a_finance_item_and_is_matched_when_the_file_comes():
    ledger = MemoryLedger()
    day = dt.date(2026, 5, 1)
    uc_lump = take(43540, "bank_transfer", day + dt.timedelta(days=1), lump="uc_managed_payment")
    interest = take(12, "bank_transfer", day, lump="interest")
    opened = await run(ledger, uc_lump, interest, uc_lump)
    assert sorted((i.kind, i.action) for i in opened) == [("interest", "opened"), ("lump_unmatched", "opened")]
    assert await run(ledger, uc_lump) == []  # redelivered: nothing new

    schedule = uuid.uuid4()
    resolved = await run(ledger, take(41250, "universal_credit", day, imp=schedule),
                         take(2290, "universal_credit", day, imp=schedule))
    assert [(i.kind, i.action, i.source_id) for i in resolved] == [
        ("lump_unmatched", "resolved", uc_lump.payment.payment_id)]
    t = ledger.tables
    assert t.lumps[uc_lump.payment.payment_id]["matched_key"] == f"import:{schedule}"
    assert {r["lump_id"] for r in t.lump_detail.values()} == {uc_lump.payment.payment_id}
    assert t.lumps[interest.payment.payment_id]["status"] == "no_detail"
    assert not t.transactions and not t.suspense  # no lump is rent
