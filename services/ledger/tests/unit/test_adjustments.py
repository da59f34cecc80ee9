"""Maker-checker rules, write-off reasons and the journals of each adjustment type."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from rentflow_ledger.domain.adjustments import (TYPES, Refused, check_approver, check_balance, plan,
                                                validate_request, write_off_reason)
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
