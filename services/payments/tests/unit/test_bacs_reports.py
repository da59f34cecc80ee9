"""ARUDD, DDICA, ADDACS and AUDDIS reports as Bacs sends them: the hand-written fixtures in
tests/fixtures/ reproduce real files' structure (each names the public file or parser it follows);
the generated ones (rentflow_payments.samples) cover the edge cases."""
import datetime as dt
import io
from pathlib import Path

import pytest

from rentflow_schemas.bacs import ARUDD_REASONS, normalise_return_code

from rentflow_payments import samples as s
from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable, arudd, messaging

FIXTURES = Path(__file__).parent.parent / "fixtures"
D = dt.date(2026, 5, 1)
REPORTED = dt.date(2026, 5, 8)


def parse(name: str, data: bytes):
    return list(formats.FORMATS[name].parse(io.BytesIO(data), {}))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def no_bank_details(values) -> None:
    """Payer sort codes and account numbers of the fixtures never reach an item."""
    text = repr(values)
    for secret in ("55779911", "20-45-77", "204577", "10293847", "99887766", "771122", "11223344"):
        assert secret not in text


@pytest.mark.parametrize("raw, description, code", [
    ("0128", "", "0"), ("0273", "REFER TO PAYER", "0"), ("1012", "", "1"), ("1273", "", "1"),  # real 4-character codes
    ("F21", "", "1"), ("F2A", "", "A"), ("01", "", "1"), ("B", "", "B"), ("b", "", "B"), ("A123", "", "A"),
    ("X07", "NO ACCOUNT", "5"), ("", "refer  to payer", "0"),  # not a code, but the Bacs wording
    ("Z999", "UNPAID", None), ("", "", None), ("F2Z", "", None), ("12", "", None),
])
def test_return_codes_are_normalised_from_what_reports_send(raw, description, code):
    assert normalise_return_code(raw, description) == code


def test_arudd_report_as_banks_send_it():
    """tests/fixtures/arudd_report.xml: A-S620/xml-parsing's ARUDD and so-sure's BacsService."""
    out = parse("arudd", fixture("arudd_report.xml"))
    got = [(p.position, p.type, (p.value or {}).get("reference"), (p.value or {}).get("return_code"),
            (p.value or {}).get("return_code_raw"), (p.value or {}).get("amount_pence")) for p in out]
    assert got == [
        (1, "return", "NDC10000010", "0", "0128", 12345),
        (2, "return", "NDC10000028", "1", "1012", 125000),  # valueOf "1,250.00"
        (3, "return", "NDC10000036", "1", "F21", 9800),
        (4, "return", "NDC10000044-2", "0", "0273", 1250),  # the item's own ref, not PayerAccount's
        (5, "warning", None, None, None, None),
        (5, "return", "NDC10000051", "unknown", "Z999", 4000),  # still taken, never lost
        (6, "return", "NDC10000069", "5", "X07", 7700),  # read from its wording, NO ACCOUNT
    ]
    assert out[4].note.startswith("returnCode 'Z999' (UNPAID) is not a known ARUDD reason")
    first = out[0].value
    assert (first["reported_on"], first["original_processing_date"], first["transaction_code"], first["payer_name"],
            first["return_description"]) == (dt.date(2026, 5, 7), D, "17", "MRS J OKAFOR", "REFER TO PAYER")
    assert first["identity"] == "arudd|NDC10000010|2026-05-01|12345|1"
    no_bank_details([p.value for p in out])


def test_arudd_identities_survive_a_reissued_report():
    data = s.arudd([s.Returned("1000-0010", 12000, D, "0128"), s.Returned("10000028", 9950, D, "1012"),
                    s.Returned("10000028", 9950, D, "1012")], reported=REPORTED)
    out = parse("arudd", data)
    assert [p.value["return_code"] for p in out] == ["0", "1", "1"]
    assert out[1].value["identity"] != out[2].value["identity"]  # two identical items stay two returns
    reissued = parse("arudd", data.replace(b'adviceNumber="00001"', b'adviceNumber="00777"')
                     .replace(b'currentProcessingDate="2026-05-08"', b'currentProcessingDate="2026-05-11"'))
    assert [p.value["identity"] for p in reissued] == [p.value["identity"] for p in out]


def test_arudd_bad_items_are_rejected_one_by_one_and_totals_are_checked():
    data = s.arudd([s.Returned("R1", 100, D, "Q"), s.Returned("R2", 200, D)], reported=REPORTED, totals=999)
    data = data.replace(b'valueOf="2.00"', b'valueOf="2.005"').replace(b'currency="GBP">', b'currency="EUR">', 1)
    out = parse("arudd", data)
    assert [(p.position, p.error) for p in out if p.error] == [
        (1, "currency: 'EUR'; only GBP"),
        (2, "valueOf: '2.005' is not an amount in pounds and whole pence, e.g. 123.45")]
    assert [p.note for p in out if p.type == "warning"] == ["Totals valueOf 9.99 differs from the items before it (0.00)"]


def test_arudd_without_items_is_a_valid_report():
    assert parse("arudd", s.arudd([], reported=REPORTED)) == []


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


def test_ddica_report_as_public_parsers_read_it():
    """tests/fixtures/ddica_report.xml: so-sure's BacsService::ddic and a Django app's parser."""
    out = parse("ddica", fixture("ddica_report.xml"))
    returns = [p.value for p in out if p.type == "return"]
    assert [(r["reference"], r["original_processing_date"], r["amount_pence"], r["return_code"], r["return_code_raw"])
            for r in returns] == [
        ("NDC10000010", dt.date(2026, 3, 2), 55572, "7", "DDICA 1"),
        ("NDC10000010", dt.date(2026, 4, 1), 55573, "7", "DDICA 1"),
        ("NDC10000028", dt.date(2026, 4, 1), 25000, "6", "DDICA 5"),
        ("NDC10000036", dt.date(2026, 4, 1), 9800, "4", "DDICA 2")]  # the cancelled claim
    assert {r["reported_on"] for r in returns} == {dt.date(2026, 5, 26)}  # NewAdvices DateOfDebit
    assert returns[0]["identity"] == "ddica|NDC10000010|DDIC2026051200381|2026-03-02|55572|1"
    assert returns[0]["return_description"] == "indemnity claim: amount or date differ from the advance notice"
    assert "cancels_identity" not in returns[0]
    # a cancellation names the claim it undoes by that claim's own identity (its PayingBankReference)
    cancelled = returns[3]
    assert cancelled["cancels_identity"] == "ddica|NDC10000036|DDIC2026050500112|2026-04-01|9800|1"
    assert cancelled["identity"] == "ddica-cancel|" + cancelled["cancels_identity"]
    assert cancelled["return_description"].startswith("indemnity claim cancelled by the paying bank")
    assert [p for p in out if p.type == "return"][3].position == 3
    assert not [p for p in out if p.type == "warning"]  # TotalValueOfDebits "1,361.45" agrees (claims only)
    assert not [p for p in out if p.error]
    no_bank_details(returns)


def test_ddica_edge_cases():
    claims = [s.Claim("1", "10000010", [(D, 120000), (D + dt.timedelta(days=28), 12000)], code="2"),
              s.Claim("2", "10000028", [(D, 500)], code="9")]
    out = parse("ddica", s.ddica(claims, reported=dt.date(2026, 5, 20)))
    assert [(p.position, p.type, (p.value or {}).get("return_code")) for p in out] == [
        (1, "return", "4"), (1, "return", "4"), (2, "warning", None), (2, "return", "unknown")]
    assert out[1].value["original_processing_date"] == dt.date(2026, 5, 29)
    assert out[2].note.startswith("ReasonCode '9' is not a known DDICA reason")
    # the day of debit may follow the claims; without one a claim cannot be dated
    data = s.ddica(claims[:1], reported=dt.date(2026, 5, 20))
    moved = data.replace(b"<DateOfDebit>2026-05-20</DateOfDebit>", b"").replace(
        b"</NewAdvices>", b"<DateOfDebit>2026-05-21</DateOfDebit></NewAdvices>")
    assert {p.value["reported_on"] for p in parse("ddica", moved)} == {dt.date(2026, 5, 21)}
    undated = parse("ddica", data.replace(b"<DateOfDebit>2026-05-20</DateOfDebit>", b""))
    assert [p.error for p in undated] == ["no NewAdvices DateOfDebit: the day the claim is debited is unknown"]
    wrong_total = parse("ddica", data.replace(b"<TotalValueOfDebits>1,320.00", b"<TotalValueOfDebits>1,300.00"))
    assert [p.note for p in wrong_total if p.type == "warning"] == [
        "NewAdvices TotalValueOfDebits 1,300.00 differs from the claims (1320.00)"]


def test_a_ddica_report_of_cancellations_only_is_read():
    """A paying bank's report with Cancellations and no NewAdvices (so no DateOfDebit): each cancellation
    is read, dated the day the file is read (a warning says so), and names the claim it undoes."""
    import re
    from zoneinfo import ZoneInfo

    data = re.sub(rb"<NewAdvices>.*</NewAdvices>", b"", fixture("ddica_report.xml"), flags=re.S)
    assert b"<DateOfDebit>" not in data and b"<DDICCancellation>" in data
    before = dt.datetime.now(ZoneInfo("Europe/London")).date()
    out = parse("ddica", data)
    read_on = {before, dt.datetime.now(ZoneInfo("Europe/London")).date()}  # two days if read over midnight
    assert not [p for p in out if p.error]
    [warning] = [p for p in out if p.type == "warning"]
    [cancelled] = [p.value for p in out if p.type == "return"]
    assert cancelled["reported_on"] in read_on and cancelled["amount_pence"] == 9800
    assert warning.note == ("no NewAdvices DateOfDebit (a report of cancellations only): the cancellations are "
                            f"taken as reported on the day the file was read, {cancelled['reported_on']}")
    assert cancelled["cancels_identity"] == "ddica|NDC10000036|DDIC2026050500112|2026-04-01|9800|1"
    # the same cancellations in the full report carry the same identity: a re-sent report is all duplicates
    full = [p.value for p in parse("ddica", fixture("ddica_report.xml")) if p.type == "return"]
    assert cancelled["identity"] == full[3]["identity"]


def test_addacs_report_as_banks_send_it():
    """tests/fixtures/addacs_report.xml: so-sure's Lloyds ADDACS.xml."""
    data = fixture("addacs_report.xml")
    out = parse("addacs", data)
    assert [(p.position, p.type, (p.value or {}).get("action"), (p.value or {}).get("advice_sequence")) for p in out] == [
        (1, "mandate", "cancelled", "00000041"), (2, "mandate", "transferred", "00000042"),
        (3, "mandate", "amended", "00000043"), (4, "mandate", "reinstated", "00000044"),
        (5, "warning", None, None), (5, "mandate", "query", "00000045"),  # unknown code: a person reads it
        (6, "mandate", "closed", "00000046")]
    assert out[0].value["identity"] == "addacs|654321|00000041|NDC10000010|1|2026-05-08"
    assert out[6].value["effective_date"] == dt.date(2026, 5, 11)  # no effective-date: the report's
    assert out[1].value["description"].startswith("ADDACS 3: account transferred to a new bank")
    no_bank_details([p.value for p in out])
    # the same advices re-sent in a later report, in another order: the same events
    later = data.replace(b'report-generation-date="2026-05-11"', b'report-generation-date="2026-05-14"')
    lines = later.split(b"\n")
    advices = [i for i, line in enumerate(lines) if b"<MessagingAdvice " in line]
    lines[advices[0]], lines[advices[-1]] = lines[advices[-1]], lines[advices[0]]
    again = parse("addacs", b"\n".join(lines))
    assert sorted(p.value["identity"] for p in again if p.value) == sorted(p.value["identity"] for p in out if p.value)


def test_auddis_advices_every_code_is_a_rejection_but_c():
    """tests/fixtures/auddis_advices.xml: the family's real layout, so-sure's AUDDIS codes."""
    out = parse("auddis", fixture("auddis_advices.xml"))
    got = [(p.type, (p.value or {}).get("reason_code"), (p.value or {}).get("action")) for p in out]
    assert got == [("mandate", "7", "rejected"), ("mandate", "L", "rejected"), ("mandate", "C", "amended"),
                   ("warning", None, None), ("mandate", "J", "rejected")]
    assert out[0].value["description"] == "AUDDIS 7: DDI amount not zero (instruction 0N)"
    assert out[3].note.startswith("reason-code 'J' is not a known AUDDIS code: taken as action rejected")


@pytest.mark.parametrize("name, action, serial, counts, error, description", [
    ("auddis_accepted.xml", "lodgement_accepted", "000027", (14, 0), None,
     "AUDDIS lodgement 000027 (file 027) accepted: 14 instruction(s) lodged"),
    ("auddis_rejected.xml", "lodgement_rejected", "000028", (0, 3), "30264",
     "AUDDIS lodgement 000028 (file 028) rejected, error 30264: Service User Status is TEST on Arrival Day: none "
     "of its instructions is live"),
])
def test_auddis_lodgement_reports(name, action, serial, counts, error, description):
    """so-sure's Lloyds AUDDIS.xml (AUDACC) and AUDDIS-error.xml (AUDREJ): about a whole file."""
    data = fixture(name)
    assert formats.resolve("auto", data[:formats.SNIFF_BYTES]).name == "auddis"
    for fmt in ("auddis", "addacs"):  # the report's own advice-type wins
        [item] = parse(fmt, data)
        v = item.value
        assert (v["source"], v["action"], v["reference"], v["lodgement_serial"], v["lodgement_file_number"],
                (v["accepted_count"], v["rejected_count"]), v["file_error_code"], v["description"]) == (
            "auddis", action, f"LODGEMENT {serial}", serial, serial[-3:], counts, error, description)
        assert v["effective_date"] == dt.date(2026, 5, 6 if error is None else 13)


def test_messaging_samples_without_sequence_numbers_and_sniffing():
    adv = [s.Advice("10000010", "1", D), s.Advice("10000028", "3"), s.Advice("10000036", "R", D)]
    out = parse("addacs", s.messaging(adv, advice_type="ADDACS", reported=REPORTED))
    assert [p.value["action"] for p in out] == ["cancelled", "transferred", "reinstated"]
    assert out[0].value["identity"] == "addacs|10000010|1|2026-05-01|1"  # no aosn: the advice's content
    auddis = s.messaging([s.Advice("10000010", "L", transaction_code="0N", aosn="9")], advice_type="AUDDIS",
                         reported=REPORTED)
    assert messaging.sniff_auddis(auddis) and not messaging.sniff_addacs(auddis)
    lodgement = s.auddis_lodgement("000031", accepted=False, reported=REPORTED, processing=D, lodged=2, rejected=2,
                                   error_code="30011", error="FILE OUT OF SEQUENCE")
    assert messaging.sniff_auddis(lodgement) and arudd.sniff_arudd(s.arudd([], reported=REPORTED))
    [rejected] = parse("auddis", lodgement)
    assert (rejected.value["action"], rejected.value["file_error_code"]) == ("lodgement_rejected", "30011")
    missing = lodgement.replace(b' vol-serial-number="000031"', b"")
    assert [p.error for p in parse("auddis", missing)] == [
        "vol-serial-number: missing, so the lodgement this report is about is unknown"]


def test_the_tables_cover_what_domain_md_lists():
    from rentflow_schemas.bacs import ADDACS_REASONS, AUDDIS_REASONS, DDICA_REASONS, MANDATE_ACTIONS
    assert list(ARUDD_REASONS) == list("0123456789AB")
    assert set(ADDACS_REASONS) == set("0123BCDER")
    assert set("12356B7CFGHILMNOPQ") <= set(AUDDIS_REASONS)
    assert set(DDICA_REASONS) == set("123456")
    actions = {a.action for t in (ADDACS_REASONS, AUDDIS_REASONS) for a in t.values()}
    assert actions | {"query", "lodgement_accepted", "lodgement_rejected", "new", "converted"} == set(MANDATE_ACTIONS)
