"""The cash CSV layout (column mapping, allpay cards), the bank CSV exports, GOV.UK Pay replays."""
import io

import pytest

from rentflow_payments import samples as s
from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable, cash_csv


def parse(name: str, data: bytes, **options):
    return list(formats.FORMATS[name].parse(io.BytesIO(data), options))


def test_cash_csv_default_layout():
    data = s.cash_csv([
        {"transaction_id": "PP-1", "paid_at": "2026-10-06T14:05:00+01:00", "amount": "12.50", "reference": "10000010"},
        {"transaction_id": "PP-2", "paid_at": "06/10/2026 14:05", "amount": "1,000.00", "reference": "10000028"},
        {"transaction_id": "PP-3", "paid_at": "2026-10-06", "amount": "-1.00", "reference": "x"},
        {"transaction_id": "", "paid_at": "2026-10-06", "amount": "1.00", "reference": "x"},
        {"transaction_id": "PP-5", "paid_at": "yesterday", "amount": "1.00", "reference": "x"},
    ])
    out = parse("csv", data)
    a, b = out[0].value, out[1].value
    assert (a["provider_ref"], a["amount_pence"], a["channel"], a["paid_at"]) == (
        "PP-1", 1250, "cash", "2026-10-06T14:05:00+01:00")
    assert (b["amount_pence"], b["paid_at"]) == (100000, "2026-10-06T14:05:00+01:00")  # London local time
    assert [(p.position, p.error) for p in out[2:]] == [
        (4, "amount: '-1.00' is not an amount in pounds and whole pence, e.g. 123.45"),
        (5, "transaction_id: blank"), (6, "paid_at: 'yesterday' is not a date (e.g. 06/10/2026 or 2026-10-06)")]


def test_cash_csv_column_mapping_and_allpay_card_numbers():
    header = ("TxnRef", "When", "Pence", "Card")
    data = s.cash_csv([{"TxnRef": "AP-1", "When": "2026-10-06T09:00:00Z", "Pence": "2500",
                        "Card": "9826 0001 1000 0000 107"}, {"TxnRef": "AP-2", "When": "2026-10-06", "Pence": "5",
                                                             "Card": "123"}], header=header)
    columns = "transaction_id=TxnRef,paid_at=When,amount_pence=Pence,card_number=Card"
    with pytest.raises(Unreadable, match="the header lacks transaction_id"):
        parse("csv", data)
    out = parse("csv", data, columns=columns)
    assert out[0].value["reference"] == "1000000010" and out[0].value["amount_pence"] == 2500
    assert out[1].error == "card_number: must be 19 digits"
    assert parse("csv", data, columns=columns, card_ref="8:10")[0].value["reference"] == "1100000001"
    cash_csv.configure(columns=columns)  # the setting RENTFLOW_CSV_COLUMNS, applied at start
    try:
        assert parse("csv", data)[0].value["provider_ref"] == "AP-1"
        assert cash_csv.sniff(data)
    finally:
        cash_csv.configure()
    with pytest.raises(Unreadable, match="card_ref"):
        parse("csv", data, card_ref="15:10")


def test_bank_csv_both_layouts():
    data = s.bank_csv([("06/10/2026", "FPI", "J SMITH 10000010", "", "120.00", "1120.00"),
                       ("06/10/2026", "SO", "10000028 RENT", "", "95.00", "1215.00"),
                       ("07/10/2026", "DD", "ENERGY CO", "40.00", "", "1175.00")])
    out = parse("bank-csv", data)
    assert [(p.type, (p.value or {}).get("channel")) for p in out] == [
        ("payment", "bank_transfer"), ("payment", "standing_order"), ("skipped", None)]
    assert out[0].value["reference"] == "J SMITH 10000010" and out[0].value["provider_ref"].startswith("bank-csv:")
    again = parse("bank-csv", data.replace(b"\r\n", b"\n"))
    assert [p.value for p in again] == [p.value for p in out]
    signed = (b"Date,Type,Description,Value,Balance,Account Name,Account Number\n"
              b"06 Oct 2026,BAC,10000036 RENT,125.50,900.00,COUNCIL,12345678\n"
              b"06 Oct 2026,D/D,WATER,-20.00,880.00,COUNCIL,12345678\n")
    out = parse("bank-csv", signed)
    assert [p.type for p in out] == ["payment", "skipped"] and out[0].value["amount_pence"] == 12550
    assert formats.resolve("auto", signed).name == "bank-csv" and formats.resolve("auto", data).name == "bank-csv"


def test_govuk_pay_replay_items_are_card_events():
    data = s.govuk_replay([s.govuk_event("p1", "card_payment_succeeded", 100, "R"), [1]])
    out = parse("govuk-pay", data)
    assert out[0].type == "card_event" and out[0].value["resource_id"] == "p1"
    assert out[1].error == "expected a JSON object, got list"
    assert formats.resolve("auto", data).name == "govuk-pay"


def test_a_stripe_itemized_payout_reconciliation_report_gives_each_charge_with_its_payout():
    """stripe_payout_reconciliation.csv follows the columns of Stripe's itemized payout reconciliation
    report (docs.stripe.com/reports/payout-reconciliation, column list in docs.stripe.com/reports/
    report-types, categories in docs.stripe.com/reports/reporting-categories); the values are ours.
    The payout (118.69 + 985.00 - 20.00 - 1.20 = 1,082.49) is net of fees and the refund."""
    from pathlib import Path
    data = (Path(__file__).parent.parent / "fixtures" / "stripe_payout_reconciliation.csv").read_bytes()
    assert formats.resolve("auto", data[:formats.SNIFF_BYTES]).name == "stripe-payouts"
    out = parse("stripe-payouts", data)
    assert [(p.position, p.type, p.value and (p.value["provider_ref"], p.value["amount_pence"], p.value["reference"],
                                               p.value["paid_at"], p.value["payout_id"]))
            for p in out if not p.error and p.type != "reversal"] == [
        (2, "payment", ("ch_3QA0001", 12050, "10000010", "2026-10-06T08:12:45+00:00", "po_1QRentPayout0001AbCd")),
        (3, "payment", ("ch_3QA0002", 100000, "10000028", "2026-10-06T13:40:02+00:00", "po_1QRentPayout0001AbCd")),
        (5, "skipped", None), (6, "skipped", None),
        (7, "payment", ("ch_3QA0006", 4500, "10000036", "2026-10-09T15:00:00+00:00", None))]  # not paid out yet
    assert [(p.position, p.error) for p in out if p.error] == [(8, "currency: 'eur': only GBP is taken in")]
    assert {p.value["channel"] for p in out if p.type == "payment" and not p.error} == {"card"}
    assert [p.note for p in out if p.type == "skipped"][0].startswith("fee row: not a payment")
    # the refund comes out of the payout: a reversal of the charge it names, with the payout id
    assert [(p.position, p.value) for p in out if p.type == "reversal"] == [(4, {
        "identity": "refund:txn_3QA0003", "kind": "refund", "amount_pence": 2000,
        "reversed_at": "2026-10-07T09:00:00+00:00", "reason": "Stripe refund re_3QA0003",
        "original": {"provider_ref": "ch_3QA0001"}, "payout_id": "po_1QRentPayout0001AbCd", "fee_pence": 0})]
    # a metadata column named by the option is the reference; a missing one refuses the file
    named = parse("stripe-payouts", data, reference="description")
    assert named[0].value["reference"] == "Rent 10000010"
    with pytest.raises(Unreadable, match="no column 'payment_metadata\\[rent\\]'"):
        parse("stripe-payouts", data, reference="payment_metadata[rent]")


def test_stripe_disputes_are_chargebacks_of_their_charge_and_a_refund_must_take_money_back():
    head = (b"automatic_payout_id,balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,"
            b"charge_id,dispute_id\n")
    rows = parse("stripe-payouts", head + b"po_2,txn_1,2026-10-06 08:00:00,gbp,-50.00,15.00,-65.00,dispute,ch_1,dp_1\n"
                                         b"po_2,txn_2,2026-10-06 08:00:00,gbp,5.00,0,5.00,refund,ch_1,\n"
                                         b"po_2,txn_3,2026-10-06 08:00:00,gbp,-5.00,0,-5.00,refund,,\n"
                                         b"po_2,txn_4,2026-10-06 08:00:00,gbp,-5.00,-0.10,-4.90,refund,ch_1,\n"
                                         b"po_2,txn_5,2026-10-06 08:00:00,gbp,50.00,0,50.00,dispute_reversal,ch_1,dp_1\n")
    assert rows[0].type == "reversal" and rows[0].value == {
        "identity": "dispute:txn_1", "kind": "returned", "amount_pence": 5000, "reversed_at": "2026-10-06T08:00:00+00:00",
        "reason": "Stripe dispute (chargeback) dp_1", "original": {"provider_ref": "ch_1"}, "payout_id": "po_2",
        "fee_pence": 1500}
    assert [(r.position, r.error) for r in rows[1:4]] == [
        (3, "gross: a refund takes money back, so it must be below 0, not 5.00"),
        (4, "charge_id: blank: a refund must name the charge it takes back"),
        (5, "fee: -0.10 is below 0: a fee Stripe gave back is not taken in")]
    assert rows[4].type == "skipped" and rows[4].note.startswith("dispute_reversal row")


def test_a_stripe_report_gives_each_charges_fee_in_pence_and_a_fee_beyond_the_gross_is_an_error():
    """The report's `fee` column (gross − fee = net per charge) is the payment's fee_pence; the ledger
    matches the payout to the charges less their fees."""
    from pathlib import Path
    data = (Path(__file__).parent.parent / "fixtures" / "stripe_payout_reconciliation.csv").read_bytes()
    out = [p for p in parse("stripe-payouts", data) if p.type == "payment" and not p.error]
    assert [(p.value["provider_ref"], p.value["amount_pence"], p.value["fee_pence"]) for p in out] == [
        ("ch_3QA0001", 12050, 181), ("ch_3QA0002", 100000, 1500), ("ch_3QA0006", 4500, 68)]
    head = b"automatic_payout_id,balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category\n"
    rows = parse("stripe-payouts", head + b"po_1,txn_1,2026-10-06 08:00:00,gbp,10.00,,10.00,charge\n"
                                         b"po_1,txn_2,2026-10-06 08:00:00,gbp,10.00,10.01,-0.01,charge\n")
    assert rows[0].value["fee_pence"] is None  # blank: not stated
    assert rows[1].error == "fee: 10.01 is not between 0 and the charge's gross"
