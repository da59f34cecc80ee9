import datetime as dt

import pytest
from pydantic import ValidationError

from rentflow_payments.domain.model import MANY, ONE, field_errors

GOOD = {"provider_ref": "r1", "channel": "card", "amount_pence": 12500, "currency": "GBP",
        "paid_at": "2026-04-06T09:30:00+01:00", "reference": "1234567890", "payer_name": "A Tenant"}


def errors_of(items):
    with pytest.raises(ValidationError) as info:
        MANY.validate_python(items)
    return field_errors(info.value, item_base=0)


def test_a_good_payment_is_taken_as_sent():
    p = ONE.validate_python(GOOD)
    assert p.amount_pence == 12500 and p.channel == "card"
    assert p.paid_at == dt.datetime(2026, 4, 6, 8, 30, tzinfo=dt.timezone.utc)
    minimal = ONE.validate_python({k: GOOD[k] for k in ("provider_ref", "channel", "amount_pence", "paid_at")})
    assert minimal.currency == "GBP" and minimal.reference == "" and minimal.payer_name is None


@pytest.mark.parametrize("channel", ["bank_transfer", "direct_debit", "standing_order", "cash",
                                     "housing_benefit", "universal_credit"])
def test_every_channel_is_accepted(channel):
    assert ONE.validate_python({**GOOD, "channel": channel}).channel == channel


def test_every_error_is_listed_with_its_item_and_field():
    errs = errors_of([
        GOOD,
        {**GOOD, "amount_pence": 12.5, "channel": "cheque"},
        {**GOOD, "amount_pence": True, "currency": "EUR", "paid_at": "2026-04-06T09:30:00"},
        {**GOOD, "amount_pence": "100", "paid_at": 1775467800, "provider_ref": "  "},
        {**GOOD, "amount_pence": 0, "provider_ref": "x" * 101, "reference": "r" * 141},
        "not an object",
        {"channel": "card"},
    ])
    got = {(e["item"], e["field"]) for e in errs}
    assert got == {
        (1, "amount_pence"), (1, "channel"),
        (2, "amount_pence"), (2, "currency"), (2, "paid_at"),
        (3, "amount_pence"), (3, "paid_at"), (3, "provider_ref"),
        (4, "amount_pence"), (4, "provider_ref"), (4, "reference"),
        (5, None),
        (6, "provider_ref"), (6, "amount_pence"), (6, "paid_at"),
    }
    reasons = {(e["item"], e["field"]): e["reason"] for e in errs}
    assert "integer" in reasons[(1, "amount_pence")]
    assert "timezone" in reasons[(2, "paid_at")]
    assert "blank" in reasons[(3, "provider_ref")]
    assert reasons[(6, "paid_at")] == "required"


def test_single_payment_errors_carry_no_item():
    with pytest.raises(ValidationError) as info:
        ONE.validate_python({**GOOD, "amount_pence": -1})
    assert field_errors(info.value) == [{"field": "amount_pence", "reason": "Input should be greater than 0"}]


def test_a_card_payments_fee_is_integer_pence_no_more_than_the_payment_and_of_card_money_only():
    assert ONE.validate_python({**GOOD, "fee_pence": 190}).fee_pence == 190
    assert ONE.validate_python(GOOD).fee_pence is None  # not stated: nothing taken off
    assert errors_of([{**GOOD, "fee_pence": 1.9}, {**GOOD, "fee_pence": -1}, {**GOOD, "fee_pence": 12501},
                      {**GOOD, "channel": "bank_transfer", "fee_pence": 10}]) == [
        {"item": 0, "field": "fee_pence", "reason": "expected a whole number of pence (a JSON integer)"},
        {"item": 1, "field": "fee_pence", "reason": "Input should be greater than or equal to 0"},
        {"item": 2, "field": None, "reason": "fee_pence: more than the payment's amount"},
        {"item": 3, "field": None, "reason": "fee_pence: only a card payment has a provider's fee"}]


def test_paid_at_is_a_datetime_or_a_string_that_starts_like_one():
    """A Python caller's datetime is taken as it is; a number, a number of seconds as text or a bare date
    is refused by its form, before any parse, and a parse error or a missing offset says what it is."""
    at = dt.datetime(2026, 4, 6, 9, 30, tzinfo=dt.timezone.utc)
    assert ONE.validate_python({**GOOD, "paid_at": at}).paid_at is at
    form = "expected an ISO 8601 date-time with a timezone, e.g. 2026-04-06T09:30:00Z"
    assert errors_of([{**GOOD, "paid_at": v} for v in (1775467800, "1775467800", "2026-04-06", None, at.date())]) == [
        {"item": i, "field": "paid_at", "reason": form} for i in range(5)]
    errs = errors_of([{**GOOD, "paid_at": "2026-13-06T09:30:00Z"}, {**GOOD, "paid_at": "2026-04-06 09:30:00"}])
    assert [e["field"] for e in errs] == ["paid_at", "paid_at"] and form not in {e["reason"] for e in errs}
    assert "timezone" in errs[1]["reason"]
