"""Card fees in the cash book, through the payments and ledger services on the real broker and
PostgreSQL. Stripe (and GOV.UK Pay on Stripe) pays out each charge less its fee: the itemized payout
reconciliation report states gross, fee and net per charge (docs.stripe.com/reports/payout-reconciliation).
The tenant's account is credited the gross; the payout lump on the statement is matched to its charges
less their fees, counted once; and the fees are one balanced journal (Dr CARD_FEES, Cr BANK) in
`GET /v1/gl/daily`. Refunds and disputes the report shows taken out of a payout are taken back off the
tenants' accounts and counted against their payout (a dispute's fee with the card fees). A payout that also
lost something the report's rows do not explain (a Stripe billing fee) is a finance task naming the fees
stated and the difference left unexplained."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake_support import poll, running_stack  # noqa: E402
from rentflow_common.testing import gl_daily_since, london_today  # noqa: E402
from rentflow_payments import samples as s  # noqa: E402

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
            "payment_method,dd_reference\n"
            "10000010,Ann,1 A St,N,2026-04-06,12000,0,,\n"
            "10000028,Bob,2 A St,N,2026-04-06,12000,0,,\n"
            "10000036,Cat,3 A St,N,2026-04-06,12000,0,,\n"
            "10000044,Dan,4 A St,N,2026-04-06,12000,0,,\n")
NET = "po_1QRentPayoutNetAbCdE"  # £220.50 of charges, £3.31 of fees: £217.19 paid out
REFUND = "po_1QRentPayoutRefAbCdE"  # £90.00 of charges, £1.35 of fees, a £20.00 refund: £68.65 paid out
DISPUTE = "po_1QRentPayoutDspAbCdE"  # £300.00 of charges, £4.50 of fees, Bob's £100.00 disputed, a £15.00 fee: £180.50
BILLING = "po_1QRentPayoutBilAbCdE"  # £50.00 of charges, £0.75 of fees, a £1.20 Stripe billing fee: £48.05
HEAD = ("automatic_payout_id,automatic_payout_effective_at,balance_transaction_id,created_utc,currency,gross,fee,"
        "net,reporting_category,source_id,description,customer_name,charge_id,payment_intent_id,"
        "payment_metadata[reference]\n")
REPORT = HEAD + (
    f"{NET},2026-10-09 01:00:00,txn_1,2026-10-06 08:12:45,gbp,120.50,1.81,118.69,charge,ch_1,Rent,Ann,ch_1,pi_1,10000010\n"
    f"{NET},2026-10-09 01:00:00,txn_2,2026-10-06 13:40:02,gbp,100.00,1.50,98.50,charge,ch_2,Rent,Bob,ch_2,pi_2,10000028\n"
    f"{NET},2026-10-09 01:00:00,txn_3,2026-10-09 01:00:00,gbp,-217.19,0.00,-217.19,payout,{NET},STRIPE PAYOUT,,,,\n"
    f"{REFUND},2026-10-10 01:00:00,txn_4,2026-10-07 09:00:00,gbp,90.00,1.35,88.65,charge,ch_4,Rent,Cat,ch_4,pi_4,10000036\n"
    f"{REFUND},2026-10-10 01:00:00,txn_5,2026-10-08 09:00:00,gbp,-20.00,0.00,-20.00,refund,re_5,Refund,Cat,ch_4,pi_4,10000036\n"
    f"{REFUND},2026-10-10 01:00:00,txn_6,2026-10-10 01:00:00,gbp,-68.65,0.00,-68.65,payout,{REFUND},STRIPE PAYOUT,,,,\n"
    f"{DISPUTE},2026-10-12 01:00:00,txn_7,2026-10-09 09:00:00,gbp,300.00,4.50,295.50,charge,ch_7,Rent,Dan,ch_7,pi_7,10000044\n"
    f"{DISPUTE},2026-10-12 01:00:00,txn_8,2026-10-10 09:00:00,gbp,-100.00,15.00,-115.00,dispute,dp_8,Chargeback,Bob,ch_2,pi_2,\n"
    f"{BILLING},2026-10-13 01:00:00,txn_9,2026-10-10 10:00:00,gbp,50.00,0.75,49.25,charge,ch_9,Rent,Dan,ch_9,pi_9,10000044\n"
    f"{BILLING},2026-10-13 01:00:00,txn_10,2026-10-11 10:00:00,gbp,-1.20,0.00,-1.20,fee,fee_10,Billing - Usage Fee,,,,\n")


async def test_a_payout_net_of_its_fees_refunds_and_disputes_is_matched_counted_once_and_its_fees_are_a_journal(
        infra, service_env, topic_prefix):
    started_on = london_today()
    async with running_stack(infra, topic_prefix) as st:
        await st.accounts(ACCOUNTS)
        report = await st.upload(REPORT.encode(), provider="stripe")
        assert (report["format"], report["accepted"], report["skipped"], report["rejected"]) == (
            "stripe-payouts", 7, 3, 0)  # 5 charges, a refund and a dispute; 2 payout rows and a billing fee skipped
        # each tenant is credited what they paid, the gross (the fee is not theirs); Cat's refund and Bob's
        # chargeback are taken back off their accounts
        balances = {"10000010": -12050, "10000028": 0, "10000036": -7000, "10000044": -35000}
        await st.balances_become(balances)
        statement = s.camt053([
            s.Entry("PO-NET", value_date=dt.date(2026, 10, 9),
                    txs=[s.Tx(21719, f"STRIPE PAYMENTS UK {NET.upper()}", "STRIPE PAYMENTS UK LTD")]),
            s.Entry("PO-REF", value_date=dt.date(2026, 10, 10),
                    txs=[s.Tx(6865, f"STRIPE PAYMENTS UK {REFUND}", "STRIPE PAYMENTS UK LTD")]),
            s.Entry("PO-DSP", value_date=dt.date(2026, 10, 12),
                    txs=[s.Tx(18050, f"STRIPE PAYMENTS UK {DISPUTE}", "STRIPE PAYMENTS UK LTD")]),
            s.Entry("PO-BIL", value_date=dt.date(2026, 10, 13),
                    txs=[s.Tx(4805, f"STRIPE PAYMENTS UK {BILLING}", "STRIPE PAYMENTS UK LTD")]),
        ], stmt_id="S-2026-10-13-FEES")
        stmt = await st.upload(statement)
        assert (stmt["format"], stmt["accepted"], stmt["rejected"]) == ("camt053", 4, 0)

        async def settled():
            r = await st.ledger.get("/v1/cashbook", params={"items": "all"})
            assert r.status_code == 200, r.text
            book = r.json()
            return {x["payout_id"]: x["status"] for x in book["lumps"]} == {
                NET.upper(): "matched", REFUND: "matched", DISPUTE: "matched", BILLING: "mismatch"} and book
        book = await poll(settled)
        assert [(x["kind"], x["status"], x["amount_pence"]) for x in book["items"]] == [
            ("lump_unmatched", "open", 4805)]  # the matched payouts never became tasks
        assert (f"{BILLING} is £48.05 on the statement, but the 1 card payments paid out in it add up to £50.00 "
                "less £0.75 of fees stated, £49.25 (difference -£1.20)") in book["items"][0]["reason"]

        async def fees_posted():
            day = await gl_daily_since(st.ledger, started_on)
            return day["journals_by_kind"].get("card_fees") == 3 and day
        day = await poll(fees_posted)
        assert day["balanced"]
        # the charges' fees of the three matched payouts, and the dispute fee
        assert sum(x["debit_pence"] - x["credit_pence"] for x in day["lines"] if x["gl_code"] == "CARD_FEES") == (
            331 + 135 + 450 + 1500)

        # sent again, the statement is all duplicates: no second match, no second fee journal
        again = await st.upload(statement)
        assert again["accepted"] == 0
        # counted once: each charge on its account at its gross less what was taken back, nothing of any
        # lump on an account or in suspense, and the accounts still equal the debtors control
        await st.balances_become(balances)
        assert (await st.ledger.get("/v1/suspense")).json()["items"] == []
        day = await gl_daily_since(st.ledger, started_on)
        assert day["journals_by_kind"]["card_fees"] == 3 and day["balanced"]
        await st.balanced()
        periods = sorted({x["period"] for x in day["lines"] if x["gl_code"] == "CARD_FEES"})
        for p in periods:  # the month the fees are booked in reconciles, accounts against the control account
            rec = (await st.ledger.get("/v1/gl/reconcile", params={"period": p})).json()
            assert rec["balanced"] and rec["differences"] == [], rec


async def test_a_govuk_pay_payout_net_of_the_fees_its_payments_state_is_matched_by_amount(
        infra, service_env, topic_prefix):
    """GOV.UK Pay's payment resource carries `fee` (Stripe-backed services; docs/domain.md §3): the
    payments it reports are credited their `amount`, and the bank's payout line ("GOV.UK PAY", no
    payout id) is their total less the fees."""
    started_on = london_today()
    async with running_stack(infra, topic_prefix) as st:
        await st.accounts(ACCOUNTS)
        replay = s.govuk_replay([s.govuk_event("pay-e", "card_payment_succeeded", 12000, "10000010"),
                                 s.govuk_event("pay-f", "card_payment_succeeded", 10000, "10000028")])  # fee 5 each
        got = await st.upload(replay)
        assert (got["format"], got["accepted"]) == ("govuk-pay", 2)
        await st.balances_become({"10000010": -12000, "10000028": -10000})
        stmt = await st.upload(s.camt053([s.Entry("GOVUKPAY-1", value_date=dt.date(2026, 10, 8),
                                                  txs=[s.Tx(21990, "GOV.UK PAY 0001", "GOV.UK PAY")])],
                                         stmt_id="S-2026-10-08-GOVUK"))
        assert (stmt["format"], stmt["accepted"]) == ("camt053", 1)

        async def matched():
            book = (await st.ledger.get("/v1/cashbook", params={"items": "all"})).json()
            return [(x["kind"], x["status"]) for x in book["lumps"]] == [("govuk_pay_payout", "matched")] and book
        book = await poll(matched)
        assert book["lumps"][0]["matched_key"] == f"import:{got['import_id']}" and book["items"] == []  # the replay
        day = await gl_daily_since(st.ledger, started_on)
        assert day["journals_by_kind"].get("card_fees") == 1 and day["balanced"]
        assert [(x["debit_pence"], x["credit_pence"]) for x in day["lines"] if x["gl_code"] == "CARD_FEES"] == [(10, 0)]
        assert (await st.ledger.get("/v1/suspense")).json()["items"] == []
        await st.balanced()
