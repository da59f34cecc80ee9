import datetime as dt

import pytest

from rentflow_notifications.domain.working_days import ENGLAND_WALES, add_working_days, is_working_day

D = dt.date


def test_bank_holidays_of_england_and_wales_are_known():
    assert D(2026, 12, 25) in ENGLAND_WALES
    assert D(2026, 12, 28) in ENGLAND_WALES  # Boxing Day falls on a Saturday: substitute Monday
    assert D(2027, 3, 26) in ENGLAND_WALES  # Good Friday 2027
    assert D(2027, 3, 29) in ENGLAND_WALES  # Easter Monday 2027
    assert D(2026, 12, 24) not in ENGLAND_WALES
    assert D(2026, 3, 17) not in ENGLAND_WALES  # St Patrick's Day is Northern Ireland only


def test_ordinary_week_skips_the_weekend():
    assert add_working_days(D(2026, 11, 23), 5) == D(2026, 11, 30)  # Monday → next Monday
    assert add_working_days(D(2026, 11, 26), 5) == D(2026, 12, 3)  # Thursday → next Thursday


def test_weekend_start_counts_from_monday():
    assert add_working_days(D(2026, 11, 28), 5) == D(2026, 12, 4)  # Saturday → Friday
    assert add_working_days(D(2026, 11, 29), 1) == D(2026, 11, 30)


def test_across_christmas_2026():
    # Thu 24 Dec: 25 Fri holiday, weekend, 28 Mon substitute Boxing Day; 29,30,31 count; 1 Jan holiday; 4, 5 Jan.
    assert add_working_days(D(2026, 12, 24), 5) == D(2027, 1, 5)


def test_across_easter_2027():
    # Thu 25 Mar: 26 Good Friday, weekend, 29 Easter Monday; 30, 31 Mar, 1, 2, 5 Apr.
    assert add_working_days(D(2027, 3, 25), 5) == D(2027, 4, 5)


def test_zero_days_is_the_next_working_day():
    assert add_working_days(D(2026, 12, 25), 0) == D(2026, 12, 29)
    assert add_working_days(D(2026, 12, 23), 0) == D(2026, 12, 23)


def test_negative_days_refused():
    with pytest.raises(ValueError):
        add_working_days(D(2026, 1, 1), -1)


def test_custom_calendar():
    assert not is_working_day(D(2026, 11, 24), bank_holidays={D(2026, 11, 24)})
    assert add_working_days(D(2026, 11, 23), 1, bank_holidays={D(2026, 11, 24)}) == D(2026, 11, 25)


def test_the_cached_england_and_wales_answers_are_the_computed_ones():
    class SameCalendar:  # England & Wales, but not the object whose answers are cached
        def __contains__(self, day: object) -> bool:
            return day in ENGLAND_WALES

    days = [D(2026, 1, 1) + dt.timedelta(days=n) for n in range(800)]
    for _ in range(2):  # computed, then from the cache
        assert [add_working_days(day, n) for day in days for n in range(0, 11)] == [
            add_working_days(day, n, bank_holidays=SameCalendar()) for day in days for n in range(0, 11)]
