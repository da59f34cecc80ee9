"""Maker-checker rules, write-off reasons and the journals of each adjustment type."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from rentflow_ledger.domain.adjustments import (TYPES, Refused, check_approver, check_balance, plan,
                                                transfer_leaving, validate_request, write_off_reason)
from rentflow_ledger.domain.journal import control_movement, is_balanced


def test_write_off_reasons():
    assert write_off_reason("Deceased: estate has nothing") == "deceased"
    assert write_off_reason("former-tenant in prison") == "former tenant in prison"
    with pytest.raises(Refused) as e:
        write_off_reason("bored")
    assert e.value.status == 422


def test_approver_rules():
    with pytest.raises(Refused) as e:
        check_approver("Sam", " sam ", "manager")
    assert e.value.status == 403
    with pytest.raises(Refused):
        check_approver("sam", "kim", "officer")
    with pytest.raises(Refused):
        check_approver("sam", "kim", None)
    check_approver("sam", "kim", "manager")


def test_balance_rules():
    check_balance("refund", 500, -500)
    with pytest.raises(Refused):
        check_balance("refund", 501, -500)
    with pytest.raises(Refused):
        check_balance("refund", 1, 100)
    with pytest.raises(Refused):
        check_balance("write_off", 101, 100)
    check_balance("adjustment", 10**9, 0)


def test_balance_refusals_speak_in_pounds():
    with pytest.raises(Refused) as e:
        check_balance("write_off", 5000, -3201, "70000001")
    assert str(e.value) == "a write-off of £50.00 exceeds the arrears on 70000001: it is £32.01 in credit"
    with pytest.raises(Refused) as e:
        check_balance("refund", 123456, -500, "70000003")
    assert str(e.value) == "a refund of £1,234.56 exceeds the credit on 70000003: it is £5.00 in credit"
    assert "pence" not in str(e.value)


def test_moving_credit_from_a_to_b_leaves_a_less_in_credit_and_b_more():
    leaving = transfer_leaving("credit", 10000, "A", -15000)  # A holds £150 of credit
    assert leaving == -10000
    legs, _ = plan("transfer", leaving, "A", "B")
    after = {"A": -15000, "B": 2000}
    for leg in legs:
        after[leg.account_ref] += leg.amount
    assert after == {"A": -5000, "B": -8000}  # A £100 less in credit; B £100 more (owed £20, now £80 in credit)


def test_moving_debt_from_a_to_b():
    leaving = transfer_leaving("debt", 2000, "A", 5000)
    legs, _ = plan("transfer", leaving, "A", "B")
    assert {leg.account_ref: leg.amount for leg in legs} == {"A": -2000, "B": 2000}


@pytest.mark.parametrize("moves, amount, balance, status, words", [
    ("credit", 10001, -10000, 409, "cannot move £100.01 of credit from A: it is £100.00 in credit"),
    ("credit", 1, 500, 409, "cannot move £0.01 of credit from A: it owes £5.00"),
    ("debt", 501, 500, 409, "cannot move £5.01 of debt from A: it owes £5.00"),
    ("debt", 1, 0, 409, "cannot move £0.01 of debt from A: it has a nil balance"),
    ("debt", -5, 500, 422, "positive amount"),
    ("rent", 5, 500, 422, "debt or credit"),
    (None, 100, -500, 422, "moves=credit"),  # the older form, from an account in credit: say what moves
])
def test_a_transfer_never_moves_more_than_the_source_holds(moves, amount, balance, status, words):
    with pytest.raises(Refused) as e:
        transfer_leaving(moves, amount, "A", balance)
    assert e.value.status == status and words in str(e.value)


def test_the_older_signed_form_still_works_where_it_is_unambiguous():
    assert transfer_leaving(None, 300, "A", 500) == 300  # an account that owes moves debt, as it always did
    assert transfer_leaving(None, -300, "A", -500) == -300  # a negative amount moved credit, as it always did
    with pytest.raises(Refused):
        transfer_leaving(None, -600, "A", -500)  # but never more than the source holds


@given(st.sampled_from(["debt", "credit"]), st.integers(1, 10**7), st.integers(-10**7, 10**7))
def test_a_transfer_allowed_leaves_the_source_no_further_past_zero(moves, amount, balance):
    try:
        leaving = transfer_leaving(moves, amount, "A", balance)
    except Refused:
        return
    after = balance - leaving
    assert (after >= 0) if moves == "debt" else (after <= 0)  # debt moved never makes A in credit, and vice versa
    assert abs(after) == abs(balance) - amount


def test_request_validation():
    for args in [("nope", 1, "A", None, "r"), ("refund", 0, "A", None, "r"), ("refund", -1, "A", None, "r"),
                 ("transfer", 1, "A", None, "r"), ("transfer", 1, "A", "A", "r"), ("refund", 1, "A", "B", "r"),
                 ("write_off", 1, "A", None, "whatever")]:
        with pytest.raises(Refused):
            validate_request(*args)
    validate_request("transfer", -5, "A", "B", "move credit")


@given(st.sampled_from(TYPES), st.integers(-10**7, 10**7).filter(bool))
def test_every_plan_balances_and_moves_control_like_the_accounts(type_, amount):
    if type_ in ("refund", "write_off"):
        amount = abs(amount)
    legs, lines = plan(type_, amount, "A", "B" if type_ == "transfer" else None)
    assert is_balanced(lines)
    assert control_movement(lines) == sum(leg.amount for leg in legs)
    for ref in {leg.account_ref for leg in legs}:
        per_account = sum(x.debit_pence - x.credit_pence for x in lines if x.account_ref == ref
                          and x.gl_code == "DEBTORS_CONTROL")
        assert per_account == sum(leg.amount for leg in legs if leg.account_ref == ref)
    if type_ == "transfer":
        assert control_movement(lines) == 0  # nets to nil in the GL
