"""How each ledger event feeds the incremental aggregates.

`daily_totals` rows are (business_date, metric, key) → (amount_pence, count), added to on
every batch. Metrics (amounts always stored so that the usual case is positive):

| metric | key | from |
| --- | --- | --- |
| debit | type code | rent and charge debits DBR DSC DHE DWR DGA DCI DCC DRR (signed) |
| collected | channel | identified receipts (not manual allocations), suspense receipts on their |
|  |  | value date; minus DD unpaids and returned cheques |
| receipt | type code | identified receipts by code (allocation rule not manual) |
| receipt_manual | type code | allocated by hand from suspense (counted when it opened) |
| dd_presented | "" | DD collections received (RDD postings, DD receipts opened in suspense) |
| dd_unpaid | "" | RDN Direct Debit unpaids (a cancelled indemnity claim, RDN credited back, counts −1) |
| returned_cheque | "" | RRC |
| benefit_recovered | "" | DHB: an overpaid Housing Benefit rebate recovered (less HB collected that day) |
| refund | type code | REF, RDR (a bounced refund, REF credited back, counts −1) |
| written_off | WOF | write-offs (positive) |
| adjustment | WON | the ledger's signed adjustments (its WON postings): not debit, not written off |
| transfer | RIT | internal transfers |
| opening | type code | opening balances (arrears brought forward, not debit for the period) |
| suspense_opened | channel | unidentified receipts opened (on their booked date) |
| suspense_allocated | "" | suspense items allocated by hand (on the allocation's booked date) |
| suspense_reversed | "" | suspense items taken back by the bank or provider (less collected that day) |
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Iterable, NamedTuple

from rentflow_schemas.codes import CODES, MANUAL_ALLOCATION, Kind, codes_of

# What each code is: the shared table (rentflow_schemas.codes). The ledger posts every
# maker-checker adjustment, debit or credit, as WON: counting it as a write-on would make a credit
# adjustment look like a write-off, so it is an adjustment.
DEBIT_CODES = codes_of(Kind.DEBIT)
RECEIPT_CHANNELS = {c.code: c.channel for c in CODES.values() if c.kind is Kind.RECEIPT}
REFUND_CODES = codes_of(Kind.REFUND)
WRITE_OFF_CODES = codes_of(Kind.WRITE_OFF)
ADJUSTMENT_CODES = codes_of(Kind.ADJUSTMENT)
OPENING_CODES = codes_of(Kind.OPENING)

TotalKey = tuple[dt.date, str, str]  # business_date, metric, key
TotalRow = tuple[dt.date, str, str, int, int]  # … amount_pence, count


class Posting(NamedTuple):  # a tuple: one per posting consumed, cheaper to make than a frozen dataclass
    transaction_id: uuid.UUID
    account_ref: str
    type_code: str
    amount_pence: int  # signed: + raises the balance (debit), − lowers it (credit)
    posted_at: dt.datetime
    business_date: dt.date
    source_ref: str
    channel: str | None = None
    allocation_rule: str | None = None


def posting_totals(p: Posting) -> list[TotalRow]:
    """The daily_totals contributions of one posting."""
    d, code, amount = p.business_date, p.type_code, p.amount_pence
    if code in OPENING_CODES:
        return [(d, "opening", code, amount, 1)]
    if code in DEBIT_CODES:
        return [(d, "debit", code, amount, 1)]
    if code in RECEIPT_CHANNELS:
        received = -amount
        if p.allocation_rule == MANUAL_ALLOCATION:
            return [(d, "receipt_manual", code, received, 1)]
        rows = [(d, "collected", p.channel or RECEIPT_CHANNELS[code], received, 1), (d, "receipt", code, received, 1)]
        if code == "RDD":
            rows.append((d, "dd_presented", "", received, 1))
        return rows
    # an unpaid undone (a cancelled indemnity claim: RDN credited back) or a refund undone (it bounced:
    # REF credited back) takes its count back off as well as its amount
    undone = -1 if amount < 0 else 1
    if code == "RDN":
        return [(d, "dd_unpaid", "", amount, undone), (d, "collected", "direct_debit", -amount, 0)]
    if code == "DHB":  # an overpaid Housing Benefit rebate recovered: that much less HB collected
        return [(d, "benefit_recovered", "", amount, 1), (d, "collected", "housing_benefit", -amount, 0)]
    if code == "RRC":
        return [(d, "returned_cheque", "", amount, 1), (d, "collected", p.channel or "other", -amount, 0)]
    if code in REFUND_CODES:
        return [(d, "refund", code, amount, undone)]
    if code in WRITE_OFF_CODES:
        return [(d, "written_off", code, -amount, 1)]
    if code in ADJUSTMENT_CODES:
        return [(d, "adjustment", code, amount, 1)]
    return [(d, "transfer" if code == "RIT" else "other", code, amount, 1)]


def batch_totals(postings: Iterable[Posting]) -> list[TotalRow]:
    """posting_totals of every posting, for a fraction of the calls: postings alike but for their
    amount (date, code, channel, allocation rule and the amount's sign) go in once, with their amounts
    summed and their counts times their number. Exact because posting_totals' amounts are the
    posting's, negated or not, and its counts depend on the sign alone (a test holds it to that)."""
    alike: dict[tuple, list] = {}
    get = alike.get
    for p in postings:
        amount = p.amount_pence
        key = (p.business_date, p.type_code, p.channel, p.allocation_rule, amount < 0)
        group = get(key)
        if group is None:
            alike[key] = [p, amount, 1]
        else:
            group[1] += amount
            group[2] += 1
    rows: list[TotalRow] = []
    for p, amount, n in alike.values():
        rows += [(d, metric, key, a, count * n)
                 for d, metric, key, a, count in posting_totals(p._replace(amount_pence=amount))]
    return rows


def booked_date(value_date: dt.date, period: str | None) -> dt.date:
    """The date a suspense action counts from, as the GL books it: the value date, or the first day
    of the month it was booked in when that is later (its own month was closed). So suspense at a
    month end matches the suspense control account for that month, and a closed month's figure
    stays fixed while allocations in an open month restate it."""
    if period is None or period == f"{value_date:%Y-%m}":
        return value_date
    first = dt.date(int(period[:4]), int(period[5:7]), 1)
    return max(first, value_date)


def suspense_opened_totals(value_date: dt.date, opened_date: dt.date, channel: str, amount_pence: int
                           ) -> list[TotalRow]:
    """An unidentified receipt is money collected on its value date, as an identified receipt is
    (and only then: its later allocation is not collected again); it joins the queue on its booked
    date (`booked_date`)."""
    rows = [(value_date, "collected", channel, amount_pence, 1),
            (opened_date, "suspense_opened", channel, amount_pence, 1)]
    if channel == "direct_debit":
        rows.append((value_date, "dd_presented", "", amount_pence, 1))
    return rows


def suspense_reversed_totals(day: dt.date, channel: str, amount_pence: int) -> list[TotalRow]:
    """An unidentified receipt taken back by the payer's bank or provider: it leaves the queue, and
    the money counted as collected when it arrived is taken off again on the day it went back."""
    return [(day, "suspense_reversed", "", amount_pence, 1), (day, "collected", channel, -amount_pence, 0)]


def suspense_allocated_totals(business_date: dt.date, amount_pence: int) -> list[TotalRow]:
    return [(business_date, "suspense_allocated", "", amount_pence, 1)]


def merge_totals(rows: Iterable[TotalRow]) -> dict[TotalKey, tuple[int, int]]:
    merged: dict[TotalKey, list[int]] = defaultdict(lambda: [0, 0])
    for d, metric, key, amount, count in rows:
        cell = merged[(d, metric, key)]
        cell[0] += amount
        cell[1] += count
    return {k: (v[0], v[1]) for k, v in merged.items()}


def balance_deltas(postings: Iterable[Posting]) -> dict[tuple[str, dt.date], int]:
    """Net movement per account and business date (order-free, so late or back-dated postings add up)."""
    out: dict[tuple[str, dt.date], int] = {}
    get = out.get
    for p in postings:
        key = (p.account_ref, p.business_date)
        out[key] = get(key, 0) + p.amount_pence
    return out


BalanceMove = tuple[str, dt.date, dt.date, int]  # account_ref, from, until (excluded), amount_pence
LAST_DAY = dt.date.max  # `until` of an account's last move: every later day-end


def balance_moves(deltas: dict[tuple[str, dt.date], int]) -> list[BalanceMove]:
    """The net movements as what each day-end balance of an account gains: every day-end from `from` up
    to (not including) `until` gains the sum of the account's movements dated on or before `from`. Each
    day-end falls in one move at most, so the SQL adds it without summing. Sorted by account and date
    (a fixed lock order)."""
    moves: list[BalanceMove] = []
    # the keys alone: tuples led by a str sort several times faster than the items (led by a tuple)
    for key in sorted(deltas):
        account, day = key
        amount = deltas[key]
        if moves and moves[-1][0] == account:  # the account's previous move ends where this one starts
            _, start, _, before = moves[-1]
            moves[-1] = (account, start, day, before)
            amount += before
        moves.append((account, day, LAST_DAY, amount))
    return moves
