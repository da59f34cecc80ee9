"""The cash book's handler on the in-memory unit of work (adapters/memory.py): the same code the
consumer runs, no database. A lump before its detail is a finance item, matched and resolved when
the detail comes; a redelivered lump changes nothing; interest is never matched."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import orjson
from hypothesis import given, settings, strategies as st

from rentflow_common.events import Cause
from rentflow_ledger.adapters.memory import MemoryLedger
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer.lumps import handle_cash_book
from rentflow_schemas import derive_event_id
from rentflow_schemas.ledger import UnreconciledItem
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc


def take(amount: int, channel: str, day: dt.date, *, lump: str | None = None, imp: uuid.UUID | None = None,
         payout_id: str | None = None, fee_pence: int | None = None):
    ref = uuid.uuid4().hex
    at = dt.datetime.combine(day, dt.time(10), UTC)
    p = PaymentReceived(payment_id=derive_event_id("payment", "p", ref), provider_id="p", provider_ref=ref,
                        channel=channel, amount_pence=amount, paid_at=at, received_at=at, reference="R",
                        source="file", import_id=imp, lump=lump, payout_id=payout_id, fee_pence=fee_pence)
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


async def test_a_payout_lump_waits_for_its_payouts_detail_through_a_mismatch_and_is_matched_when_it_adds_up():
    ledger = MemoryLedger()
    day = dt.date(2026, 5, 4)
    payout = take(30_000, "bank_transfer", day + dt.timedelta(days=2), lump="govuk_pay_payout",
                  payout_id="PO_1NXYZA2EZVKYLO2C")  # as the bank's narrative upper-cased it
    [opened] = await run(ledger, payout)
    assert (opened.kind, opened.action, opened.amount_pence) == ("lump_unmatched", "opened", 30_000)
    other_day = take(30_000, "card", day)  # equal to the lump but of no payout: not this payout's money
    # part of the payout is here: a mismatch now, and the finance item says so (it said "no detail yet")
    [updated] = await run(ledger, take(10_000, "card", day, payout_id="po_1NxYzA2eZvKYlo2C"), other_day)
    assert (updated.action, updated.item_id) == ("updated", opened.item_id)
    assert "is £300.00 on the statement, but the 1 card payments paid out in it add up to £100.00" in updated.reason
    lump_row = ledger.tables.lumps[payout.payment.payment_id]
    assert (lump_row["status"], lump_row["matched_key"]) == ("mismatch", "payout:PO_1NXYZA2EZVKYLO2C")
    [changed] = [a for a in ledger.audit if a["action"] == "lump.status"]  # a state change: audited
    assert (changed["before"], changed["after"]["status"]) == ({"status": "unmatched"}, "mismatch")
    assert "is £300.00 on the statement, but the 1 card payments paid out in it add up to £100.00" in (
        changed["after"]["why"])
    [resolved] = await run(ledger, take(20_000, "card", day - dt.timedelta(days=1), payout_id="po_1NxYzA2eZvKYlo2C"))
    assert (resolved.action, resolved.source_id) == ("resolved", payout.payment.payment_id)
    t = ledger.tables
    assert t.lumps[payout.payment.payment_id]["status"] == "matched"
    settled = {r["payment_id"] for r in t.lump_detail.values() if r["lump_id"] == payout.payment.payment_id}
    assert len(settled) == 2 and other_day.payment.payment_id not in settled
    assert t.lump_detail[other_day.payment.payment_id]["lump_id"] is None
    assert not t.transactions and not t.suspense  # the lump is never rent


async def test_a_payout_lump_naming_a_payout_with_other_detail_is_a_finance_item_with_both_figures():
    ledger = MemoryLedger()
    day = dt.date(2026, 5, 4)
    detail = [take(12_500, "card", day, payout_id="po_1Payout000000000A"),
              take(12_500, "card", day, payout_id="po_1Payout000000000A")]
    assert await run(ledger, *detail) == []
    lump = take(24_650, "bank_transfer", day + dt.timedelta(days=2), lump="card_settlement",
                payout_id="po_1Payout000000000A")
    [item] = await run(ledger, lump)
    assert item.action == "opened" and "is £246.50 on the statement" in item.reason
    assert "add up to £250.00 (difference -£3.50)" in item.reason
    assert ledger.tables.lumps[lump.payment.payment_id]["status"] == "mismatch"
    assert {r["lump_id"] for r in ledger.tables.lump_detail.values()} == {None}  # nothing settled


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


async def test_a_payout_paid_out_net_of_its_fees_is_matched_and_its_fees_are_one_balanced_journal():
    ledger = MemoryLedger()
    day = dt.date(2026, 5, 4)
    pid = "po_1Payout00000FeesA"
    lump = take(21_835, "bank_transfer", day + dt.timedelta(days=2), lump="card_settlement", payout_id=pid.upper())
    [opened] = await run(ledger, lump)  # the statement first: nothing of the payout is here yet
    assert opened.action == "opened"
    charges = [take(12_000, "card", day, payout_id=pid, fee_pence=180),
               take(9_700, "card", day, payout_id=pid, fee_pence=185),
               take(500, "card", day, payout_id=pid)]  # no fee stated: nothing taken off
    [resolved] = await run(ledger, *charges)
    assert (resolved.action, resolved.source_id) == ("resolved", lump.payment.payment_id)
    t = ledger.tables
    assert t.lumps[lump.payment.payment_id]["status"] == "matched"
    fees = [x for x in t.journal_lines if x["kind"] == "card_fees"]
    assert sorted((x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in fees) == [
        ("BANK", 0, 365), ("CARD_FEES", 365, 0)]
    assert {x["business_date"] for x in fees} == {lump.payment.paid_at.date()}
    assert len({x["journal_id"] for x in fees}) == 1
    [posted] = [orjson.loads(r.payload)["data"] for r in ledger.outbox if r.topic == "gl.journals.v1"]
    assert posted["kind"] == "card_fees" and posted["source_ref"].startswith(f"card-fees:{lump.payment.payment_id}")
    audit = [a for a in ledger.audit if a["action"] == "lump.reconciled"]
    assert [a["after"]["fees_pence"] for a in audit] == [365]
    # redelivered, the charges and the lump post nothing more
    assert await run(ledger, lump, *charges) == []
    assert len([x for x in ledger.tables.journal_lines if x["kind"] == "card_fees"]) == 2
    assert not t.transactions and not t.suspense  # the cash book posts nothing to an account


async def test_a_fee_is_never_taken_off_money_of_another_channel():
    ledger = MemoryLedger()
    day = dt.date(2026, 5, 4)
    schedule = uuid.uuid4()
    await run(ledger, take(10_000, "universal_credit", day, imp=schedule, fee_pence=300))  # a fee stated in error
    assert {r["fee_pence"] for r in ledger.tables.lump_detail.values()} == {0}
    lump = take(10_000, "bank_transfer", day + dt.timedelta(days=1), lump="uc_managed_payment")
    assert await run(ledger, lump) == []
    assert ledger.tables.lumps[lump.payment.payment_id]["status"] == "matched"
    assert not [x for x in ledger.tables.journal_lines if x["kind"] == "card_fees"]



@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50_000), st.integers(0, 100)), min_size=1, max_size=6),
       st.booleans(), st.sampled_from([0, 1, -1]))
def test_a_payouts_fees_journal_is_what_the_payout_is_short_of_its_charges_and_balances(charges, lump_first, off):
    """Whatever the charges, their fees and the order: the payout equal to the charges less the fees is
    matched with one card_fees journal of exactly the fees (Dr CARD_FEES, Cr BANK); off by a penny, nothing
    is posted and it is a mismatch."""
    async def scenario() -> None:
        ledger = MemoryLedger()
        day = dt.date(2026, 5, 4)
        detail = [take(gross, "card", day, payout_id="po_1PropertyPayout00A", fee_pence=gross * share // 100)
                  for gross, share in charges]
        fees = sum(c.payment.fee_pence for c in detail)
        net = sum(c.payment.amount_pence for c in detail) - fees
        if net + off < 1:
            return
        lump = take(net + off, "bank_transfer", day + dt.timedelta(days=2), lump="card_settlement",
                    payout_id="PO_1PROPERTYPAYOUT00A")
        for batch in ([lump], detail) if lump_first else (detail, [lump]):
            await run(ledger, *batch)
        status = ledger.tables.lumps[lump.payment.payment_id]["status"]
        lines = [x for x in ledger.tables.journal_lines if x["kind"] == "card_fees"]
        if off:
            assert status == "mismatch" and lines == []
            return
        assert status == "matched"
        expected = [("BANK", 0, fees), ("CARD_FEES", fees, 0)] if fees else []
        assert sorted((x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in lines) == expected
    asyncio.run(scenario())
