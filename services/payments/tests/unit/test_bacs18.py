"""Bacs Standard 18: collections, instructions, direct credits, contras and labels."""
import datetime as dt
import io

import pytest

from rentflow_payments import samples as s
from rentflow_payments.domain.formats import Unreadable, bacs18

DAY = dt.date(2026, 5, 1)


def parse(data: bytes, **options):
    return list(bacs18.parse(io.BytesIO(data), options))


def test_labelled_file_collections_instructions_refunds_and_contra():
    data = s.bacs18([s.S18("01", 12000, "1000 0010"), s.S18("17", 9950, "10000028", payer_name="J SMITH"),
                     s.S18("0N", 0, "10000036"), s.S18("0C", 0, "10000044"), s.S18("99", 500, "10000052")],
                    day=DAY, crlf=True)
    out = parse(data)
    pays = [p for p in out if p.type == "payment"]
    assert [(p.position, p.value["reference"], p.value["amount_pence"], p.value["channel"]) for p in pays] == [
        (5, "1000 0010", 12000, "direct_debit"), (6, "10000028", 9950, "direct_debit")]
    assert pays[0].value["paid_at"] == "2026-05-01T00:00:00+01:00"  # the processing date, Europe/London
    assert pays[1].value["payer_name"] == "J SMITH"
    assert pays[0].value["provider_ref"] == "bacs18:2026-05-01|10000010|12000|1"
    mandates = [p.value for p in out if p.type == "mandate"]
    assert [(m["reference"], m["action"], m["reason_code"], m["effective_date"]) for m in mandates] == [
        ("10000036", "new", "0N", DAY), ("10000044", "cancelled", "0C", DAY)]
    # the VOL1 volume serial number: what an AUDACC/AUDREJ report names the lodgement by
    assert {m["lodgement_serial"] for m in mandates} == {"000001"}
    unlabelled = parse(s.bacs18([s.S18("0N", 0, "10000036")], day=DAY, labels=False), processing_date="2026-05-01")
    assert [p.value["lodgement_serial"] for p in unlabelled if p.type == "mandate"] == [None]
    skipped = [p.note for p in out if p.type == "skipped"]
    assert len(skipped) == 3 and "direct credit" in skipped[0] and all("contra" in n for n in skipped[1:])
    assert not [p for p in out if p.type == "warning" or p.error]


def test_unlabelled_106_character_records_carry_their_own_dates_and_lf_or_crlf_reads_the_same():
    recs = [s.S18("17", 100, "REF1", day=DAY), s.S18("17", 200, "REF2", day=DAY + dt.timedelta(days=1))]
    out = parse(s.bacs18(recs, labels=False, contra=False))
    assert [p.value["paid_at"][:10] for p in out] == ["2026-05-01", "2026-05-02"]
    assert parse(s.bacs18(recs, labels=False, contra=False, crlf=True)) == out


def test_100_character_records_without_uhl1_need_the_processing_date_option():
    data = s.bacs18([s.S18("17", 100, "REF1")], labels=False, contra=False)
    with pytest.raises(Unreadable, match="processing_date=YYYY-MM-DD"):
        parse(data)
    assert parse(data, processing_date="2026-05-05")[0].value["paid_at"].startswith("2026-05-05")


def test_identical_collections_in_one_file_are_two_items_and_a_resent_file_gives_the_same_refs():
    data = s.bacs18([s.S18("17", 100, "REF1"), s.S18("17", 100, "REF1")], day=DAY)
    refs = [p.value["provider_ref"] for p in parse(data) if p.type == "payment"]
    assert refs == ["bacs18:2026-05-01|REF1|100|1", "bacs18:2026-05-01|REF1|100|2"]
    relabelled = data.replace(b"VOL1000001", b"VOL1000999")
    assert [p.value["provider_ref"] for p in parse(relabelled) if p.type == "payment"] == refs


def test_contra_and_utl1_mismatches_are_warnings_and_bad_records_are_rejected_by_line():
    good = s.bacs18([s.S18("17", 1000, "REF1"), s.S18("17", 2000, "REF2")], day=DAY).decode()
    tampered = good.replace(f"{3000:011d}{s.LANDLORD:<18}CONTRA", f"{2999:011d}{s.LANDLORD:<18}CONTRA", 1)
    assert tampered != good
    lines = tampered.splitlines()
    lines.insert(5, "1122338765432101740123412345678000000000012000RENTFLOW COUNCIL  lower case ref    A TENANT          ")
    lines.insert(6, "11223387654321017401234123456780000000000abcdRENTFLOW COUNCIL  REF3              A TENANT          ")
    lines.insert(7, "short")
    out = parse(("\n".join(lines) + "\n").encode())
    errors = {p.position: p.error for p in out if p.error}
    assert "reference (columns 65–82) has 'l' at column 65" in errors[6]
    assert errors[7] == "amount (columns 36–46) must be 11 digits"
    assert "record is 5 characters" in errors[8]
    warnings = [p.note for p in out if p.type == "warning"]
    assert any("contra record of £29.99 does not match the 2 collections before it (£30.00)" in w for w in warnings)
    assert len([p for p in out if p.type == "payment" and not p.error]) == 2
    assert "12345678" not in " ".join(errors.values())  # bank details are never echoed


def test_instruction_with_an_amount_and_a_collection_of_nothing_are_rejected():
    out = parse(s.bacs18([s.S18("0N", 5, "REF1"), s.S18("17", 0, "REF2")], day=DAY, contra=False))
    assert [p.error for p in out if p.error] == ["instruction records (0N) must have amount 0",
                                                 "amount (columns 36–46) must be more than 0 for a collection"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"<xml/>\n", "not a Bacs Standard 18 file"),
    (b"VOL1000001\nHDR1A\nUHL1 26121\n" + s.s18_record(s.S18("17", 100, "R")).encode() + b"\n", "truncated"),
])
def test_unreadable_files(data, reason):
    with pytest.raises(Unreadable, match=reason):
        parse(data)


def test_sniff():
    assert bacs18.sniff(s.bacs18([s.S18("17", 1, "R")], day=DAY))
    assert bacs18.sniff(s.bacs18([s.S18("17", 1, "R", day=DAY)], labels=False))
    assert not bacs18.sniff(b"transaction_id,paid_at\n")
