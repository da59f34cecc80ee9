"""Housing Benefit and Universal Credit schedules (formats hb-schedule, uc-schedule).

No public layout exists for either (docs/domain.md §3): the fixtures follow what councils publish of
their landlord HB schedules (claim, the period from/to the payment covers, the amount, the date it
reaches the landlord: e.g. rushmoor.gov.uk and torbay.gov.uk landlord payment pages) and what the
DWP UC Landlord Portal exports per payment (gov.uk "Social rented sector Landlord Portal": managed
payments and third-party arrears deductions by the landlord's tenancy reference); values invented."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable, resolve
from rentflow_payments.domain.items import FilePaymentIn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def parse(name: str, data: bytes, **options):
    return list(formats.FORMATS[name].parse(io.BytesIO(data), options))


def test_a_council_hb_schedule_splits_onto_rent_accounts_and_recovers_an_overpayment_from_the_account():
    data = (FIXTURES / "hb_schedule.csv").read_bytes()
    out = parse("hb-schedule", data)
    payments = [p.value for p in out if p.type == "payment" and p.value]
    assert [(p["provider_ref"], p["reference"], p["amount_pence"], p["channel"], p["paid_at"]) for p in payments] == [
        ("hb:HB0041277:2026-04-06:2026-05-03", "1000-0001", 101240, "housing_benefit", "2026-05-04T00:00:00+01:00"),
        ("hb:HB0041290:2026-04-06:2026-05-03", "10000028", 38812, "housing_benefit", "2026-05-04T00:00:00+01:00"),
        ("hb:HB0041312:2026-04-06:2026-05-03", "10000044", 20500, "housing_benefit", "2026-05-04T00:00:00+01:00")]
    assert not [p for p in out if p.error]
    # the negative line: an overpaid rebate the council recovers by debiting the rent account, not refused
    [recovery] = [p for p in out if p.type == "reversal"]
    assert recovery.position == 4
    assert (recovery.value["kind"], recovery.value["amount_pence"], recovery.value["original"]["reference"],
            recovery.value["identity"], recovery.value["reversed_at"]) == (
        "benefit_recovered", 4500, "10000036", "hb-recovery:HB0041311:2026-04-06:2026-05-03", "2026-05-04T00:00:00+01:00")
    from rentflow_payments.domain.items import ReversalIn
    ReversalIn.model_validate(recovery.value)  # exactly what intake validates
    # the schedule's total, 1,560.52, counts the recovery negative: it agrees, so no warning
    assert [(p.position, p.type) for p in out if p.type in ("warning", "skipped")] == [(6, "skipped")]
    for form in ("(45.00)", "45.00-", "-£45.00"):
        again = parse("hb-schedule", data.replace(b"-45.00", form.encode()))
        assert [p.value["amount_pence"] for p in again if p.type == "reversal"] == [4500], form
    uc = b"tenancy_ref,payment_date,amount\n10000051,12/05/2026,-10.00\n"
    assert [p.error for p in parse("uc-schedule", uc)] == ["amount: '-10.00' is negative: a schedule of payments has none"]
    for p in payments:
        FilePaymentIn.model_validate(p)  # exactly what intake validates
    assert resolve("auto", b"claim_ref,rent_ref,period_from,period_to,amount\n").name == "hb-schedule"


def test_the_dwp_uc_schedule_keeps_managed_payments_and_arrears_deductions_apart():
    data = (FIXTURES / "uc_schedule.csv").read_bytes()
    out = parse("uc-schedule", data)
    assert not [p for p in out if p.error]
    got = [(p.value["provider_ref"], p.value["reference"], p.value["amount_pence"]) for p in out]
    assert got == [("uc:UC2605120001:10000051:managed_payment:41250", "10000051", 41250),
                   ("uc:UC2605120001:10000051:arrears_deduction:2290", "10000051", 2290),
                   ("uc:UC2605120001:1000 0069:managed_payment:49800", "1000 0069", 49800),
                   ("uc:UC2605120001:10000077:managed_payment:38675", "10000077", 38675)]
    assert {p.value["channel"] for p in out} == {"universal_credit"}
    assert out[0].value["paid_at"] == "2026-05-12T00:00:00+01:00" and out[0].value["payer_name"] == "K NOWAK"
    assert sum(p.value["amount_pence"] for p in out) == 132015  # the one DWP lump on the statement
    assert resolve("auto", b"tenancy_ref,payment_date,amount\n").name == "uc-schedule"


def test_a_landlords_own_headers_are_mapped_and_a_missing_column_is_unreadable():
    data = b"Ref No,Paid,Value\n10000051,12/05/2026,10.00\n"
    with pytest.raises(Unreadable, match="the header lacks tenancy_ref, payment_date"):
        parse("uc-schedule", data)
    out = parse("uc-schedule", data, columns="tenancy_ref=Ref No,payment_date=Paid,amount=Value")
    assert out[0].value["amount_pence"] == 1000
    with pytest.raises(Unreadable, match="columns: 'nonsense=X'"):
        parse("hb-schedule", data, columns="nonsense=X")
    with pytest.raises(Unreadable, match="the file is empty"):
        parse("hb-schedule", b"")


def test_bad_rows_name_their_field_and_identical_rows_stay_two():
    data = (b"claim_ref,rent_ref,period_from,period_to,amount\n"
            b"C1,R1,2026-04-06,2026-04-12,10.00\n"
            b"C1,R1,2026-04-06,2026-04-12,10.00\n"
            b"C2,,2026-04-06,2026-04-12,10.00\n"
            b"C3,R3,2026-04-12,2026-04-06,10.00\n"
            b"C4,R4,someday,2026-04-06,10.00\n")
    out = parse("hb-schedule", data)
    assert [p.value["provider_ref"] for p in out[:2]] == ["hb:C1:2026-04-06:2026-04-12",
                                                          "hb:C1:2026-04-06:2026-04-12|2"]
    assert [p.error for p in out[2:]] == [
        "rent_ref: blank (the rent account the rebate is for)",
        "period_to: 2026-04-06 is before period_from 2026-04-12",
        "period_from: 'someday' is not a date (e.g. 06/10/2026 or 2026-10-06)"]
    bad_type = parse("uc-schedule", b"tenancy_ref,payment_date,amount,payment_type\nT1,2026-05-12,1.00,refund\n")
    assert bad_type[0].error == "payment_type: 'refund' is neither a managed payment nor an arrears deduction"


rows = st.lists(st.tuples(st.from_regex(r"[A-Z0-9]{3,8}", fullmatch=True), st.integers(1, 10**7),
                          st.integers(0, 27)), min_size=1, max_size=20)


@given(rows)
def test_every_amount_is_posted_as_written_and_the_file_again_is_the_same_items(items):
    """Round trip: pounds written → pence read, one payment per row; re-reading (a re-sent file)
    gives the same provider_refs, so intake takes it as all duplicates."""
    lines = ["claim_ref,rent_ref,period_from,period_to,amount"]
    for ref, pence, day in items:
        lines.append(f"HB{ref},{ref},2026-04-{1 + day:02d},2026-04-28,{pence // 100}.{pence % 100:02d}")
    data = ("\n".join(lines) + "\n").encode()
    first, again = parse("hb-schedule", data), parse("hb-schedule", data)
    assert [p.value["amount_pence"] for p in first] == [pence for _, pence, _ in items]
    assert [p.value["provider_ref"] for p in first] == [p.value["provider_ref"] for p in again]
    assert len({p.value["provider_ref"] for p in first}) == len(items)


def test_the_readme_lists_every_format_with_its_variants():
    """services/payments/README.md's format table has a row for every registered format, each
    naming the real-world variants it accepts (issue 11: the README is the reference)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `") and " | " in line]
    for name in formats.FORMATS:
        [row] = [r for r in rows if f"`{name}`" in r.split(" | ")[0] and "column" not in r.split(" | ")[0]]
        if name not in ("json", "csv", "govuk-pay"):  # rentflow's own layouts and the push bodies
            assert "variant" in row.lower() or "real" in row.lower(), f"{name}: no real-world variants listed"
