"""Rent years and week numbers, part weeks, rent-free weeks and the rent history."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, strategies as st

from rentflow_ledger.domain.rent_weeks import (Due, Rates, charged_days, due_debits, parse_rent_free, pro_rata,
                                               rent_week, rent_year_start, weeks_in_rent_year)

D = dt.date


def test_rent_year_and_week_numbers():
    assert rent_year_start(2026) == D(2026, 4, 6)  # first Monday in April
    assert rent_week(D(2026, 4, 6)) == (2026, 1)
    assert rent_week(D(2026, 3, 30)) == (2025, 52)
    assert rent_week(D(2025, 3, 31)) == (2024, 53)  # 2024/25 has 53 Mondays
    assert weeks_in_rent_year(2024) == 53 and weeks_in_rent_year(2026) == 52


@given(st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 1, 1)))
def test_every_monday_has_one_week_number(day):
    monday = day - dt.timedelta(days=day.weekday())
    year, number = rent_week(monday)
    assert 1 <= number <= weeks_in_rent_year(year)
    assert rent_year_start(year) + dt.timedelta(weeks=number - 1) == monday


def test_pro_rata_half_up():
    assert pro_rata(7000, 3) == 3000 and pro_rata(10000, 7) == 10000
    assert pro_rata(11500, 5) == 8214  # 8214.28
    assert pro_rata(7, 1) == 1 and pro_rata(3, 1) == 0  # 0.428…
    assert pro_rata(14, 1) == 2 and pro_rata(7 * 3 + 4, 1) == 4  # 3.57 → 4


def test_part_weeks_and_rent_free_weeks():
    # starts Wednesday 8 April 2026, ends Wednesday 22 April: 5 days, 7 days, 3 days
    assert [charged_days(D(2026, 4, m), D(2026, 4, 8), D(2026, 4, 22), D(2026, 4, 7)) for m in (6, 13, 20)] == [5, 7, 3]
    due = due_debits(D(2026, 4, 8), D(2026, 4, 22), D(2026, 4, 7), D(2026, 5, 31), 7000, 700)
    assert due == [Due(D(2026, 4, 6), "DBR", 5000), Due(D(2026, 4, 6), "DSC", 500),
                   Due(D(2026, 4, 13), "DBR", 7000), Due(D(2026, 4, 13), "DSC", 700),
                   Due(D(2026, 4, 20), "DBR", 3000), Due(D(2026, 4, 20), "DSC", 300)]
    free = due_debits(D(2026, 4, 6), None, D(2026, 4, 5), D(2026, 4, 26), 7000, 0, rent_free={2026: {2}})
    assert [d.week_start for d in free] == [D(2026, 4, 6), D(2026, 4, 20)]


def test_rent_history():
    history = [Rates(D(2027, 4, 5), 7336, 0)]
    due = due_debits(D(2026, 4, 6), None, D(2027, 3, 28), D(2027, 4, 11), 7000, 0, history=history)
    assert [(d.week_start, d.amount) for d in due] == [(D(2027, 3, 29), 7000), (D(2027, 4, 5), 7336)]


def test_parse_rent_free():
    assert parse_rent_free("2026:1,38,39,52; 2027:52") == {2026: {1, 38, 39, 52}, 2027: {52}}
    assert parse_rent_free("") == {}
    with pytest.raises(ValueError):
        parse_rent_free("x:1")
