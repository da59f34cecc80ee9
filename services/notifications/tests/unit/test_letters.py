"""Letter content (pure) and its rendering: PDFs open with pypdf, HTML is escaped."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from pypdf import PdfReader

from rentflow_notifications.adapters.render import letter_html, merge_pdfs, render_batch
from rentflow_notifications.domain.letters import (
    Landlord, RentChange, ReturnedDebit, dd_failure_letter, rent_review_letter)
from rentflow_notifications.domain.notice_dates import NoticeRules

D = dt.date
LANDLORD = Landlord("Anytown District Council", ("Civic Centre", "Anytown AN1 1AA"), "01234 567890",
                    "rents@anytown.example")


def change(**kw) -> RentChange:
    base = dict(notice_id=uuid.UUID(int=1), account_ref="10000001", tenant_name="Łucja Wójcik-Smith",
                property="12 High Street, Anytown", old_rent_pence=12000, new_rent_pence=12576,
                old_charges_pence=500, new_charges_pence=500, effective_on=D(2027, 4, 5),
                reason="annual uprating 4.8%", dd_payer=False)
    return RentChange(**{**base, **kw})


def debit(code: str = "0") -> ReturnedDebit:
    return ReturnedDebit(uuid.UUID(int=2), "10000001", "MR J BLOGGS", "12 High Street", 12345, code, D(2026, 12, 10))


def text(letter) -> str:
    return " ".join((*letter.paragraphs, *letter.after_table, *(" ".join(r) for r in letter.table)))


def test_rent_review_states_old_and_new_rent_charges_the_date_and_notice_to_quit():
    letter = rent_review_letter(change(), D(2027, 3, 1), D(2027, 3, 3), NoticeRules(), LANDLORD)
    body = text(letter)
    assert letter.subject == "Notice of variation of rent"
    assert letter.table[1] == ("Rent", "£120.00", "£125.76")
    assert letter.table[2] == ("Service and other charges", "£5.00", "£5.00")
    assert letter.table[3] == ("Total a week", "£125.00", "£130.76")
    assert "From Monday 5 April 2027" in body and "section 103 of the Housing Act 1985" in body
    assert "notice to quit before Monday 5 April 2027" in body
    assert "served on Wednesday 3 March 2027" in body
    assert "Direct Debit" not in body


def test_a_dd_payer_is_also_given_the_advance_notice():
    body = text(rent_review_letter(change(dd_payer=True), D(2027, 3, 1), D(2027, 3, 3), NoticeRules(), LANDLORD))
    assert "advance notice under the Direct Debit Guarantee" in body and "£130.76 a week" in body


def test_dd_failure_letter_code_0_names_the_representation_date_as_its_notice():
    letter = dd_failure_letter(debit("0"), D(2026, 12, 23), D(2027, 1, 6), LANDLORD)
    body = text(letter)
    assert "payment of £123.45" in body and "Thursday 10 December 2026" in body
    assert "not enough money in the account" in body
    assert "again on Wednesday 6 January 2027" in body and "This letter is your notice of that collection" in body
    too_late = text(dd_failure_letter(debit("0"), D(2026, 12, 23), None, LANDLORD))
    assert "too late for us to ask your bank for it again" in too_late and "again on" not in too_late


def test_dd_failure_letter_other_codes_ask_for_another_way_to_pay():
    body = text(dd_failure_letter(debit("B"), D(2026, 12, 23), None, LANDLORD))
    assert "the account has been closed" in body and "pay £123.45 another way" in body
    assert "again on" not in body


def test_html_is_autoescaped():
    html = letter_html(rent_review_letter(change(tenant_name="<script>alert(1)</script>"), D(2027, 3, 1),
                                          D(2027, 3, 3), NoticeRules(), LANDLORD), LANDLORD)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "£125.76" in html


def test_pdfs_render_open_and_merge(tmp_path: Path):
    letters = [rent_review_letter(change(notice_id=uuid.UUID(int=10 + i), account_ref=f"1000000{i}",
                                         dd_payer=bool(i % 2)), D(2027, 3, 1), D(2027, 3, 3), NoticeRules(), LANDLORD)
               for i in range(3)]
    letters.append(dd_failure_letter(debit("0"), D(2026, 12, 23), D(2027, 1, 6), LANDLORD))
    results = render_batch(letters, str(tmp_path), LANDLORD)
    assert [r.error for r in results] == [None] * 4
    for r in results:
        data = Path(r.pdf).read_bytes()
        assert data.startswith(b"%PDF-") and r.pages == len(PdfReader(r.pdf).pages) == 1
        assert Path(r.html).read_text().startswith("<!doctype html>")
    page = PdfReader(results[0].pdf).pages[0].extract_text()
    assert "Notice of variation of rent" in page and "£125.76" in page and "Monday 5 April 2027" in page
    assert "Lucja Wójcik-Smith" in page  # Ł is outside the core font: transliterated in the PDF only
    assert "Łucja" in Path(results[0].html).read_text()
    # the same letter renders to the same bytes (a retried chunk rewrites identical files)
    again = render_batch(letters[:1], str(tmp_path / "again"), LANDLORD)
    assert Path(again[0].pdf).read_bytes() == Path(results[0].pdf).read_bytes()
    merged = tmp_path / "print.pdf"
    assert merge_pdfs([r.pdf for r in results], str(merged)) == 4 == len(PdfReader(merged).pages)


def test_a_letter_that_cannot_render_is_reported_not_raised(tmp_path: Path):
    blocker = tmp_path / "rent_review"
    blocker.write_text("a file where a folder should be")
    results = render_batch([rent_review_letter(change(), D(2027, 3, 1), D(2027, 3, 3), NoticeRules(), LANDLORD)],
                           str(tmp_path), LANDLORD)
    assert results[0].pdf is None and results[0].error
