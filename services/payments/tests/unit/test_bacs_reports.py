"""ARUDD, DDICA, ADDACS and AUDDIS reports: items, normalised codes, identities, refusals."""
import datetime as dt
import io

import pytest

from rentflow_payments import samples as s
from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable, arudd, messaging

D = dt.date(2026, 5, 1)
REPORTED = dt.date(2026, 5, 8)


def parse(name: str, data: bytes):
    return list(formats.FORMATS[name].parse(io.BytesIO(data), {}))


def test_arudd_items_become_returns_with_normalised_codes_and_stable_identities():
    data = s.arudd([s.Returned("1000-0010", 12000, D, "F21"), s.Returned("10000028", 9950, D, "0"),
                    s.Returned("10000028", 9950, D, "0")], reported=REPORTED)
    out = parse("arudd", data)
    assert [(p.position, p.value["return_code"], p.value["return_code_raw"]) for p in out] == [
        (1, "1", "F21"), (2, "0", "0"), (3, "0", "0")]
    first = out[0].value
    assert (first["reference"], first["amount_pence"], first["original_processing_date"], first["reported_on"],
            first["transaction_code"], first["payer_name"]) == ("1000-0010", 12000, D, REPORTED, "17", "A TENANT")
    assert first["identity"] == "arudd|10000010|2026-05-01|12000|1"
    assert out[1].value["identity"] != out[2].value["identity"]  # two identical items stay two returns
    resent = parse("arudd", data.replace(b'adviceNumber="00001"', b'adviceNumber="00777"'))
    assert [p.value["identity"] for p in resent] == [p.value["identity"] for p in out]


def test_arudd_bad_items_are_rejected_one_by_one_and_totals_are_checked():
    data = s.arudd([s.Returned("R1", 100, D, "Z"), s.Returned("R2", 200, D)], reported=REPORTED, totals=999)
    data = data.replace(b'valueOf="2.00"', b'valueOf="2.005"')
    out = parse("arudd", data)
    assert out[0].error.startswith("returnCode: unknown ARUDD return code 'Z'")
    assert out[1].error.startswith("valueOf: '2.005' is not an amount")
    assert [p.type for p in out if not p.error] == ["warning"]


@pytest.mark.parametrize("data, reason", [
    (b"<BACSDocument><Data><ARUDD><Header currentProcessingDate='2026-05-08'/>", "not a well-formed ARUDD"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><BACSDocument><ARUDD/></BACSDocument>', "DOCTYPE"),
    (b"<BACSDocument><Data><ARUDD><Header/><ReturnedDebitItem ref='R' valueOf='1.00' returnCode='0' "
     b"originalProcessingDate='2026-05-01'/></ARUDD></Data></BACSDocument>", "no Header currentProcessingDate"),
    (b"<Document><BkToCstmrStmt/></Document>", "not an ARUDD report"),
])
def test_arudd_unreadable(data, reason):
    with pytest.raises(Unreadable, match=reason):
        parse("arudd", data)


def test_ddica_claims_are_one_return_per_collection_claimed():
    data = s.ddica([s.Claim("DDIC0001", "10000010", [(D, 12000), (D + dt.timedelta(days=28), 12000)], code="2"),
                    s.Claim("DDIC0002", "10000028", [(D, 500)], code="9")], reported=dt.date(2026, 5, 20))
    out = parse("ddica", data)
    returns = [p.value for p in out if p.type == "return" and not p.error]
    assert [(r["identity"], r["return_code"], r["source"], r["amount_pence"]) for r in returns] == [
        ("ddica|DDIC0001|1", "4", "ddica", 12000), ("ddica|DDIC0001|2", "4", "ddica", 12000)]
    assert returns[1]["original_processing_date"] == dt.date(2026, 5, 29)
    assert [p.error for p in out if p.error] == ["ReasonCode: '9' is not a DDICA reason code (1, 2, 3, 4, 5, 6)"]


def test_addacs_and_auddis_give_mandate_actions_and_the_report_says_which_it_is():
    adv = [s.Advice("10000010", "1", D), s.Advice("10000028", "3"), s.Advice("10000036", "R", D),
           s.Advice("10000044", "X")]
    out = parse("addacs", s.messaging(adv, advice_type="ADDACS", reported=REPORTED))
    assert [(p.value or {}).get("action") for p in out] == ["cancelled", "transferred", "reinstated", None]
    assert out[1].value["effective_date"] == REPORTED  # no effective-date: the report's date
    assert "not an ADDACS code" in out[3].error
    auddis = s.messaging([s.Advice("10000010", "L", transaction_code="0N")], advice_type="AUDDIS", reported=REPORTED)
    for name in ("auddis", "addacs"):  # the file's own advice-type wins
        [item] = parse(name, auddis)
        assert (item.value["source"], item.value["action"], item.value["reason_code"]) == ("auddis", "rejected", "L")
        assert "incorrect payer account details" in item.value["description"]
    assert messaging.sniff_auddis(auddis) and not messaging.sniff_addacs(auddis)
    assert arudd.sniff_arudd(s.arudd([], reported=REPORTED))
