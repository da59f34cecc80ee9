"""Pure ledger rules: references, allocation, codes, journals, rent weeks, running balances."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rentflow_ledger.domain.allocation import allocate
from rentflow_ledger.domain.codes import CHANNEL_CODES, GL_CODES, receipt_code
from rentflow_ledger.domain.journal import (control_movement, debit_lines, is_balanced, opening_balance_lines,
                                            receipt_lines, suspense_allocated_lines, unidentified_lines)
from rentflow_ledger.domain.posting import Book, Journal, business_date, check_control, check_movement
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.domain.rent_weeks import first_rent_week, monday_on_or_after, rent_weeks

D = dt.date


@pytest.mark.parametrize("raw, expected", [
    (" ab-12 34 ", "AB1234"), ("1000-0001", "10000001"), ("x\t-y", "XY"), ("", ""), (None, ""), ("--  ", "")])
def test_normalise_reference(raw, expected):
    assert normalise_reference(raw) == expected


def test_allocation_ladder():
    accounts = {"R100", "R200"}
    dd = {"DDR100": ["R100"], "SHARED": ["R100", "R200"]}
    assert allocate("r-100", "card", accounts, dd) == ("R100", "exact_reference", None)
    assert allocate("r-100", "card", accounts, dd, normalised="R100") == ("R100", "exact_reference", None)
    assert allocate("ddr 100", "direct_debit", accounts, dd) == ("R100", "dd_reference", None)
    # a DD reference only counts for Direct Debit collections
    assert allocate("DDR100", "bank_transfer", accounts, dd).account_ref is None
    assert allocate("  ", "card", accounts, dd) == (None, None, "no reference")
    miss = allocate("R999", "cash", accounts, dd)
    assert miss.account_ref is None and miss.reason == "no account matches reference 'R999'"
    ambiguous = allocate("shared", "direct_debit", accounts, dd)
    assert ambiguous.account_ref is None and ambiguous.reason.startswith("ambiguous: 2 candidates")


def test_channel_codes():
    assert CHANNEL_CODES == {"card": "RCP", "bank_transfer": "RBP", "direct_debit": "RDD", "standing_order": "RSO",
                             "cash": "RPY", "housing_benefit": "RHB", "universal_credit": "RUC"}
    from rentflow_schemas.common import Channel
    assert {receipt_code(c.value) for c in Channel} == set(CHANNEL_CODES.values())
    with pytest.raises(ValueError):
        receipt_code("cheque")


def test_journals_balance_and_move_control_like_accounts():
    control, bank, cash, suspense = (GL_CODES[k] for k in ("debtors_control", "bank", "cash", "suspense"))
    debit = debit_lines("R1", "DBR", 12500)
    assert debit[0] == (control, 12500, 0, "R1") and debit[1] == ("INCOME_DBR", 0, 12500, None)
    assert control_movement(debit) == 12500
    receipt = receipt_lines("R1", "card", 5000)
    assert receipt[0].gl_code == bank and control_movement(receipt) == -5000
    assert receipt_lines("R1", "cash", 5000)[0].gl_code == cash
    unidentified = unidentified_lines("bank_transfer", 700)
    assert [x.gl_code for x in unidentified] == [bank, suspense] and control_movement(unidentified) == 0
    allocated = suspense_allocated_lines("R1", 700)
    assert allocated[0] == (suspense, 700, 0, None) and control_movement(allocated) == -700
    assert control_movement(opening_balance_lines("R1", 3000)) == 3000
    credit_bf = opening_balance_lines("R1", -3000)
    assert control_movement(credit_bf) == -3000 and all(x.debit_pence >= 0 and x.credit_pence >= 0 for x in credit_bf)
    for lines in (debit, receipt, unidentified, allocated, credit_bf):
        assert is_balanced(lines)
    with pytest.raises(ValueError, match="does not balance"):
        Journal(uuid.uuid4(), "debit", D(2026, 4, 6), "x", (debit[0],))


def test_check_control_catches_a_posting_without_its_journal():
    book = Book({"R1": 0})
    t = book.post("R1", "DBR", 100, transaction_id=uuid.uuid4(), business_date=D(2026, 4, 6), source_ref="s")
    j = Journal(uuid.uuid4(), "debit", D(2026, 4, 6), "s", tuple(debit_lines("R1", "DBR", 100)))
    check_control([t], [j])
    with pytest.raises(AssertionError):
        check_control([t], [])


def test_running_balances_are_consecutive_per_account():
    book = Book({"A": 1000, "B": 0})
    posts = [book.post(ref, "RCP", amt, transaction_id=uuid.uuid4(), business_date=D(2026, 4, 6), source_ref="s")
             for ref, amt in [("A", -300), ("B", -50), ("A", -300), ("A", 25)]]
    assert [p.balance_after_pence for p in posts] == [700, -50, 400, 425]
    assert book.balances == {"A": 425, "B": -50} and book.changed == {"A", "B"}


def test_balances_after_are_the_running_balances_post_gives():
    posts = [("A", -300), ("B", -50), ("A", -300), ("A", 25), ("C", 0)]
    book, rows = Book({"A": 1000, "B": 0, "C": 7}), Book({"A": 1000, "B": 0, "C": 7})
    posted = [book.post(ref, "RCP", amt, transaction_id=uuid.uuid4(), business_date=D(2026, 4, 6), source_ref="s")
              for ref, amt in posts]
    assert rows.balances_after([r for r, _ in posts], [a for _, a in posts]) == [p.balance_after_pence for p in posted]
    assert rows.balances == book.balances == {"A": 425, "B": -50, "C": 7} and rows.changed == book.changed
    with pytest.raises(KeyError):  # an account not locked: as post
        rows.balances_after(["D"], [1])


def test_check_movement_is_check_control_of_a_total():
    j = Journal(uuid.uuid4(), "debit", D(2026, 4, 6), "s", tuple(debit_lines("R1", "DBR", 100)))
    check_movement(100, [j])
    check_movement(0, [])
    for accounts, journals in ((99, [j]), (100, [])):
        with pytest.raises(AssertionError):
            check_movement(accounts, journals)


def test_business_date_is_london():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST)
    assert business_date(dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc)) == D(2026, 7, 1)
    assert business_date(dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.timezone.utc)) == D(2026, 1, 31)


def test_rent_weeks():
    assert monday_on_or_after(D(2026, 4, 6)) == D(2026, 4, 6)  # a Monday
    assert monday_on_or_after(D(2026, 4, 8)) == D(2026, 4, 13)
    assert monday_on_or_after(D(2026, 4, 12)) == D(2026, 4, 13)  # Sunday
    # starts on a Monday: charged from that week (default balance date is the day before)
    assert rent_weeks(D(2026, 4, 6), None, None, D(2026, 4, 26)) == [D(2026, 4, 6), D(2026, 4, 13), D(2026, 4, 20)]
    # starts mid-week: the part week is charged (by days, domain/rent_weeks.py)
    assert first_rent_week(D(2026, 4, 8), None) == D(2026, 4, 6)
    # balance date: the opening balance covers days up to it (a Monday balance date leaves 6 days)
    assert rent_weeks(D(2020, 1, 6), None, D(2026, 4, 6), D(2026, 4, 20)) == [D(2026, 4, 6), D(2026, 4, 13),
                                                                             D(2026, 4, 20)]
    assert rent_weeks(D(2020, 1, 6), None, D(2026, 4, 5), D(2026, 4, 12)) == [D(2026, 4, 6)]
    # ended mid-week: the week it ends in is charged, nothing after
    assert rent_weeks(D(2026, 4, 6), D(2026, 4, 15), None, D(2026, 5, 31)) == [D(2026, 4, 6), D(2026, 4, 13)]
    assert rent_weeks(D(2026, 4, 6), None, None, D(2026, 4, 5)) == []
    # a year with 53 Mondays from April to March charges 53 weeks
    assert len(rent_weeks(D(2024, 4, 1), None, None, D(2025, 3, 31))) == 53


def test_a_batch_of_receipts_is_one_balanced_journal_per_thousand_lines():
    from rentflow_ledger.domain.journal import MAX_JOURNAL_LINES, batched_receipt_lines, is_balanced
    by_account = {f"R{i:05d}": 100 + i for i in range(2 * MAX_JOURNAL_LINES)}
    journals = batched_receipt_lines("BANK", by_account)
    assert len(journals) == 3  # 999 + 999 + 2 accounts, each journal with its bank line
    assert all(len(j) <= MAX_JOURNAL_LINES and is_balanced(j) for j in journals)
    credited = {x.account_ref: x.credit_pence for j in journals for x in j if x.account_ref}
    assert credited == by_account
    assert [j[0].gl_code for j in journals] == ["BANK"] * 3
    assert sum(j[0].debit_pence for j in journals) == sum(by_account.values())


def test_a_landlords_chart_of_accounts_maps_gl_codes_and_bad_mappings_are_named():
    import pytest
    from rentflow_ledger.domain.codes import GL_CODES, parse_gl_codes
    assert parse_gl_codes(" debtors_control = 1210 , bank=0100,income.DBR=4010,", GL_CODES) == {
        "debtors_control": "1210", "bank": "0100", "income.DBR": "4010"}
    assert parse_gl_codes("", GL_CODES) == {}
    with pytest.raises(ValueError, match=r"item 2 \('debtors=1'\)"):
        parse_gl_codes("bank=0100,debtors=1", GL_CODES)
    with pytest.raises(ValueError, match="non-blank"):
        parse_gl_codes("bank=", GL_CODES)
    with pytest.raises(ValueError, match="used twice: 0100"):
        parse_gl_codes("bank=0100,cash=0100", GL_CODES)


def test_rentflow_gl_codes_is_applied_when_the_ledger_starts():
    import os
    import subprocess
    import sys
    code = ("from rentflow_ledger.bootstrap import build_runtime; build_runtime(); "
            "from rentflow_ledger.domain.codes import GL_CODES; print(GL_CODES['debtors_control'], GL_CODES['bank'])")
    env = {**os.environ, "RENTFLOW_GL_CODES": "debtors_control=1210,bank=0100",
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "DATABASE_URL": "postgresql://127.0.0.1:9/none"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.split() == ["1210", "0100"]
    bad = subprocess.run([sys.executable, "-c", code], env={**env, "RENTFLOW_GL_CODES": "bnak=1"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "RENTFLOW_GL_CODES item 1 ('bnak=1')" in bad.stderr


def test_a_posted_transaction_is_the_dataclass_its_constructor_builds():
    """Book.post builds its Transaction without the dataclass's __init__ (the hot path): it is the
    same value, hashes alike and stays frozen."""
    import dataclasses

    from rentflow_ledger.domain.posting import Transaction

    tid, pid = uuid.uuid4(), uuid.uuid4()
    t = Book({"R1": 100}).post("R1", "RCP", -60, transaction_id=tid, business_date=dt.date(2026, 4, 6),
                               source_ref="p:1", channel="card", payment_id=pid, allocation_rule="exact_reference",
                               posting_period="2026-05")
    built = Transaction(tid, "R1", "RCP", -60, 40, dt.date(2026, 4, 6), "p:1", "card", pid, "exact_reference", None,
                        "2026-05")
    assert t == built and hash(t) == hash(built) and dataclasses.asdict(t) == dataclasses.asdict(built)
    assert t.period == "2026-05" and repr(t) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.amount_pence = 0  # type: ignore[misc]


def test_a_reference_with_nothing_to_strip_normalises_as_one_with_spaces_does():
    from rentflow_ledger.domain.references import _STRIP

    for ref in ["10001234", "ab12", "Ünï1", "١٢٣", "ab 12", "ab-12", "a\u00a0b", "a\u2003b", "x\t-\n1", "-"]:
        assert normalise_reference(ref) == _STRIP.sub("", ref).upper()
