"""Notice dates against the statutory rules, with dates worked out by hand from the calendar.

England & Wales bank holidays used: Fri 25 Dec 2026, Mon 28 Dec 2026 (Boxing Day substitute, the
26th is a Saturday), Fri 1 Jan 2027, Good Friday 26 Mar 2027, Easter Monday 29 Mar 2027."""
from __future__ import annotations

import datetime as dt

import pytest

from rentflow_notifications.domain.notice_dates import (
    NoticeRules, add_months, dd_notice_in_time, earliest_effective, plan_rent_notice, representation_date,
    served_on)

D = dt.date
SECURE = NoticeRules()


def test_a_posted_letter_is_served_on_the_second_working_day():
    assert served_on(D(2027, 3, 4), SECURE) == D(2027, 3, 8)  # Thu → Fri (1), Mon (2)
    assert served_on(D(2026, 12, 23), SECURE) == D(2026, 12, 29)  # Wed → Thu 24 (1), [25, 26, 27, 28] → Tue 29 (2)
    assert served_on(D(2027, 3, 25), SECURE) == D(2027, 3, 31)  # Thu → [GF 26, 27, 28, EM 29] Tue 30 (1), Wed 31 (2)
    assert served_on(D(2027, 3, 4), NoticeRules(service_working_days=0)) == D(2027, 3, 4)  # by hand


def test_secure_tenancy_four_weeks_or_one_period_if_longer():
    assert earliest_effective(D(2027, 3, 8), SECURE) == D(2027, 4, 5)  # 28 days
    assert earliest_effective(D(2027, 3, 8), NoticeRules(rental_period="four_weeks")) == D(2027, 4, 5)
    # a monthly tenancy: one calendar month is longer than four weeks
    assert earliest_effective(D(2027, 3, 8), NoticeRules(rental_period="month")) == D(2027, 4, 8)
    assert earliest_effective(D(2027, 2, 1), NoticeRules(rental_period="month")) == D(2027, 3, 1)
    # February: four weeks after 1 Feb 2027 is 1 Mar, and so is one month
    assert earliest_effective(D(2027, 2, 1), SECURE) == D(2027, 3, 1)


def test_assured_tenancy_period_is_configuration():
    one = NoticeRules(tenancy="assured", assured_notice_months=1)
    two = NoticeRules(tenancy="assured", assured_notice_months=2)
    assert earliest_effective(D(2027, 3, 8), one) == D(2027, 4, 8)
    assert earliest_effective(D(2027, 1, 31), one) == D(2027, 2, 28)  # no 31 February
    assert earliest_effective(D(2027, 2, 3), two) == D(2027, 4, 3)


def test_add_months_clamps_to_the_end_of_the_month():
    assert add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    assert add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)
    assert add_months(D(2026, 12, 15), 1) == D(2027, 1, 15)


def test_rent_review_for_april_2027_must_be_posted_by_4_march():
    # Effective Monday 5 April 2027 (the first Monday in April). Served by Mon 8 March (28 days
    # before); a letter is served two working days after it is dated: dated Thu 4 March at the latest.
    ok = plan_rent_notice(D(2027, 3, 4), D(2027, 4, 5), dd_payer=False, rules=SECURE)
    assert (ok.in_time, ok.served_on, ok.serve_by, ok.post_by) == (True, D(2027, 3, 8), D(2027, 3, 8), D(2027, 3, 4))
    late = plan_rent_notice(D(2027, 3, 5), D(2027, 4, 5), dd_payer=False, rules=SECURE)
    assert not late.in_time and late.served_on == D(2027, 3, 9)
    assert "Housing Act 1985 s.103" in late.refusal and "service by 2027-03-08" in late.refusal
    assert "2027-03-05" in late.refusal and "2027-04-05" in late.refusal


def test_dd_advance_notice_is_ten_working_days_before_the_first_collection_across_easter():
    # Ten working days before Mon 5 April 2027, counting back and skipping Easter Monday 29 and
    # Good Friday 26 March: 2 Apr, 1, 31 Mar, 30, 25, 24, 23, 22, 19, 18 → served by Thu 18 March.
    assert dd_notice_in_time(D(2027, 3, 18), D(2027, 4, 5), SECURE)
    assert not dd_notice_in_time(D(2027, 3, 19), D(2027, 4, 5), SECURE)
    # For a secure tenancy the four weeks come first, so a DD payer's latest date is the statute's.
    plan = plan_rent_notice(D(2027, 3, 4), D(2027, 4, 5), dd_payer=True, rules=SECURE)
    assert plan.in_time and plan.serve_by == D(2027, 3, 8)


def test_dd_advance_notice_binds_when_it_is_the_longer_period_around_christmas():
    # A landlord that promised 25 working days' DD notice; rent change effective Mon 4 Jan 2027.
    # Statute: served by Mon 7 Dec 2026. DD: 25 working days back from 4 Jan, skipping 1 Jan,
    # 28 and 25 Dec: 31, 30, 29, 24, 23, 22, 21, 18, 17, 16, 15, 14, 11, 10, 9, 8, 7, 4, 3, 2,
    # 1 Dec, 30, 27, 26, 25 Nov → served by Wed 25 Nov 2026; posted by Mon 23 Nov.
    rules = NoticeRules(dd_advance_working_days=25)
    plan = plan_rent_notice(D(2026, 11, 23), D(2027, 1, 4), dd_payer=True, rules=rules)
    assert plan.in_time and plan.serve_by == D(2026, 11, 25) and plan.post_by == D(2026, 11, 23)
    late = plan_rent_notice(D(2026, 11, 24), D(2027, 1, 4), dd_payer=True, rules=rules)
    assert not late.in_time and late.served_on == D(2026, 11, 26)
    assert "Direct Debit Guarantee" in late.refusal and "s.103" not in late.refusal
    # the same letter is in time for a tenant who does not pay by DD
    assert plan_rent_notice(D(2026, 11, 24), D(2027, 1, 4), dd_payer=False, rules=rules).in_time


def test_an_effective_date_in_the_past_is_refused():
    plan = plan_rent_notice(D(2027, 4, 6), D(2027, 4, 5), dd_payer=False, rules=SECURE)
    assert not plan.in_time and plan.refusal


def test_representation_five_working_days_after_service_over_christmas():
    # Letter Wed 23 Dec 2026, served Tue 29 Dec; 5 working days: 30, 31 Dec, [1 Jan], 4, 5, 6 Jan.
    assert representation_date(D(2026, 12, 23), D(2027, 1, 10), SECURE) == D(2027, 1, 6)
    assert representation_date(D(2026, 12, 23), D(2027, 1, 6), SECURE) == D(2027, 1, 6)  # the last day allowed
    assert representation_date(D(2026, 12, 23), D(2027, 1, 5), SECURE) is None  # too late: not after represent_by
    assert representation_date(D(2026, 12, 23), None, SECURE) is None


def test_representation_around_easter_2027():
    # Letter Wed 24 Mar 2027 → served Thu 25 (1), [26 GF, 27, 28, 29 EM], Tue 30 (2); then 31 Mar,
    # 1, 2, 5, 6 Apr → Tue 6 April.
    assert representation_date(D(2027, 3, 24), D(2027, 4, 20), SECURE) == D(2027, 4, 6)


def test_bad_rules_are_named():
    with pytest.raises(ValueError, match="tenancy must be secure or assured"):
        NoticeRules(tenancy="council")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="service_working_days"):
        NoticeRules(service_working_days=-1)
