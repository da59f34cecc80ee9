"""Uprating arithmetic: Decimal, half up to the penny; effective date rules."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from rentflow_ledger.domain.adjustments import Refused
from rentflow_ledger.domain.uprating import check_effective, parse_percent, uprated


def test_half_up():
    assert uprated(12345, Decimal("4.8")) == 12938  # 12937.56
    assert uprated(10000, Decimal("4.8")) == 10480
    assert uprated(125, Decimal("2")) == 128  # 127.5 → 128 (half up, not to even)
    assert uprated(10000, Decimal("0")) == 10000


@given(st.integers(0, 6 * 10**5), st.decimals(min_value=-50, max_value=50, places=2))
def test_within_half_a_penny(weekly, percent):
    exact = Decimal(weekly) * (1 + percent / 100)
    assert abs(uprated(weekly, percent) - exact) <= Decimal("0.5")


def test_a_rent_taken_past_the_weekly_bound_is_refused():
    assert uprated(10**6, Decimal("0")) == 10**6
    for weekly, percent in ((10**6, "0.01"), (2**62, "1"), (900_000, "12")):
        with pytest.raises(Refused, match="above £10,000"):
            uprated(weekly, Decimal(percent))


def test_percent_and_effective_rules():
    assert parse_percent("4.8") == Decimal("4.8")
    for bad in ("x", "-100", "101", "nan"):
        with pytest.raises(Refused):
            parse_percent(bad)
    check_effective(dt.date(2027, 4, 5), dt.date(2027, 3, 8), 28, service_days=0)
    with pytest.raises(Refused):
        check_effective(dt.date(2027, 4, 5), dt.date(2027, 3, 9), 28, service_days=0)
    # by default a week for the notice posted today to be served: 28 + 7 days before 5 April is 1 March
    check_effective(dt.date(2027, 4, 5), dt.date(2027, 3, 1), 28)
    with pytest.raises(Refused, match="earliest is 2027-04-06"):
        check_effective(dt.date(2027, 4, 5), dt.date(2027, 3, 2), 28)
    with pytest.raises(Refused):
        check_effective(dt.date(2027, 4, 6), dt.date(2026, 1, 1), 28)
