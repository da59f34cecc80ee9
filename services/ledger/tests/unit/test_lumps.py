"""Lump sums matched to their detail (domain/lumps.py): the cash book's rules, and properties that
keep them honest — a lump equal to exactly one detail total settles it, whatever order the groups
come in; a lump equal to none never settles anything; interest never has detail."""
from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given, strategies as st

from rentflow_ledger.domain.lumps import DetailGroup, Lump, describe, match_lump

DAY = dt.date(2026, 5, 1)


def group(key: str, channel: str, total: int, last: dt.date = DAY, first: dt.date | None = None, count: int = 3):
    return DetailGroup(key, channel, first or last, last, total, count)


def lump(kind: str, amount: int, day: dt.date = DAY) -> Lump:
    return Lump(uuid.uuid4(), kind, amount, day)


def test_the_dd_collection_total_settles_the_standard_18_file_of_that_processing_day():
    file = group("import:aaa", "direct_debit", 1_234_500)
    day = group("day:2026-05-01", "direct_debit", 1_234_500)
    other = group("import:bbb", "direct_debit", 99_900, last=DAY - dt.timedelta(days=1))
    m = match_lump(lump("dd_collection", 1_234_500), [other, day, file])
    assert m.status == "matched" and m.group == file  # the file before the day that holds it
    assert describe(lump("dd_collection", 1), m).startswith("dd collection matched to file aaa of 2026-05-01")


def test_a_day_total_settles_when_no_single_file_does():
    groups = [group("import:a", "direct_debit", 100), group("import:b", "direct_debit", 200),
              group("day:2026-05-01", "direct_debit", 300)]
    m = match_lump(lump("dd_collection", 300), groups)
    assert m.status == "matched" and m.group.key == "day:2026-05-01"


def test_a_cash_settlement_two_working_days_after_the_cash_file_settles_it_but_not_the_card_payments():
    cash = group("import:c", "cash", 45_000, last=DAY)
    card = group("day:2026-05-01", "card", 45_000, last=DAY)
    m = match_lump(lump("cash_settlement", 45_000, DAY + dt.timedelta(days=3)), [card, cash])
    assert m.status == "matched" and m.group == cash
    # too long after: not this file's settlement
    assert match_lump(lump("cash_settlement", 45_000, DAY + dt.timedelta(days=9)), [cash]).status == "unmatched"


def test_two_equal_files_are_ambiguous_and_a_person_chooses():
    groups = [group("import:a", "cash", 500), group("import:b", "cash", 500, last=DAY - dt.timedelta(days=1))]
    m = match_lump(lump("cash_settlement", 500, DAY + dt.timedelta(days=2)), groups)
    assert m.status == "ambiguous" and m.group is None and len(m.candidates) == 2
    assert "matches more than one cash detail total" in describe(lump("cash_settlement", 500), m)


def test_a_uc_managed_payment_settles_the_schedule_and_interest_has_no_detail():
    schedule = group("import:uc", "universal_credit", 812_345)
    assert match_lump(lump("uc_managed_payment", 812_345, DAY + dt.timedelta(days=1)), [schedule]).group == schedule
    m = match_lump(lump("interest", 812_345), [schedule])
    assert m.status == "no_detail" and "not rent" in describe(lump("interest", 1), m)


def test_a_lump_with_no_equal_total_is_unmatched_never_a_near_miss():
    m = match_lump(lump("govuk_pay_payout", 10_001), [group("day:2026-05-01", "card", 10_000)])
    assert m.status == "unmatched"
    assert "matches no card detail" in describe(lump("govuk_pay_payout", 10_001), m)


groups_strategy = st.lists(
    st.builds(lambda n, ch, total, lag: group(f"import:{n}", ch, total, last=DAY - dt.timedelta(days=lag)),
              st.integers(0, 10_000), st.sampled_from(["direct_debit", "cash", "card", "universal_credit"]),
              st.integers(1, 10_000), st.integers(0, 10)),
    max_size=12, unique_by=lambda g: g.key)
kinds = st.sampled_from(["dd_collection", "cash_settlement", "card_settlement", "govuk_pay_payout",
                         "uc_managed_payment", "interest"])


@given(groups_strategy, kinds, st.integers(1, 10_000), st.randoms(use_true_random=False))
def test_matching_does_not_depend_on_the_order_of_the_detail(groups, kind, amount, rnd):
    shuffled = list(groups)
    rnd.shuffle(shuffled)
    a, b = match_lump(lump(kind, amount), groups), match_lump(lump(kind, amount), shuffled)
    assert (a.status, a.group) == (b.status, b.group)


@given(groups_strategy, kinds, st.integers(1, 10_000))
def test_a_match_is_always_the_lump_amount_of_its_channel_and_unique(groups, kind, amount):
    m = match_lump(lump(kind, amount), groups)
    if m.status == "matched":
        assert m.group.total_pence == amount
        same = [g for g in m.candidates if g.by_file == m.group.by_file]
        assert same == [m.group]  # never one of several equal candidates
    if not any(g.total_pence == amount for g in groups):
        assert m.status in ("unmatched", "no_detail")  # a lump equal to no total settles nothing
