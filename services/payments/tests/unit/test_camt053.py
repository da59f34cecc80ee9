"""camt.053 statements: credits, bundles, debits, reversals, channels, references."""
import datetime as dt
import io

import pytest

from rentflow_payments import samples as s
from rentflow_payments.domain.formats import Unreadable, camt053


def parse(data: bytes, **options):
    return list(camt053.parse(io.BytesIO(data), options))


def test_credits_bundles_debits_and_reversals():
    data = s.camt053([
        s.Entry("ACR1", family="RCDT", sub_family="STDO", txs=[s.Tx(12000, "10000010", "J SMITH", "E2E-1")]),
        s.Entry("ACR2", txs=[s.Tx(100, "A 10000028"), s.Tx(250, "10000036", structured=True, payer=None)]),
        s.Entry("ACR3", side="DBIT", txs=[s.Tx(999, "GAS")]),
        s.Entry("ACR4", side="DBIT", reversal=True, txs=[s.Tx(12000, "10000010", "J SMITH", "E2E-1")]),
        s.Entry("ACR5", status="PDNG", txs=[s.Tx(1)]),
        s.Entry("ACR6", amount_pence=700, txs=[]),
    ])
    out = parse(data)
    assert [(p.position, p.type) for p in out] == [(1, "payment"), (2, "payment"), (3, "payment"), (4, "skipped"),
                                                   (5, "reversal"), (6, "skipped"), (7, "payment")]
    so, b1, b2, _, rev, _, lone = (p.value for p in out)
    assert (so["channel"], so["provider_ref"], so["reference"], so["payer_name"], so["match_ref"]) == (
        "standing_order", "camt053:ACR1", "10000010", "J SMITH", "E2E-1")
    assert so["paid_at"] == "2026-10-05T00:00:00+01:00"
    assert (b1["provider_ref"], b1["amount_pence"], b2["provider_ref"], b2["reference"], b2["payer_name"]) == (
        "camt053:ACR2:1", 100, "camt053:ACR2:2", "10000036", None)
    assert b1["channel"] == "bank_transfer" and b1["match_ref"] is None  # NOTPROVIDED is no id
    assert (rev["kind"], rev["amount_pence"], rev["original"]["match_ref"], rev["identity"]) == (
        "returned", 12000, "E2E-1", "camt053:ACR4")
    assert lone["amount_pence"] == 700 and lone["reference"] == ""


def test_bad_entries_are_rejected_and_totals_warned():
    data = s.camt053([s.Entry("A1", amount_pence=500, txs=[s.Tx(100), s.Tx(200)]),
                      s.Entry("A2", txs=[s.Tx(100)], tx_amounts=False),
                      s.Entry("A3", txs=[s.Tx(100), s.Tx(200)], tx_amounts=False)])
    data = data.replace(b'<Amt Ccy="GBP">1.00</Amt><CdtDbtInd>', b'<Amt Ccy="EUR">1.00</Amt><CdtDbtInd>')
    out = parse(data)
    assert any(p.type == "warning" and "total 3.00, the entry 5.00" in p.note for p in out)
    errors = [p.error for p in out if p.error]
    assert "entry 2 (A2): Amt: currency 'EUR'; only GBP" in errors
    assert sum("TxDtls 1 Amt: missing" in e or "TxDtls 2 Amt: missing" in e for e in errors) == 2


def test_skip_pattern_leaves_out_channel_settlements():
    data = s.camt053([s.Entry("A1", txs=[s.Tx(50000, "PAYPOINT SETTLEMENT", "PAYPOINT PLC")]),
                      s.Entry("A2", txs=[s.Tx(100, "10000010")])])
    out = parse(data, skip="paypoint|allpay")
    assert [p.type for p in out] == ["skipped", "payment"]


@pytest.mark.parametrize("data, reason", [
    (s.camt053([s.Entry("A", txs=[s.Tx(1)])])[:-40], "not a well-formed camt.053"),
    (s.camt053([]), "no entries"),
    (b"<Document/>", "not a camt.053 statement"),
])
def test_unreadable(data, reason):
    with pytest.raises(Unreadable, match=reason):
        parse(data)
