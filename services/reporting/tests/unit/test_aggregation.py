import datetime as dt
import uuid

from rentflow_schemas.codes import CODES, MANUAL_ALLOCATION

from rentflow_reporting.domain.aggregation import (LAST_DAY, Posting, balance_deltas, balance_moves, batch_totals,
                                                   merge_totals,
                                                   posting_totals, suspense_opened_totals, booked_date,
                                                   suspense_reversed_totals)

D = dt.date(2026, 10, 5)
UTC = dt.timezone.utc


def p(code, amount, *, rule=None, ref="x", channel=None, account="A1", day=D, at=None):
    return Posting(uuid.uuid4(), account, code, amount, at or dt.datetime(2026, 10, 5, 12, tzinfo=UTC),
                   day, ref, channel, rule)


def test_debits_receipts_and_reversals_feed_their_metrics():
    assert posting_totals(p("DBR", 10000)) == [(D, "debit", "DBR", 10000, 1)]
    # a receipt lowers the balance (amount −5000) and is collected +5000 on its channel
    assert posting_totals(p("RSO", -5000, rule="exact")) == [(D, "collected", "standing_order", 5000, 1),
                                                             (D, "receipt", "RSO", 5000, 1)]
    # the posting's own channel wins over the code's usual channel
    assert posting_totals(p("RBP", -100, rule="exact", channel="card"))[0] == (D, "collected", "card", 100, 1)
    # a DD collection is also a DD presented
    assert (D, "dd_presented", "", 11000, 1) in posting_totals(p("RDD", -11000, rule="dd_mandate"))
    # a DD unpaid raises the balance +11000: counted as a failure and taken off DD collections
    assert posting_totals(p("RDN", 11000)) == [(D, "dd_unpaid", "", 11000, 1),
                                               (D, "collected", "direct_debit", -11000, 0)]
    # write-off −10000 → written off +10000
    assert posting_totals(p("WOF", -10000)) == [(D, "written_off", "WOF", 10000, 1)]
    # the ledger's adjustments are WON either way: neither write-offs nor write-on of written-off debt
    assert posting_totals(p("WON", 2000)) == [(D, "adjustment", "WON", 2000, 1)]
    assert posting_totals(p("WON", -1500)) == [(D, "adjustment", "WON", -1500, 1)]
    assert posting_totals(p("REF", 500)) == [(D, "refund", "REF", 500, 1)]
    assert posting_totals(p("RIT", -700)) == [(D, "transfer", "RIT", -700, 1)]


def test_an_undone_unpaid_or_refund_takes_its_count_back():
    # a cancelled indemnity claim credits its RDN back: one failure fewer, the money collected again
    assert posting_totals(p("RDN", -11000)) == [(D, "dd_unpaid", "", -11000, -1),
                                                (D, "collected", "direct_debit", 11000, 0)]
    # a refund that bounced is credited back: one refund fewer; not collected (it is not rent)
    assert posting_totals(p("REF", -500)) == [(D, "refund", "REF", -500, -1)]


def test_manual_allocation_from_suspense_is_not_collected_again():
    assert posting_totals(p("RBP", -2500, rule="manual")) == [(D, "receipt_manual", "RBP", 2500, 1)]
    assert suspense_opened_totals(D, D, "bank_transfer", 2500) == [(D, "collected", "bank_transfer", 2500, 1),
                                                                   (D, "suspense_opened", "bank_transfer", 2500, 1)]
    assert (D, "dd_presented", "", 900, 1) in suspense_opened_totals(D, D, "direct_debit", 900)


def test_suspense_counts_from_the_date_the_gl_books_it():
    assert booked_date(dt.date(2026, 10, 6), "2026-10") == dt.date(2026, 10, 6)
    assert booked_date(dt.date(2026, 10, 6), None) == dt.date(2026, 10, 6)
    # October closed: booked in the next open month, from its first day
    assert booked_date(dt.date(2026, 10, 6), "2026-12") == dt.date(2026, 12, 1)


def test_a_suspense_receipt_is_collected_on_its_value_date_and_queued_when_booked():
    later = D + dt.timedelta(days=57)  # a statement loaded weeks after the money arrived
    assert suspense_opened_totals(D, later, "direct_debit", 900) == [
        (D, "collected", "direct_debit", 900, 1), (later, "suspense_opened", "direct_debit", 900, 1),
        (D, "dd_presented", "", 900, 1)]


def test_opening_balances_are_brought_forward_not_debit():
    # the ledger posts them as BBF (with source_ref "opening-balance"); the code says what a posting
    # is, never the text of its reference
    assert posting_totals(p("BBF", 5000, ref="opening-balance")) == [(D, "opening", "BBF", 5000, 1)]
    assert posting_totals(p("BBF", 5000, ref="anything")) == [(D, "opening", "BBF", 5000, 1)]
    assert posting_totals(p("DBR", 30000, ref="opening-balance")) == [(D, "debit", "DBR", 30000, 1)]
    assert posting_totals(p("RIT", -2000, ref="Opening-Balance:A2")) == [(D, "transfer", "RIT", -2000, 1)]


def test_merge_and_balance_deltas_add_up():
    rows = posting_totals(p("DBR", 10000)) + posting_totals(p("DBR", 12000)) + posting_totals(p("DSC", 1000))
    # 10000 + 12000 = 22000 over 2 DBR postings
    assert merge_totals(rows) == {(D, "debit", "DBR"): (22000, 2), (D, "debit", "DSC"): (1000, 1)}
    postings = [p("DBR", 10000), p("RSO", -4000, rule="exact"), p("DBR", 500, account="A2"),
                p("RCP", -300, day=D + dt.timedelta(days=1))]
    # A1 on the 5th: +10000 − 4000 = 6000; A2 +500; A1 on the 6th −300
    assert balance_deltas(postings) == {("A1", D): 6000, ("A2", D): 500, ("A1", D + dt.timedelta(days=1)): -300}


def test_balance_moves_give_each_day_end_the_movements_up_to_its_date():
    d1, d2, d3 = D, D + dt.timedelta(days=1), D + dt.timedelta(days=7)
    # A1's day-ends from the 5th to the 5th gain 6000; from the 6th to the 11th 6000 − 300; from the 12th on
    # 6000 − 300 + 50; A2's from the 5th on 500. By account and date, whatever order the movements came in.
    assert balance_moves({("A1", d3): 50, ("A2", d1): 500, ("A1", d2): -300, ("A1", d1): 6000}) == [
        ("A1", d1, d2, 6000), ("A1", d2, d3, 5700), ("A1", d3, LAST_DAY, 5750), ("A2", d1, LAST_DAY, 500)]


def test_a_reversed_suspense_receipt_leaves_the_queue_and_is_no_longer_collected():
    assert suspense_reversed_totals(D, "card", 700) == [(D, "suspense_reversed", "", 700, 1),
                                                         (D, "collected", "card", -700, 0)]


def test_a_batch_totals_the_same_as_its_postings_one_by_one():
    """batch_totals takes postings alike but for their amount together: for every code, either sign,
    with and without a channel, matched by hand or not, over two days, it sums to what each posting
    gives alone."""
    postings = [p(code, sign * amount, rule=rule, channel=channel, day=day)
                for code in CODES for sign in (1, -1) for amount in (1, 250, 9999)
                for rule in (None, "exact", MANUAL_ALLOCATION) for channel in (None, "card")
                for day in (D, D + dt.timedelta(days=1))]
    postings.append(p("RCP", 0, rule="exact"))
    assert merge_totals(batch_totals(postings)) == merge_totals(row for q in postings for row in posting_totals(q))
