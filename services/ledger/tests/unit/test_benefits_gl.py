"""Housing Benefit is a transfer from the benefits system, not bank money (docs/domain.md §3, §6):
its receipts post against the benefits clearing GL code, never the bank; Universal Credit managed
payments are bank money."""
from __future__ import annotations

from rentflow_ledger.domain.codes import GL_CODES, money_in_gl, parse_gl_codes, DEFAULT_GL_CODES
from rentflow_ledger.domain.journal import batched_receipt_lines, receipt_lines, reversed_receipt_lines


def test_a_rent_rebate_is_debited_to_benefits_clearing_not_the_bank():
    lines = receipt_lines("10000001", "housing_benefit", 9_500)
    assert [(x.gl_code, x.debit_pence, x.credit_pence) for x in lines] == [
        (GL_CODES["benefits_clearing"], 9_500, 0), (GL_CODES["debtors_control"], 0, 9_500)]
    assert GL_CODES["bank"] not in {x.gl_code for x in lines}
    (batch,) = batched_receipt_lines(money_in_gl("housing_benefit"), {"10000001": 9_500, "10000002": 500})
    assert batch[0].gl_code == "HB_CLEARING" and batch[0].debit_pence == 10_000
    # taken back (an HB overpayment reversed) goes back to the clearing account too
    assert reversed_receipt_lines("10000001", "housing_benefit", 100)[1].gl_code == "HB_CLEARING"


def test_universal_credit_is_bank_money_and_the_clearing_code_can_be_mapped():
    assert money_in_gl("universal_credit") == GL_CODES["bank"]
    assert parse_gl_codes("benefits_clearing=1850", DEFAULT_GL_CODES) == {"benefits_clearing": "1850"}


def test_a_cash_settlement_moves_cash_control_to_the_bank_and_other_lumps_move_nothing():
    from rentflow_ledger.domain.journal import settlement_lines
    assert [(x.gl_code, x.debit_pence, x.credit_pence) for x in settlement_lines("cash", 7777)] == [
        ("BANK", 7777, 0), ("CASH", 0, 7777)]
    assert settlement_lines("direct_debit", 100) == settlement_lines("card", 100) == []
