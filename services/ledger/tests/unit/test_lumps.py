"""Lump sums matched to their detail (domain/lumps.py): the cash book's rules, and properties that
keep them honest — a lump equal to exactly one detail total settles it, whatever order the groups
come in; a lump equal to none never settles anything; interest never has detail."""
from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given, strategies as st

from rentflow_common.money import pounds
from rentflow_ledger.domain.lumps import DetailGroup, Lump, describe, match_lump, payout_key

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


# Payouts. The statement narrative is the one camt test_camt reads ("GOV.UK PAY PO_1NxYzA2eZvKYlo2C");
# the detail's payout id is what GOV.UK Pay's own ledger keeps per payment (alphagov/pay-ledger
# PaymentIncludedInPayoutEventQueueConsumerIT: event PAYMENT_INCLUDED_IN_PAYOUT, gateway_payout_id
# "po_..."), and what Stripe's itemized payout reconciliation report calls automatic_payout_id
# (docs.stripe.com/reports/payout-reconciliation).
PAYOUT = "po_1NxYzA2eZvKYlo2C"


def payout_lump(amount: int, payout_id: str | None, day: dt.date = DAY, kind: str = "govuk_pay_payout") -> Lump:
    return Lump(uuid.uuid4(), kind, amount, day, payout_id)


def test_a_payout_lump_settles_exactly_its_payouts_detail_even_when_another_total_is_equal():
    own = group(payout_key(PAYOUT), "card", 25_000, last=DAY - dt.timedelta(days=20))  # outside any date window
    day = group("day:2026-05-01", "card", 25_000)
    other = group(payout_key("po_1OtherPayout00000"), "card", 25_000)
    m = match_lump(payout_lump(25_000, PAYOUT.upper()), [day, other, own])  # the bank upper-cased the id
    assert (m.status, m.group) == ("matched", own)
    assert describe(payout_lump(25_000, PAYOUT), m).startswith(
        f"govuk pay payout matched to payout {PAYOUT.upper()} of 2026-04-11 (3 payments)")


def test_a_payout_whose_detail_adds_up_to_another_amount_is_a_mismatch_naming_both_figures():
    own = group(payout_key(PAYOUT), "card", 24_650, count=4)
    m = match_lump(payout_lump(25_000, PAYOUT), [own, group("day:2026-05-01", "card", 25_000)])
    assert (m.status, m.group) == ("mismatch", own)  # never the equal day total instead
    assert describe(payout_lump(25_000, PAYOUT), m) == (
        f"govuk pay payout {PAYOUT} is £250.00 on the statement, but the 4 card payments paid out in it add up "
        "to £246.50 (difference £3.50): find the missing detail, fees or refunds")


def test_a_payout_lump_whose_payout_has_no_detail_falls_back_to_the_amount_per_day_rule():
    other = group(payout_key("po_1OtherPayout00000"), "card", 9_900)
    day = group("day:2026-04-30", "card", 9_900, last=DAY - dt.timedelta(days=1))
    m = match_lump(payout_lump(9_900, PAYOUT), [other, day])
    assert (m.status, m.group) == ("matched", day)  # another payout's detail is never this one's
    nothing = match_lump(payout_lump(9_900, PAYOUT), [other])
    assert nothing.status == "unmatched"
    assert describe(payout_lump(9_900, PAYOUT), nothing) == (
        f"govuk pay payout {PAYOUT} is £99.00: no card payment of that payout is here yet, and no detail total "
        "of the days before 2026-05-01 equals it: load the payout's report, or find where the money belongs")


def test_a_lump_naming_no_payout_may_match_a_payout_by_amount_before_a_file_or_a_day():
    payout = group(payout_key(PAYOUT), "card", 12_345)
    file = group("import:f", "card", 12_345)
    m = match_lump(payout_lump(12_345, None, kind="card_settlement"), [file, payout])
    assert (m.status, m.group) == ("matched", payout)


def test_a_payout_id_on_a_lump_of_another_kind_is_not_read_as_one():
    own = group(payout_key(PAYOUT), "direct_debit", 100)
    assert match_lump(payout_lump(200, PAYOUT, kind="dd_collection"), [own]).status == "unmatched"


payout_ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=14, max_size=24)
payout_groups = st.lists(st.builds(lambda pid, total, lag: group(payout_key("po_" + pid), "card", total,
                                                                 last=DAY - dt.timedelta(days=lag)),
                                   payout_ids, st.integers(1, 10_000), st.integers(0, 40)),
                         max_size=8, unique_by=lambda g: g.key)


@given(payout_groups, groups_strategy, st.data())
def test_a_lump_naming_a_payout_with_detail_is_decided_by_that_payout_alone(payouts, others, data):
    if not payouts:
        return
    own = data.draw(st.sampled_from(payouts))
    pid = own.key.removeprefix("payout:")
    amount = data.draw(st.sampled_from([own.total_pence, own.total_pence + 1, max(1, own.total_pence - 1)]))
    cased = data.draw(st.sampled_from([pid, pid.lower(), "po_" + pid[3:]]))
    m = match_lump(payout_lump(amount, cased, kind=data.draw(st.sampled_from(["govuk_pay_payout", "card_settlement"]))),
                   [*payouts, *others])
    assert m.group == own
    assert m.status == ("matched" if amount == own.total_pence else "mismatch")


# Fees. Stripe (and GOV.UK Pay on Stripe) pays out each charge less its fee (the itemized payout
# reconciliation report's gross, fee and net columns; GOV.UK Pay's payment `fee` and `net_amount`):
# the lump is the detail's net.
def fee_group(key: str, total: int, fees: int, last: dt.date = DAY, count: int = 3) -> DetailGroup:
    return DetailGroup(key, "card", last, last, total, count, fees)


def test_a_payout_paid_out_net_of_its_fees_settles_its_detail():
    own = fee_group(payout_key(PAYOUT), 25_000, 735)
    assert own.net_pence == 24_265
    m = match_lump(payout_lump(24_265, PAYOUT), [own])
    assert (m.status, m.group) == ("matched", own)
    gross = match_lump(payout_lump(25_000, PAYOUT), [own])  # the gross is not what the provider paid out
    assert (gross.status, gross.group) == ("mismatch", own)
    assert describe(payout_lump(25_000, PAYOUT), gross) == (
        f"govuk pay payout {PAYOUT} is £250.00 on the statement, but the 3 card payments paid out in it add up "
        "to £250.00 less £7.35 of fees stated, £242.65 (difference £7.35): find the missing detail, refunds or "
        "disputes")


def test_a_payout_is_matched_net_of_the_refunds_and_disputes_taken_out_of_it():
    """Stripe's payout = charges − their fees − refunds − disputes − dispute fees (the report's `net` summed)."""
    own = DetailGroup(payout_key(PAYOUT), "card", DAY, DAY, 30_000, 2, 450 + 1_500, taken_back_pence=10_000)
    assert own.net_pence == 18_050
    assert match_lump(payout_lump(18_050, PAYOUT), [own]).status == "matched"
    short = match_lump(payout_lump(17_930, PAYOUT), [own])
    assert describe(payout_lump(17_930, PAYOUT), short) == (
        f"govuk pay payout {PAYOUT} is £179.30 on the statement, but the 2 card payments paid out in it add up "
        "to £300.00 less £100.00 of refunds and disputes less £19.50 of fees stated, £180.50 (difference -£1.20): "
        "find the missing detail, refunds or disputes")


def test_the_amount_rule_compares_a_lump_with_the_net_of_a_days_card_payments():
    day = fee_group("day:2026-05-01", 10_000, 140)
    assert match_lump(lump("card_settlement", 9_860), [day]).group == day
    assert match_lump(lump("card_settlement", 10_000), [day]).status == "unmatched"


fee_payouts = st.lists(st.builds(lambda pid, total, share, lag: fee_group(payout_key("po_" + pid), total,
                                                                          total * share // 100,
                                                                          last=DAY - dt.timedelta(days=lag)),
                                 payout_ids, st.integers(1, 10_000), st.integers(0, 100), st.integers(0, 40)),
                       min_size=1, max_size=8, unique_by=lambda g: g.key)


@given(fee_payouts, groups_strategy, st.data())
def test_a_payout_is_matched_exactly_when_the_lump_is_its_charges_less_their_fees(payouts, others, data):
    own = data.draw(st.sampled_from(payouts))
    amount = data.draw(st.sampled_from([own.net_pence, own.total_pence, own.net_pence + 1, own.net_pence - 1]))
    if amount < 1:
        return
    l = payout_lump(amount, own.key.removeprefix("payout:"))
    m = match_lump(l, [*payouts, *others])
    assert m.group == own
    assert m.status == ("matched" if amount == own.total_pence - own.fees_pence else "mismatch")
    if m.status == "mismatch":  # the task names the difference that the fees do not explain
        assert f"(difference {pounds(amount - own.net_pence)})" in describe(l, m)
