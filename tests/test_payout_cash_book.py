"""Issue 11's payouts, through the payments and ledger services on the real broker and PostgreSQL: the
card detail names the payout each charge was paid out in (Stripe's itemized payout reconciliation
report, format stripe-payouts; a JSON import's `payout_id`), the bank statement carries the payout as
one lump whose narrative names it ("STRIPE PAYMENTS UK po_..."), and `GET /v1/cashbook` shows each
payout lump matched to exactly its payout's charges — counted once, by its detail — or, when the
payout's charges add up to another amount that no fee stated explains, a finance item naming both
figures. (A payout net of the fees its report states is matched: test_payout_fees.py.)

The report's columns are Stripe's (docs.stripe.com/reports/payout-reconciliation); the statement
narrative with a payout id is the form of services/payments/tests/fixtures/camt052_intraday.xml."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake_support import poll, running_stack  # noqa: E402
from rentflow_payments import samples as s  # noqa: E402

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
            "payment_method,dd_reference\n"
            "10000010,Ann,1 A St,N,2026-04-06,12000,0,,\n"
            "10000028,Bob,2 A St,N,2026-04-06,12000,0,,\n"
            "10000036,Cat,3 A St,N,2026-04-06,12000,0,,\n")
PAID = "po_1QRentPayoutPaidAbCd"  # adds up: the platform took no fee from it
FEES = "po_1QRentPayoutFeesAbCd"  # £90.00 of charges, no fee stated, yet £88.65 paid out: unexplained
HEAD = ("automatic_payout_id,automatic_payout_effective_at,balance_transaction_id,created_utc,currency,gross,fee,"
        "net,reporting_category,source_id,description,customer_name,charge_id,payment_intent_id,"
        "payment_metadata[reference]\n")
REPORT = HEAD + (
    f"{PAID},2026-10-09 01:00:00,txn_1,2026-10-06 08:12:45,gbp,120.50,0.00,120.50,charge,ch_1,Rent,Ann,ch_1,pi_1,10000010\n"
    f"{PAID},2026-10-09 01:00:00,txn_2,2026-10-06 13:40:02,gbp,100.00,0.00,100.00,charge,ch_2,Rent,Bob,ch_2,pi_2,10000028\n"
    f"{PAID},2026-10-09 01:00:00,txn_3,2026-10-09 01:00:00,gbp,-250.00,0.00,-250.00,payout,{PAID},STRIPE PAYOUT,,,,\n"
    f"{FEES},2026-10-10 01:00:00,txn_4,2026-10-07 09:00:00,gbp,90.00,,,charge,ch_4,Rent,Cat,ch_4,pi_4,10000036\n"
    f"{FEES},2026-10-10 01:00:00,txn_5,2026-10-10 01:00:00,gbp,-88.65,0.00,-88.65,payout,{FEES},STRIPE PAYOUT,,,,\n")
# the third charge of PAID came by another route (a JSON import naming its payout) after the report
LATE = [{"provider_ref": "ch_6", "channel": "card", "amount_pence": 2950, "paid_at": "2026-10-06T18:00:00Z",
         "reference": "10000010", "payout_id": PAID}]


async def test_a_payout_lump_is_matched_to_exactly_its_payouts_charges_and_counted_once(
        infra, service_env, topic_prefix):
    async with running_stack(infra, topic_prefix) as st:
        await st.accounts(ACCOUNTS)
        report = await st.upload(REPORT.encode(), provider="stripe")
        assert (report["format"], report["accepted"], report["skipped"], report["rejected"]) == (
            "stripe-payouts", 3, 2, 0)
        # the charges are posted before the statement comes (so the short payout is a mismatch on arrival)
        await st.balances_become({"10000010": -12050, "10000028": -10000, "10000036": -9000})
        statement = s.camt053([
            s.Entry("PO-PAID", value_date=dt.date(2026, 10, 9),
                    txs=[s.Tx(25000, f"STRIPE PAYMENTS UK {PAID.upper()}", "STRIPE PAYMENTS UK LTD")]),
            s.Entry("PO-FEES", value_date=dt.date(2026, 10, 10),
                    txs=[s.Tx(8865, f"STRIPE PAYMENTS UK {FEES}", "STRIPE PAYMENTS UK LTD")]),
        ], stmt_id="S-2026-10-10")
        stmt = await st.upload(statement)
        assert (stmt["format"], stmt["accepted"], stmt["rejected"]) == ("camt053", 2, 0)

        async def cashbook() -> dict:
            r = await st.ledger.get("/v1/cashbook", params={"items": "all"})
            assert r.status_code == 200, r.text
            return r.json()

        async def both_mismatched():  # the lump and its detail may reach the ledger in either order
            book = await cashbook()
            return [x["status"] for x in book["lumps"]] == ["mismatch", "mismatch"] and book
        book = await poll(both_mismatched)
        # £220.50 of the £250.00 payout is here: waiting for the rest of its detail, a mismatch meanwhile
        lumps = {x["payout_id"]: x for x in book["lumps"]}
        assert lumps[PAID.upper()]["kind"] == lumps[FEES]["kind"] == "card_settlement"
        late = await st.upload(json.dumps(LATE).encode(), fmt="json", provider="stripe")
        assert (late["format"], late["accepted"]) == ("json", 1)

        async def settled():
            book = await cashbook()
            return {x["payout_id"]: x["status"] for x in book["lumps"]} == {
                PAID.upper(): "matched", FEES: "mismatch"} and book
        book = await poll(settled)
        lumps = {x["payout_id"]: x for x in book["lumps"]}
        assert lumps[PAID.upper()]["matched_key"] == f"payout:{PAID.upper()}"
        assert lumps[FEES]["matched_key"] == f"payout:{FEES.upper()}"
        items = {x["amount_pence"]: x for x in book["items"]}
        assert sorted((x["kind"], x["status"], x["amount_pence"]) for x in book["items"]) == [
            ("lump_unmatched", "open", 8865), ("lump_unmatched", "resolved", 25000)]
        assert (f"{FEES} is £88.65 on the statement, but the 1 card payments paid out in it add up to £90.00 "
                "(difference -£1.35)") in items[8865]["reason"]

        # counted once: each charge on its account, nothing of either lump on an account or in suspense
        await st.balances_become({"10000010": -(12050 + 2950), "10000028": -10000, "10000036": -9000})
        assert (await st.ledger.get("/v1/suspense")).json()["items"] == []
        await st.balanced()
