"""camt.053 statements, camt.052 intraday reports and camt.054 notifications: one entry reader.
The fixtures in tests/fixtures/ reproduce real files' structure (each names what it follows)."""
import io
from pathlib import Path

import pytest

from rentflow_payments import samples as s
from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable
from rentflow_payments.domain.formats.camt import Codes, lump_of

FIXTURES = Path(__file__).parent.parent / "fixtures"


def parse(data: bytes, name: str = "camt053", **options):
    return list(formats.FORMATS[name].parse(io.BytesIO(data), options))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def brief(out):
    return [(p.position, p.type, (p.value or {}).get("provider_ref") or (p.value or {}).get("identity"),
             (p.value or {}).get("amount_pence")) for p in out if p.type != "warning" and not p.error]


def test_a_uk_statement_as_banks_send_it():
    """tests/fixtures/camt053_v2_statement.xml: genkgo/camt's v2 files, camt053's RRTN example."""
    out = parse(fixture("camt053_v2_statement.xml"))
    assert brief(out) == [
        (1, "payment", "camt053:HB2610050001", 12345),
        (2, "payment", "camt053:HB2610050002", 450000),  # the GBP entry, not the EUR InstdAmt/TxAmt
        (3, "payment", "camt053:HB2610050003", 4),  # 0.04 booked: InstdAmt 4,500.00 is what was asked, not what came
        (4, "payment", "camt053:HB2610050004:1", 12000), (5, "payment", "camt053:HB2610050004:2", 12150),
        (6, "payment", "camt053:HB2610050004:3", 12000),
        (7, "payment", "camt053:HB2610050005", 20000),  # a batch whose amounts cannot be split: one item
        (8, "reversal", "camt053:HB2610050006", 8500),  # our refund came back: not rent
        (9, "payment", "camt053:HB2610050007", 12741250), (10, "payment", "camt053:HB2610050008", 184320),
        (11, "payment", "camt053:HB2610050009", 1207),
        (12, "skipped", None, None), (13, "skipped", None, None),
        (14, "reversal", "camt053:HB2610050012", 12345),
        (15, "payment", out[-1].value["provider_ref"], 6000)]
    v = {p.position: p.value for p in out if p.value}
    assert (v[1]["channel"], v[1]["reference"], v[1]["payer_name"], v[1]["match_ref"], v[1]["paid_at"]) == (
        "standing_order", "NDC10000010 RENT", "MRS J OKAFOR", "SO-OKAFOR-0417", "2026-10-05T00:00:00+01:00")
    # a batch: each transaction's own reference and code; the batch narrative is nobody's reference
    assert [(v[k]["reference"], v[k]["channel"], v[k]["match_ref"]) for k in (4, 5, 6)] == [
        ("RENT NDC10000036", "bank_transfer", "FP-1109"), ("NDC10000044", "standing_order", "FP-1110"),
        ("", "bank_transfer", None)]
    assert (v[7]["reference"], v[7]["payer_name"]) == ("FASTER PAYMENTS RECEIVED", None)
    assert v[8] == {"identity": "camt053:HB2610050006", "kind": "outgoing_returned", "amount_pence": 8500,
                    "reversed_at": "2026-10-05T00:00:00+01:00", "reason": "payment returned AC04 ACCOUNT CLOSED",
                    "original": {"match_ref": "NDC-REFUND-000412", "reference": "REFUND NDC20000036",
                                 "payer_name": "MR D EVANS"}}
    assert [(k, v[k]["lump"]) for k in (1, 2, 3, 4, 9, 10, 11, 15)] == [
        (1, None), (2, None), (3, None), (4, None), (9, "dd_collection"), (10, "cash_settlement"), (11, "interest"),
        (15, None)]
    assert (v[14]["kind"], v[14]["original"]["match_ref"]) == ("returned", "SO-OKAFOR-0417")
    assert v[15]["reference"] == "K ADEYEMI NDC20000010" and v[15]["provider_ref"].startswith("camt053:#")
    assert [p.note for p in out if p.type == "warning"] == [
        "entry 5 (HB2610050005): its 2 transactions are taken as one item of the entry's 200.00 GBP: "
        "not all have an amount in GBP"]
    assert "40116231926819" not in repr(out)  # the account number is hashed, never shown


def test_a_quiet_day_is_a_statement_without_items():
    assert parse(fixture("camt053_quiet_day.xml")) == []
    for name in ("camt052", "camt054"):
        assert parse(s.camt([], message=name), name) == []


def test_entries_without_a_bank_reference_are_identified_by_their_content():
    """tests/fixtures/camt053_v8_two_statements.xml: genkgo/camt's v8 and multi-statement files."""
    data = fixture("camt053_v8_two_statements.xml")
    out = parse(data)
    refs = [p.value["provider_ref"] for p in out]
    assert [p.value["amount_pence"] for p in out] == [25000, 1815, 1815, 1815]  # "250", "18.150", "18.15"
    assert refs[1].endswith("|1") and refs[2] == refs[1][:-1] + "2"  # two identical credits stay two
    assert refs[3] != refs[1]  # the same credit to the other account is another payment
    assert not [p for p in out if p.type == "warning"]  # a zero TxDtls/Amt in USD is not the money
    # the statements re-sent in the other order, and an entry moved: the same identities
    head, first, rest = data.partition(b"<Stmt>")
    stmt1, _, tail = (first + rest).partition(b"</Stmt>")
    stmt2, _, end = tail.partition(b"</Stmt>")
    swapped = head + stmt2.lstrip() + b"</Stmt>" + stmt1 + b"</Stmt>" + end
    assert sorted(p.value["provider_ref"] for p in parse(swapped)) == sorted(refs)


def test_intraday_reports_and_notifications_share_the_statements_identities():
    """camt052_intraday.xml (genkgo's camt052.v8) and camt054_notification.xml (LHV's camt.054)."""
    report = fixture("camt052_intraday.xml")
    assert formats.resolve("auto", report[:formats.SNIFF_BYTES]).name == "camt052"
    out = parse(report, "camt052")
    assert brief(out) == [(1, "payment", "camt053:HB2610050001", 12345), (2, "payment", "camt053:HB2610050013", 312040),
                          (3, "skipped", None, None)]
    statement = parse(fixture("camt053_v2_statement.xml"))
    assert out[0].value["provider_ref"] == statement[0].value["provider_ref"]  # one payment, reported twice
    assert (out[1].value["lump"], out[1].value["reference"]) == ("govuk_pay_payout", "GOV.UK PAY PO_1NxYzA2eZvKYlo2C")
    note = fixture("camt054_notification.xml")
    assert formats.resolve("auto", note[:formats.SNIFF_BYTES]).name == "camt054"
    out = parse(note, "camt054")
    assert [(p.value["provider_ref"], p.value["amount_pence"], p.value["reference"], p.value["match_ref"],
             p.value["lump"]) for p in out] == [
        ("camt053:7D1C2E90A5B3:1", 20000, "NDC10000010", "OKAFOR-OCT", None),  # Ustrd wins over Strd
        ("camt053:7D1C2E90A5B3:2", 10000, "NDC10000028", None, None),
        ("camt053:7D1C2E90A5B4", 921266, "DWP UC APA 4021 OCT", None, "uc_managed_payment")]
    assert "20457755779911" not in repr(out)
    with pytest.raises(Unreadable, match="not a camt.053 statement"):
        parse(note, "camt053")


def test_credits_bundles_debits_and_reversals():
    data = s.camt053([
        s.Entry("ACR1", family="RCDT", sub_family="STDO", txs=[s.Tx(12000, "10000010", "J SMITH", "E2E-1")]),
        s.Entry("ACR2", txs=[s.Tx(100, "A 10000028"), s.Tx(250, "10000036", structured=True, payer=None)]),
        s.Entry("ACR3", side="DBIT", txs=[s.Tx(999, "GAS")]),
        s.Entry("ACR4", side="DBIT", reversal=True, txs=[s.Tx(12000, "10000010", "J SMITH", "E2E-1")]),
        s.Entry("ACR5", status="PDNG", txs=[s.Tx(1)]),
        s.Entry("ACR6", amount_pence=700, txs=[], narrative="J DOE 10000044"),
        s.Entry("ACR7", side="CRDT", reversal=True, txs=[s.Tx(5)]),
        s.Entry("ACR8", amount_pence=0, txs=[]),
    ])
    out = parse(data)
    assert [(p.position, p.type) for p in out] == [(1, "payment"), (2, "payment"), (3, "payment"), (4, "skipped"),
                                                   (5, "reversal"), (6, "skipped"), (7, "payment"), (8, "skipped"),
                                                   (9, "skipped")]
    so, b1, b2, _, rev, _, lone, _, _ = (p.value for p in out)
    assert (so["channel"], so["provider_ref"], so["reference"], so["payer_name"], so["match_ref"]) == (
        "standing_order", "camt053:ACR1", "10000010", "J SMITH", "E2E-1")
    assert (b1["provider_ref"], b1["amount_pence"], b2["provider_ref"], b2["reference"], b2["payer_name"]) == (
        "camt053:ACR2:1", 100, "camt053:ACR2:2", "10000036", None)
    assert b1["channel"] == "bank_transfer" and b1["match_ref"] is None  # NOTPROVIDED is no id
    assert (rev["kind"], rev["amount_pence"], rev["original"]["match_ref"], rev["identity"]) == (
        "returned", 12000, "E2E-1", "camt053:ACR4")
    assert (lone["amount_pence"], lone["reference"]) == (700, "J DOE 10000044")  # a lone entry's narrative
    assert out[-1].note == "entry 8 (ACR8): amount 0, no money moved"


def test_the_entry_amount_is_the_money_that_arrived():
    data = s.camt053([
        s.Entry("A1", amount_pence=500, txs=[s.Tx(100), s.Tx(200)]),  # transactions short of the entry
        s.Entry("A2", txs=[s.Tx(100), s.Tx(200)], tx_amounts=False),  # transactions without amounts
        s.Entry("A3", amount_pence=450000, txs=[s.Tx(4, ccy="JPY")]),  # a lone one in another currency
        s.Entry("A4", amount_pence=450000, txs=[s.Tx(4)]),  # a lone one in GBP that differs
        s.Entry("A5", amount_pence=300, txs=[s.Tx(100, instructed=(9900, "EUR")), s.Tx(200, instructed=(1, "GBP"))]),
        s.Entry("A6", amount_pence=300, txs=[s.Tx(100), s.Tx(200, ccy="EUR")]),
        s.Entry("A7", ccy="EUR", txs=[s.Tx(100, ccy="EUR")]),
    ])
    out = parse(data)
    assert brief(out) == [(1, "payment", "camt053:A1", 500), (2, "payment", "camt053:A2", 300),
                          (3, "payment", "camt053:A3", 450000), (4, "payment", "camt053:A4", 450000),
                          (5, "payment", "camt053:A5:1", 100), (6, "payment", "camt053:A5:2", 200),
                          (7, "payment", "camt053:A6", 300)]
    assert [p.note for p in out if p.type == "warning"] == [
        "entry 1 (A1): its 2 transactions are taken as one item of the entry's 5.00 GBP: they add up to 3.00",
        "entry 2 (A2): its 2 transactions are taken as one item of the entry's 3.00 GBP: not all have an amount in GBP",
        "entry 4 (A4): its transaction's amount 0.04 differs from the entry's 4500.00 GBP: the entry's is taken",
        "entry 6 (A6): its 2 transactions are taken as one item of the entry's 3.00 GBP: not all have an amount in GBP"]
    assert [p.error for p in out if p.error] == ["entry 7 (A7): Amt: currency 'EUR'; only GBP"]


def test_returned_outgoing_payments_and_transaction_codes():
    data = s.camt053([
        s.Entry("R1", family="RCDT", sub_family="DMCT", txs=[s.Tx(4200, "REFUND 10000010", None, "REF-77",
                                                                 returned="AC01", creditor="J SMITH")]),
        s.Entry("R2", family="ICDT", sub_family="RRTN", txs=[s.Tx(1500, "BACS REFUND")]),
        s.Entry("R3", family="RCDT", sub_family="DMCT",
                txs=[s.Tx(100, "10000010", codes=("RCDT", "STDO")), s.Tx(200, "10000028", codes=("RCDT", "RRTN"))]),
    ])
    out = parse(data)
    assert [(p.type, (p.value or {}).get("kind"), (p.value or {}).get("channel")) for p in out] == [
        ("reversal", "outgoing_returned", None), ("reversal", "outgoing_returned", None),
        ("payment", None, "standing_order"), ("reversal", "outgoing_returned", None)]
    assert out[0].value["original"] == {"match_ref": "REF-77", "reference": "REFUND 10000010", "payer_name": "J SMITH"}
    assert out[0].value["reason"] == "payment returned AC01 RETURNED"


@pytest.mark.parametrize("codes, narratives, lump", [
    (Codes("PMNT", "IDDT", "ESDD", ""), (), "dd_collection"),
    (Codes("ACMT", "MCOP", "INTR", ""), (), "interest"),
    (Codes("", "", "", "INT"), (), "interest"),
    (Codes("PMNT", "MCRD", "POSD", ""), (), "card_settlement"),
    (None, ("WORLDPAY UK SETTLEMENT",), "card_settlement"),
    (None, ("GOV UK PAY 2610", "STRIPE PAYMENTS UK"), "govuk_pay_payout"),  # a GOV.UK Pay payout comes via Stripe
    (None, ("ALLPAY LIMITED",), "cash_settlement"),
    (None, ("POST OFFICE LTD CASH",), "cash_settlement"),
    (None, ("DIRECT DEBIT COLLECTION",), "dd_collection"),
    (None, ("UNIVERSAL CREDIT MANAGED PAYMENT",), "uc_managed_payment"),
    (Codes("PMNT", "RCDT", "DMCT", ""), ("NDC10000010 RENT", "J SMITH"), None),
    (None, ("MR PAYPOINTER 10000010",), None),
    (None, ("",), None),
])
def test_lump_sums_are_recognised_by_code_then_narrative(codes, narratives, lump):
    assert lump_of(codes, *narratives) == lump


def test_skip_pattern_leaves_out_channel_settlements():
    data = s.camt053([s.Entry("A1", txs=[s.Tx(50000, "PAYPOINT SETTLEMENT", "PAYPOINT PLC")]),
                      s.Entry("A2", txs=[s.Tx(100, "10000010")])])
    out = parse(data, skip="paypoint|allpay")
    assert [p.type for p in out] == ["skipped", "payment"]


@pytest.mark.parametrize("data, reason", [
    (s.camt053([s.Entry("A", txs=[s.Tx(1)])])[:-40], "not a well-formed camt.053"),
    (b"<Document/>", "not a camt.053 statement"),
])
def test_unreadable(data, reason):
    with pytest.raises(Unreadable, match=reason):
        parse(data)


def test_a_payout_lump_carries_the_stripe_payout_id_its_narrative_names():
    """The GOV.UK Pay payout in camt052_intraday.xml reads "GOV.UK PAY PO_1NxYzA2eZvKYlo2C"."""
    from rentflow_payments.domain.formats.camt import payout_of
    out = parse(fixture("camt052_intraday.xml"), "camt052")
    assert [(p.value["lump"], p.value["payout_id"]) for p in out if p.type == "payment"] == [
        (None, None), ("govuk_pay_payout", "PO_1NxYzA2eZvKYlo2C")]
    assert payout_of(None, "STRIPE PAYMENTS UK po_1QRentPayout0001AbCd REF") == "po_1QRentPayout0001AbCd"
    assert payout_of("GOV.UK PAY PO_1NX", "PO BOX 12", "shipPO_1NxYzA2eZvKYlo2C") is None  # too short, not a word
