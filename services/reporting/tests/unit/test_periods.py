import datetime as dt

import pytest

from rentflow_reporting.domain.periods import (Period, latest_ended, period_containing, previous_period,
                                               select_period)

D = dt.date


@pytest.mark.parametrize("kind,day,start,end,label", [
    # 2026-10-15 is a Thursday: its week runs Monday 12th to Sunday 18th (ISO week 42).
    ("week", D(2026, 10, 15), D(2026, 10, 12), D(2026, 10, 18), "2026-W42"),
    ("week", D(2026, 10, 12), D(2026, 10, 12), D(2026, 10, 18), "2026-W42"),  # a Monday
    ("week", D(2026, 10, 18), D(2026, 10, 12), D(2026, 10, 18), "2026-W42"),  # a Sunday
    ("week", D(2027, 1, 1), D(2026, 12, 28), D(2027, 1, 3), "2026-W53"),      # across the year end
    ("month", D(2026, 10, 15), D(2026, 10, 1), D(2026, 10, 31), "2026-10"),
    ("month", D(2028, 2, 10), D(2028, 2, 1), D(2028, 2, 29), "2028-02"),      # leap year
    # financial quarters: Q1 Apr–Jun, Q2 Jul–Sep, Q3 Oct–Dec, Q4 Jan–Mar (of the next calendar year)
    ("quarter", D(2026, 4, 1), D(2026, 4, 1), D(2026, 6, 30), "2026/27 Q1"),
    ("quarter", D(2026, 9, 30), D(2026, 7, 1), D(2026, 9, 30), "2026/27 Q2"),
    ("quarter", D(2026, 10, 15), D(2026, 10, 1), D(2026, 12, 31), "2026/27 Q3"),
    ("quarter", D(2027, 2, 28), D(2027, 1, 1), D(2027, 3, 31), "2026/27 Q4"),
    ("year", D(2026, 10, 15), D(2026, 4, 1), D(2027, 3, 31), "2026/27"),
    ("year", D(2027, 3, 31), D(2026, 4, 1), D(2027, 3, 31), "2026/27"),
    ("year", D(2027, 4, 1), D(2027, 4, 1), D(2028, 3, 31), "2027/28"),
])
def test_period_containing(kind, day, start, end, label):
    p = period_containing(kind, day)
    assert (p.start, p.end, p.label) == (start, end, label)


def test_unknown_period_is_refused_by_name():
    with pytest.raises(ValueError, match="period must be one of week, month, quarter, year"):
        period_containing("fortnight", D(2026, 1, 1))


def test_previous_period_wraps_years():
    # the quarter before Q4 2026/27 (Jan–Mar 2027) is Q3 (Oct–Dec 2026); before Q1 is Q4 of the last year
    assert previous_period(period_containing("quarter", D(2027, 1, 5))) == Period("quarter", D(2026, 10, 1),
                                                                                  D(2026, 12, 31))
    assert previous_period(period_containing("quarter", D(2026, 4, 5))) == Period("quarter", D(2026, 1, 1),
                                                                                  D(2026, 3, 31))


def test_latest_ended_is_the_current_period_only_on_its_last_day():
    assert latest_ended("month", D(2026, 10, 31)) == Period("month", D(2026, 10, 1), D(2026, 10, 31))
    assert latest_ended("month", D(2026, 10, 30)) == Period("month", D(2026, 9, 1), D(2026, 9, 30))
    # Thursday 15 Oct 2026: the last whole week is Mon 5 – Sun 11 Oct
    assert latest_ended("week", D(2026, 10, 15)) == Period("week", D(2026, 10, 5), D(2026, 10, 11))


def test_select_period_falls_back_to_the_current_period_to_date_when_nothing_has_ended_in_the_data():
    # data starts 2 Oct: September (the latest ended month on 15 Oct) has none → October to 15th
    s = select_period("month", D(2026, 10, 15), D(2026, 10, 2))
    assert (s.period.start, s.period.end, s.through, s.complete) == (D(2026, 10, 1), D(2026, 10, 31),
                                                                      D(2026, 10, 15), False)
    # data from 30 Sep: September has ended in the data → September, complete
    s = select_period("month", D(2026, 10, 15), D(2026, 9, 30))
    assert (s.period.start, s.through, s.complete) == (D(2026, 9, 1), D(2026, 9, 30), True)
    # no data at all → current period to date
    s = select_period("week", D(2026, 10, 15), None)
    assert (s.period.start, s.through, s.complete) == (D(2026, 10, 12), D(2026, 10, 15), False)
    # on the last day of the current period it has ended
    s = select_period("month", D(2026, 10, 31), D(2026, 10, 2))
    assert (s.period.start, s.through, s.complete) == (D(2026, 10, 1), D(2026, 10, 31), True)
