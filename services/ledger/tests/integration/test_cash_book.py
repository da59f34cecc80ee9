"""The ledger's side of real bank and Bacs files (issue 11), through the running ledger service:
- statement lump sums matched to their detail (counted once, never suspense), unmatched ones and
  interest a finance item, matched later when the detail arrives;
- Housing Benefit posted against the benefits clearing GL code, not the bank;
- a DD return whose collection is in suspense takes it out of suspense; one that is nowhere is a
  finance item; an indemnity claim cancelled by the paying bank is credited back, once;
- AUDREJ makes the lodgement's mandates not live (a task each), AUDACC confirms them;
- a refund that bounced (RRTN) is credited back to its account; one nobody can place is a finance item."""
from __future__ import annotations

import datetime as dt
import uuid

from ledger_support import CSV, UTC, poll, read_topic, running_ledger
from rentflow_common.db import UnitOfWork
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction
from rentflow_schemas.payments import PaymentReceived, PaymentReversed

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
            "payment_method,dd_reference\n"
            "50000005,Ann,1 A St,N,2026-04-06,10000,0,dd,DDANN\n"
            "60000006,Bob,2 A St,N,2026-04-06,10000,0,dd,DDBOB\n"
            "70000007,Cat,3 A St,N,2026-04-06,10000,0,hb,\n"
            "80000008,Dan,4 A St,N,2026-04-06,10000,-9000,,\n")
DAY = dt.date(2026, 5, 1)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), UTC)


def paid(ref: str, amount: int, channel: str, *, day: dt.date = DAY, import_id: uuid.UUID | None = None,
         lump: str | None = None, provider_ref: str | None = None, payout_id: str | None = None):
    provider_ref = provider_ref or uuid.uuid4().hex[:12]
    data = PaymentReceived(payment_id=derive_event_id("payment", "prov", provider_ref), provider_id="prov",
                           provider_ref=provider_ref, channel=channel, amount_pence=amount, paid_at=at(day),
                           received_at=at(day), reference=ref, payer_name="Payer", source="file",
                           import_id=import_id, lump=lump, payout_id=payout_id)
    return new_envelope(data, event_type="payments.received", producer="payments", correlation_id="test",
                        event_id=derive_event_id("payments.received", data.payment_id))


def returned(ref: str, amount: int, original: dt.date, *, source: str = "arudd", cancels: uuid.UUID | None = None,
             tag: str = ""):
    rid = derive_event_id("return", ref, original, amount, source, tag)
    data = DirectDebitReturned(return_id=rid, provider_id="bacs", source=source, reference=ref, amount_pence=amount,
                               return_code="7" if source == "ddica" else "0", return_code_raw="0128",
                               original_processing_date=original, reported_on=dt.date(2026, 5, 8),
                               received_at=at(dt.date(2026, 5, 8)), cancels_return_id=cancels)
    return new_envelope(data, event_type="directdebit.returned", producer="payments", correlation_id="t",
                        event_id=derive_event_id("directdebit.returned", rid))


def instruction(ref: str, action: str, code: str, *, source: str = "bacs18", serial: str | None = None):
    iid = derive_event_id("instruction", ref, action, code, serial)
    data = MandateInstruction(instruction_id=iid, provider_id="bacs", source=source, reference=ref,
                              reason_code=code, action=action, description=f"{source} {code}", received_at=at(DAY),
                              lodgement_serial=serial, effective_date=DAY,
                              file_error_code="30264" if action == "lodgement_rejected" else None)
    return new_envelope(data, event_type="directdebit.mandate_instruction", producer="payments",
                        correlation_id="t", event_id=derive_event_id("directdebit.mandates", iid))


def bounced(amount: int, *, reference: str | None = None, e2e: str | None = None):
    rid = uuid.uuid4()
    data = PaymentReversed(reversal_id=rid, payment_id=derive_event_id("payment", "bank", f"outgoing:{rid}"),
                           provider_id="bank", provider_ref=f"outgoing:{rid}", kind="outgoing_returned",
                           amount_pence=amount, reversed_at=at(dt.date(2026, 5, 12)), reason="AC04",
                           received_at=at(dt.date(2026, 5, 12)), original_end_to_end_id=e2e,
                           original_reference=reference)
    return new_envelope(data, event_type="payments.reversed", producer="payments", correlation_id="t",
                        event_id=derive_event_id("payments.reversed", rid))


async def test_lump_sums_are_matched_to_their_detail_and_housing_benefit_is_not_bank_money(
        infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        std18 = uuid.uuid4()
        await ledger.publish("payments.received.v1", paid("DDANN", 10000, "direct_debit", import_id=std18),
                             paid("DDBOB", 5000, "direct_debit", import_id=std18))
        await poll(lambda: _balance(ledger, "60000006", -5000))
        # the Bacs credit of that processing day on the statement: the same money seen a second time
        dd_lump = paid("BACS DD COLLECTION", 15000, "bank_transfer", lump="dd_collection")
        cash_lump = paid("PAYPOINT SETTLEMENT", 7777, "bank_transfer", day=dt.date(2026, 5, 6), lump="cash_settlement")
        interest = paid("GROSS INTEREST", 123, "bank_transfer", lump="interest")
        hb = paid("70000007", 9500, "housing_benefit")
        await ledger.publish("payments.received.v1", dd_lump, cash_lump, interest, hb, dd_lump)
        await poll(lambda: _balance(ledger, "70000007", -9500))

        items = await _items(ledger, 2)
        assert sorted((i["kind"], i["action"], i["amount_pence"]) for i in items) == [
            ("interest", "opened", 123), ("lump_unmatched", "opened", 7777)]
        cash_item = next(i for i in items if i["kind"] == "lump_unmatched")
        assert cash_item["reason"].startswith("cash settlement matches no cash detail received")
        assert cash_item["source_id"] == str(cash_lump.data.payment_id)
        # no lump is rent: nothing in suspense, nothing posted to an account
        assert (await ledger.http.get("/v1/suspense")).json()["items"] == []
        async with UnitOfWork(ledger.engine) as uow:
            lumps = {r["kind"]: dict(r) for r in await uow.raw.fetch("select * from lumps")}
            assert lumps["dd_collection"]["status"] == "matched"
            assert lumps["dd_collection"]["matched_key"] == f"import:{std18}"
            assert {lumps[k]["status"] for k in ("cash_settlement", "interest")} == {"unmatched", "no_detail"}
            posted = await uow.raw.fetchval("select count(*) from transactions where payment_id = any($1::uuid[])",
                                            [dd_lump.data.payment_id, cash_lump.data.payment_id,
                                             interest.data.payment_id])
            assert posted == 0

        # the cash file arrives after the statement: the lump is matched then, and its item resolved
        cash_file = uuid.uuid4()
        await ledger.publish("payments.received.v1", paid("80000008", 5000, "cash", day=dt.date(2026, 5, 4),
                                                          import_id=cash_file),
                             paid("80000008", 2777, "cash", day=dt.date(2026, 5, 4), import_id=cash_file))
        items = await _items(ledger, 3)
        [resolved] = [i for i in items if i["action"] == "resolved"]
        assert resolved["item_id"] == cash_item["item_id"] and f"file {cash_file}" in resolved["reason"]
        # the cash file's receipts sat in cash control: the settlement moves them to the bank
        settled = await read_topic(ledger.bootstrap, ledger.prefix + "gl.journals.v1",
                                   until=lambda es: any(e["data"]["kind"] == "settlement" for e in es))
        [settlement] = [e["data"] for e in settled if e["data"]["kind"] == "settlement"]
        assert {(x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in settlement["lines"]} == {
            ("BANK", 7777, 0), ("CASH", 0, 7777)}
        assert settlement["business_date"] == "2026-05-06"
        # the DD collection went to the bank when it was received: its lump moves nothing
        assert not [e for e in settled if e["data"]["kind"] == "settlement"
                    and e["data"]["source_ref"].startswith(f"settlement:{dd_lump.data.payment_id}")]
        # the ledger matched both lumps on its own: the audit trail names it (system:ledger)
        trail = (await ledger.http.get("/v1/audit")).json()["entries"]
        assert sorted((e["user"], e["subject"], e["after"]["kind"], e["after"]["when"])
                      for e in trail if e["action"] == "lump.reconciled") == sorted([
            ("system:ledger", str(dd_lump.data.payment_id), "dd_collection", "on arrival"),
            ("system:ledger", str(cash_lump.data.payment_id), "cash_settlement", "when its detail arrived")])

        # Housing Benefit: Dr benefits clearing, Cr debtors control; never the bank
        journals = await read_topic(ledger.bootstrap, ledger.prefix + "gl.journals.v1",
                                    until=lambda es: any(_hb(e) for e in es))
        [hb_journal] = [e["data"] for e in journals if _hb(e)]
        assert {(x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in hb_journal["lines"]} == {
            ("HB_CLEARING", 9500, 0), ("DEBTORS_CONTROL", 0, 9500)}
        assert (await ledger.account("70000007"))["transactions"][-1]["type"] == "RHB"


def _lump_reversal(p, reason: str = "RECALLED BY BANK"):
    d = p.data
    rid = derive_event_id("payment-reversal", d.provider_id, d.provider_ref, 1)
    data = PaymentReversed(reversal_id=rid, payment_id=d.payment_id, provider_id=d.provider_id,
                           provider_ref=d.provider_ref, kind="returned", amount_pence=d.amount_pence,
                           reversed_at=at(DAY + dt.timedelta(days=3)), reason=reason,
                           received_at=at(DAY + dt.timedelta(days=3)))
    return new_envelope(data, event_type="payments.reversed", producer="payments", correlation_id="t",
                        event_id=derive_event_id("payments.reversed", rid))


async def test_a_lump_the_bank_reverses_is_settled_never_left_pending(infra, service_env, topic_prefix):
    """A statement lump later reversed by the bank: nothing was posted for it, so nothing is posted now.
    An open lump's finance item is resolved; a matched lump's reversal opens a finance item (its detail
    stays counted); a reversal that comes before its lump waits for it, then the same. Never pending."""
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        std18 = uuid.uuid4()
        await ledger.publish("payments.received.v1", paid("DDANN", 10000, "direct_debit", import_id=std18),
                             paid("DDBOB", 5000, "direct_debit", import_id=std18))
        await poll(lambda: _balance(ledger, "60000006", -5000))
        matched = paid("BACS DD COLLECTION", 15000, "bank_transfer", lump="dd_collection")
        unmatched = paid("PAYPOINT SETTLEMENT", 4321, "bank_transfer", lump="cash_settlement")
        early = paid("ALLPAY SETTLEMENT", 999, "bank_transfer", lump="cash_settlement")
        await ledger.publish("payments.reversed.v1", _lump_reversal(early), key="early")  # before its lump
        await ledger.publish("payments.received.v1", matched, unmatched)
        await _items(ledger, 1)  # the unmatched cash lump's finance item
        await ledger.publish("payments.reversed.v1", _lump_reversal(matched), _lump_reversal(unmatched))
        await ledger.publish("payments.received.v1", early)

        async def settled():
            async with UnitOfWork(ledger.engine) as uow:
                rows = await uow.raw.fetch("select status from payment_reversals")
            return rows if len(rows) == 3 and {r["status"] for r in rows} == {"unreconciled"} else None

        await poll(settled, timeout=60)
        items = await read_topic(ledger.bootstrap, ledger.prefix + "ledger.unreconciled.v1", until=lambda es: len(es) >= 5)
        by_source = {}
        for e in items:
            by_source.setdefault(e["data"]["source_id"], []).append((e["data"]["action"], e["data"]["amount_pence"]))
        assert by_source[str(unmatched.data.payment_id)] == [("opened", 4321), ("resolved", 4321)]
        assert by_source[str(early.data.payment_id)] == [("opened", 999), ("resolved", 999)]
        assert by_source[str(matched.data.payment_id)] == [("opened", 15000)]  # a new item: find what went back
        [new] = [e["data"] for e in items if e["data"]["source_id"] == str(matched.data.payment_id)]
        assert "the bank reversed the dd_collection lump of £150.00" in new["reason"] and "RECALLED BY BANK" in new["reason"]
        async with UnitOfWork(ledger.engine) as uow:
            lumps = {r["payment_id"]: r["status"] for r in await uow.raw.fetch("select payment_id, status from lumps")}
            posted = await uow.raw.fetchval("select count(*) from transactions where payment_id = any($1::uuid[])",
                                            [matched.data.payment_id, unmatched.data.payment_id, early.data.payment_id])
        assert set(lumps.values()) == {"reversed"} and len(lumps) == 3 and posted == 0
        assert (await ledger.http.get("/v1/invariants")).json()["balanced"]
        # and the cash book lists them (GET /v1/cashbook): every lump reversed, the one finance item open
        book = (await ledger.http.get("/v1/cashbook")).json()
        assert sorted((x["kind"], x["status"]) for x in book["lumps"]) == [
            ("cash_settlement", "reversed"), ("cash_settlement", "reversed"), ("dd_collection", "reversed")]
        assert [(x["kind"], x["amount_pence"]) for x in book["items"]] == [("lump_unmatched", 15000)]
        everything = (await ledger.http.get("/v1/cashbook", params={"items": "all"})).json()
        assert sorted(x["status"] for x in everything["items"]) == ["open", "resolved", "resolved"]


def _recovery(ref: str, amount: int, claim: str):
    identity = f"hb-recovery:{claim}:2026-04-06:2026-05-03"
    rid = derive_event_id("payment-reversal", "council-hb", identity)
    data = PaymentReversed(reversal_id=rid, payment_id=derive_event_id("outgoing-payment", "council-hb", identity),
                           provider_id="council-hb", provider_ref=identity, kind="benefit_recovered",
                           amount_pence=amount, reversed_at=at(dt.date(2026, 5, 4)),
                           reason=f"Housing Benefit overpaid, claim {claim}: recovered",
                           received_at=at(dt.date(2026, 5, 4)), original_reference=ref)
    return new_envelope(data, event_type="payments.reversed", producer="payments", correlation_id="t",
                        event_id=derive_event_id("payments.reversed", rid))


async def test_an_overpaid_housing_benefit_rebate_is_recovered_by_debiting_the_rent_account(
        infra, service_env, topic_prefix):
    """A negative HB schedule line (benefit_recovered): DHB on the rent account, Dr debtors control Cr
    HB clearing (never the bank); an unknown account is a finance task; redelivery changes nothing."""
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        rebate = paid("70000007", 9500, "housing_benefit")
        await ledger.publish("payments.received.v1", rebate)
        await poll(lambda: _balance(ledger, "70000007", -9500))
        known, unknown = _recovery("7000 0007", 4500, "HB1"), _recovery("99999999", 1200, "HB2")
        await ledger.publish("payments.reversed.v1", known, unknown, known)
        await poll(lambda: _balance(ledger, "70000007", -9500 + 4500))
        last = (await ledger.account("70000007"))["transactions"][-1]
        assert (last["type"], last["amount_pence"], last["balance_after_pence"], last["channel"]) == (
            "DHB", 4500, -5000, "housing_benefit")
        journals = await read_topic(ledger.bootstrap, ledger.prefix + "gl.journals.v1",
                                    until=lambda es: any(e["data"]["source_ref"].startswith("benefit-recovered:")
                                                         for e in es))
        [j] = [e["data"] for e in journals if e["data"]["source_ref"].startswith("benefit-recovered:")]
        assert {(x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in j["lines"]} == {
            ("DEBTORS_CONTROL", 4500, 0), ("HB_CLEARING", 0, 4500)}
        [item] = await _items(ledger, 1)
        assert (item["kind"], item["amount_pence"], item["reference"]) == ("benefit_recovery_unmatched", 1200, "99999999")
        async with UnitOfWork(ledger.engine) as uow:
            rows = sorted((r["status"], r["amount_pence"]) for r in await uow.raw.fetch(
                "select status, amount_pence from payment_reversals"))
        assert rows == [("posted", 4500), ("unreconciled", 1200)]  # once each, the repeat absorbed
        assert (await ledger.http.get("/v1/invariants")).json()["balanced"]


def _hb(e: dict) -> bool:
    return any(x["gl_code"] == "HB_CLEARING" for x in e["data"]["lines"])


async def test_a_payout_lump_settles_its_payouts_card_detail_whatever_its_dates(infra, service_env, topic_prefix):
    """On PostgreSQL: card detail naming a payout is that payout's alone (never a day group), found by id
    even when it was taken long before the lump; a lump naming no payout keeps the amount-per-day rule."""
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        old = DAY - dt.timedelta(days=30)  # far outside any date window
        detail = [paid("50000005", 6000, "card", day=old, payout_id="po_1SqlPayout0000000A"),
                  paid("60000006", 4000, "card", day=old, payout_id="po_1SqlPayout0000000A"),
                  paid("80000008", 10000, "card", day=DAY)]  # no payout: the day's detail
        await ledger.publish("payments.received.v1", *detail)
        await poll(lambda: _balance(ledger, "60000006", -4000))
        by_id = paid("STRIPE PAYMENTS UK PO_1SQLPAYOUT0000000A", 10000, "bank_transfer", day=DAY,
                     lump="card_settlement", payout_id="PO_1SQLPAYOUT0000000A")
        by_day = paid("WORLDPAY SETTLEMENT", 10000, "bank_transfer", day=DAY + dt.timedelta(days=2),
                      lump="card_settlement")
        await ledger.publish("payments.received.v1", by_id, by_day)

        async def settled():
            async with UnitOfWork(ledger.engine) as uow:
                rows = {r["payment_id"]: dict(r) for r in await uow.raw.fetch("select * from lumps")}
            return len(rows) == 2 and rows
        lumps = await poll(settled)
        assert (lumps[by_id.data.payment_id]["status"], lumps[by_id.data.payment_id]["matched_key"]) == (
            "matched", "payout:PO_1SQLPAYOUT0000000A")
        assert (lumps[by_day.data.payment_id]["status"], lumps[by_day.data.payment_id]["matched_key"]) == (
            "matched", f"day:{DAY}")
        async with UnitOfWork(ledger.engine) as uow:
            settled_by = {r["payment_id"]: r["lump_id"] for r in await uow.raw.fetch("select * from lump_detail")}
        assert settled_by == {detail[0].data.payment_id: by_id.data.payment_id,
                              detail[1].data.payment_id: by_id.data.payment_id,
                              detail[2].data.payment_id: by_day.data.payment_id}


async def _balance(ledger, ref: str, want: int) -> bool:
    return (await ledger.account(ref))["balance_pence"] == want


async def _items(ledger, want: int) -> list[dict]:
    events = await read_topic(ledger.bootstrap, ledger.prefix + "ledger.unreconciled.v1", want)
    assert len(events) == want, events
    return [e["data"] for e in events]


async def test_dd_follow_ups_lodgements_and_bounced_refunds(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        # a collection whose reference no account has: in suspense
        stray = paid("DDSTRAY", 4200, "direct_debit")
        await ledger.publish("payments.received.v1", stray, paid("DDANN", 10000, "direct_debit"))
        await poll(lambda: _balance(ledger, "50000005", -10000))

        claim = returned("DDANN", 10000, DAY, source="ddica")
        await ledger.publish("directdebit.returned.v1", returned("DDSTRAY", 4200, DAY),
                             returned("DDNOWHERE", 999, DAY), claim)
        await poll(lambda: _balance(ledger, "50000005", 0))
        # the stray collection leaves suspense: the bank took it back
        suspense = await read_topic(ledger.bootstrap, ledger.prefix + "ledger.suspense.v1",
                                    until=lambda es: any(e["data"]["action"] == "reversed" for e in es))
        assert [e["data"]["payment_id"] for e in suspense if e["data"]["action"] == "reversed"] == [
            str(stray.data.payment_id)]
        [nowhere] = await _items(ledger, 1)
        assert (nowhere["kind"], nowhere["amount_pence"], nowhere["reference"]) == ("dd_return_unmatched", 999,
                                                                                   "DDNOWHERE")

        # the paying bank cancels the claim: credited back once, however often it comes
        cancel = returned("DDANN", 10000, DAY, source="ddica", cancels=claim.data.return_id, tag="cancel")
        await ledger.publish("directdebit.returned.v1", cancel, cancel)
        await poll(lambda: _balance(ledger, "50000005", -10000))
        ann = await ledger.account("50000005")
        rdn = [t for t in ann["transactions"] if t["type"] == "RDN"]
        assert [t["amount_pence"] for t in rdn] == [10000, -10000]

        # a Standard 18 lodgement of two new instructions, then Bacs rejects the whole file
        await ledger.publish("directdebit.mandates.v1", instruction("DDANN", "new", "0N", serial="000123"),
                             instruction("DDBOB", "new", "0N", serial="000123"))
        await ledger.publish("directdebit.mandates.v1",
                             instruction("LODGEMENT 000123", "lodgement_rejected", "R", source="auddis",
                                         serial="000123"),
                             instruction("LODGEMENT 000999", "lodgement_rejected", "R", source="auddis",
                                         serial="000999"),
                             instruction("LODGEMENT 000777", "lodgement_accepted", "V", source="auddis",
                                         serial="000777"))

        async def rejected():
            c = await ledger.read("ledger.mandates.v1", 4)
            pending = [e["data"] for e in c if e["data"]["new_state"] == "pending"]
            return len(pending) == 2 and pending
        pending = await poll(rejected)
        assert {p["account_ref"] for p in pending} == {"50000005", "60000006"}
        assert all(p["needs_person"] and "000123" in p["description"] for p in pending)
        assert len({p["instruction_id"] for p in pending}) == 2  # a task each
        items = await _items(ledger, 2)
        assert [i["kind"] for i in items if i["kind"] != "dd_return_unmatched"] == ["lodgement_unmatched"]

        # a refund paid to Dan bounces back; another payment out nobody can place
        assert (await http.post("/v1/approvers", json={"name": "Mia", "role": "manager"})).status_code == 201
        sam, mia = await ledger.user("Sam", "officer", patches=("N",)), await ledger.user("Mia", "manager")
        r = await http.post("/v1/adjustments", json={"reason": "credit refund", "account_ref": "80000008",
                                                     "type": "refund", "amount_pence": 6000}, headers=sam)
        assert r.status_code == 201, r.text
        rid = r.json()["request_id"]
        assert (await http.post(f"/v1/adjustments/{rid}/approve", json={}, headers=mia)).status_code == 200
        assert (await ledger.account("80000008"))["balance_pence"] == -3000
        await ledger.publish("payments.reversed.v1", bounced(6000, reference="RENT REFUND 8000 0008"),
                             bounced(4321, e2e="SUPPLIER-77"))
        await poll(lambda: _balance(ledger, "80000008", -9000))
        dan = await ledger.account("80000008")
        assert (dan["transactions"][-1]["type"], dan["transactions"][-1]["amount_pence"]) == ("REF", -6000)
        items = await _items(ledger, 3)
        assert [(i["kind"], i["amount_pence"]) for i in items if i["kind"] == "outgoing_return_unmatched"] == [
            ("outgoing_return_unmatched", 4321)]
        # nothing of it is rent in suspense
        assert [i["payment_id"] for i in (await http.get("/v1/suspense")).json()["items"]] == []


async def test_a_payout_lump_waiting_for_its_detail_has_its_finance_item_reworded_as_the_detail_arrives(
        infra, service_env, topic_prefix):
    """The lump comes first (no detail of its payout: unmatched), then part of its payout (now a mismatch:
    the item says so, `updated`), then the rest (matched: `resolved`)."""
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        lump = paid("STRIPE PAYMENTS UK PO_1REWORD000000000A", 10000, "bank_transfer", day=DAY,
                    lump="card_settlement", payout_id="PO_1REWORD000000000A")
        await ledger.publish("payments.received.v1", lump)
        [opened] = await _items(ledger, 1)
        assert opened["action"] == "opened" and "no card payment of that payout is here yet" in opened["reason"]

        await ledger.publish("payments.received.v1", paid("50000005", 6000, "card", payout_id="po_1Reword000000000A"))
        updated = (await _items(ledger, 2))[1]
        assert (updated["action"], updated["item_id"]) == ("updated", opened["item_id"])
        assert ("is £100.00 on the statement, but the 1 card payments paid out in it add up to £60.00 "
                "(difference £40.00)") in updated["reason"]
        async with UnitOfWork(ledger.engine) as uow:
            assert await uow.raw.fetchval("select reason from unreconciled") == updated["reason"]

        await ledger.publish("payments.received.v1", paid("60000006", 4000, "card", payout_id="po_1Reword000000000A"))
        resolved = (await _items(ledger, 3))[2]
        assert (resolved["action"], resolved["item_id"]) == ("resolved", opened["item_id"])
