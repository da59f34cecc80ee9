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


async def test_audacc_confirms_a_lodgement_and_audrej_makes_each_of_its_mandates_pending_with_a_task():
    from rentflow_ledger.service_layer.commands import ChangeMandate
    from rentflow_ledger.service_layer.directdebit import handle_mandate_instructions
    from rentflow_schemas.directdebit import MandateChanged, MandateInstruction

    def instruction(ref: str, action: str, serial: str, source: str = "bacs18") -> ChangeMandate:
        iid = derive_event_id("i", ref, action, serial)
        return ChangeMandate(MandateInstruction(
            instruction_id=iid, provider_id="bacs", source=source, reference=ref, reason_code="0N", action=action,
            description="Bacs", received_at=dt.datetime(2026, 5, 1, tzinfo=UTC), lodgement_serial=serial,
            effective_date=dt.date(2026, 5, 1)), Cause(uuid.uuid4(), "t"))

    ledger = MemoryLedger()

    async def apply(*commands: ChangeMandate) -> list[MandateChanged]:
        async with ledger.uow() as uow:
            await handle_mandate_instructions(uow, list(commands))
            out = [MandateChanged.model_validate(orjson.loads(r.payload)["data"]) for r in uow.emitted
                   if r.topic == "ledger.mandates.v1"]
            await uow.commit()
        return out

    await apply(instruction("DDA", "new", "000001"), instruction("DDB", "new", "000001"),
                instruction("DDC", "new", "000002"))
    accepted = await apply(instruction("LODGEMENT 000002", "lodgement_accepted", "000002", "auddis"))
    assert accepted == [] and ledger.tables.mandates["DDC"]["state"] == "live"  # confirmed: nothing to do
    rejected = await apply(instruction("LODGEMENT 000001", "lodgement_rejected", "000001", "auddis"))
    assert sorted((m.reference, m.old_state, m.new_state, m.needs_person) for m in rejected) == [
        ("DDA", "live", "pending", True), ("DDB", "live", "pending", True)]
    assert len({m.instruction_id for m in rejected}) == 2  # one task input per mandate
    assert {ledger.tables.mandates[r]["state"] for r in ("DDA", "DDB")} == {"pending"}
    assert await apply(instruction("LODGEMENT 000001", "lodgement_rejected", "000001", "auddis")) == []  # once
