"""Lump sums on the bank statement, matched to the detail already received, as a cash book does
(docs/domain.md §3). Pure: the caller loads the unmatched detail groups and stores the outcome.

A statement credit intake marked `lump` is the bank's one line for money whose detail came on its
own: the day's Direct Debit collections (the Standard 18 file), a PayPoint/allpay/Post Office
settlement (the cash file), a card acquirer's settlement or a GOV.UK Pay payout (the card payments),
DWP's Universal Credit managed payment (the UC schedule). The detail is already posted to the rent
accounts (Dr bank or cash, Cr debtors control), so the lump is the same money seen a second time:
matched, it is marked reconciled and posts nothing (not to an account, not to suspense, not to
collected). A lump that matches no detail — or more than one — is not rent in suspense either: it is
a finance task (ledger.unreconciled.v1), and it is matched again when more detail arrives.

Detail groups: the receipts of the lump's channel not yet matched to a lump, totalled per file
(the import that carried them: a Standard 18 submission, a cash file, a UC schedule) and per value
date. A lump matches a group when the amounts are equal to the penny and the lump's value date is
within the channel's settlement lag after the group's last value date (Bacs credits the
collections on the processing day, cash and card settlements follow in a few working days, DWP
pays on the schedule's date). One file group matching → that file; else one date group → that day;
else unmatched (none) or ambiguous (several: a person chooses). Interest has no detail.

Payouts (GOV.UK Pay payouts and card settlements): a card receipt whose detail names the payout it
was paid out in (`payout_id`: a Stripe `po_...`) belongs to that payout only, as a cash book keeps it —
its group is "payout:<ID>" (ids compared without regard to case: banks upper-case narratives), and it
is never part of a file or day group. A lump whose narrative carries a payout id is matched to exactly
the detail of that payout: equal totals → matched; different → `mismatch`, a finance task naming both
figures (tried again as more of the payout's detail arrives). A lump whose payout has no detail here
falls back to the amount rule over the detail that names no payout; a lump that names no payout may
match a payout group by amount (payout groups first, then files, then days).

Fees: a card provider pays out the net — each charge less the fee it took (`fee_pence` on the detail,
when the detail states it), less the refunds and disputes it took back out of the payout (reversals
naming the payout: negative detail of it, with a dispute's fee). A group's `net_pence` is its receipts'
total less their fees and what was taken back, and that is what a lump must equal (for the channels
without fees it is the total). The tenant's account keeps the gross;
the matched group's fees are posted once, as a journal (domain/journal.py card_fee_lines)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Literal, NamedTuple

from rentflow_common.money import pounds
from rentflow_schemas.payments import PAYOUT_LUMPS

# lump kind → the channel of its detail receipts
DETAIL_CHANNEL: dict[str, str] = {
    "dd_collection": "direct_debit",
    "cash_settlement": "cash",
    "card_settlement": "card",
    "govuk_pay_payout": "card",
    "uc_managed_payment": "universal_credit",
}
# days the lump's value date may be after (and, for dates read in another time zone, before) the
# detail's last value date
LAG: dict[str, tuple[int, int]] = {
    "dd_collection": (1, 3),  # Bacs: processing day, day 3 at the latest
    "cash_settlement": (1, 7),  # PayPoint/allpay settle about two working days later
    "card_settlement": (1, 7),
    "govuk_pay_payout": (1, 7),
    "uc_managed_payment": (1, 7),
}
NO_DETAIL: frozenset[str] = frozenset({"interest"})
PAYOUT_KINDS = PAYOUT_LUMPS  # lumps a card provider pays out under a payout id the detail may name
PAYOUT = "payout:"


def payout_key(payout_id: str) -> str:
    """The detail group of a payout: one key however the bank or the report cased the id."""
    return PAYOUT + payout_id.upper()


class Lump(NamedTuple):
    payment_id: object
    kind: str
    amount_pence: int
    value_date: dt.date
    payout_id: str | None = None  # the payout id the statement's narrative carries (card lumps)


@dataclass(frozen=True)
class DetailGroup:
    """Unmatched receipts of one channel, per payout (`key` "payout:<ID>"), per file ("import:<id>") or
    per value date ("day:<date>")."""

    key: str
    channel: str
    first_day: dt.date
    last_day: dt.date
    total_pence: int
    count: int
    fees_pence: int = 0  # the provider's fees the detail states (card receipts), taken out before payout
    taken_back_pence: int = 0  # refunds and disputes the provider took out of the payout

    @property
    def net_pence(self) -> int:
        """What the provider paid out for this detail: the receipts less their fees, refunds and disputes."""
        return self.total_pence - self.fees_pence - self.taken_back_pence

    @property
    def by_file(self) -> bool:
        return self.key.startswith("import:")

    @property
    def by_payout(self) -> bool:
        return self.key.startswith(PAYOUT)


class Match(NamedTuple):
    """`group`: the group matched, or for `mismatch` the lump's payout whose total differs."""

    status: Literal["matched", "unmatched", "ambiguous", "no_detail", "mismatch"]
    group: DetailGroup | None
    candidates: tuple[DetailGroup, ...]


def window(lump: Lump) -> tuple[dt.date, dt.date]:
    """The detail value dates a lump may settle: [earliest, latest] of the group's last day."""
    before, after = LAG[lump.kind]
    return lump.value_date - dt.timedelta(days=after), lump.value_date + dt.timedelta(days=before)


def match_lump(lump: Lump, groups: Iterable[DetailGroup]) -> Match:
    """The one detail group this lump settles: its own payout's when it names one and the detail has
    it (by id, whatever the date; the amount must agree), else exactly one by amount and date (payout
    groups first, then files, then days)."""
    if lump.kind in NO_DETAIL or lump.kind not in DETAIL_CHANNEL:
        return Match("no_detail", None, ())
    channel = DETAIL_CHANNEL[lump.kind]
    groups = [g for g in groups if g.channel == channel]
    named = lump.payout_id is not None and lump.kind in PAYOUT_KINDS
    if named:
        assert lump.payout_id is not None
        own = next((g for g in groups if g.key == payout_key(lump.payout_id)), None)
        if own is not None:
            return Match("matched" if own.net_pence == lump.amount_pence else "mismatch", own, (own,))
    earliest, latest = window(lump)
    candidates = tuple(sorted((g for g in groups if g.net_pence == lump.amount_pence
                               and earliest <= g.last_day <= latest and not (named and g.by_payout)),
                              key=lambda g: g.key))
    for tier in ([g for g in candidates if g.by_payout], [g for g in candidates if g.by_file],
                 [g for g in candidates if not g.by_file and not g.by_payout]):
        if len(tier) == 1:
            return Match("matched", tier[0], candidates)
        if len(tier) > 1:
            return Match("ambiguous", None, candidates)
    return Match("unmatched", None, ())


def describe(lump: Lump, match: Match) -> str:
    """What a finance officer reads on the task (or the resolution)."""
    channel = DETAIL_CHANNEL.get(lump.kind, "")
    words = lump.kind.replace("_", " ")
    if match.status == "no_detail":
        return f"{words} credited by the bank: not rent; book it to the right income code"
    if match.status == "ambiguous":
        which = ", ".join(_group_words(g) for g in match.candidates)
        return f"{words} matches more than one {channel.replace('_', ' ')} detail total ({which}): say which"
    if match.status == "mismatch":
        assert match.group is not None
        g = match.group
        back = f" less {pounds(g.taken_back_pence)} of refunds and disputes" if g.taken_back_pence else ""
        fees = f" less {pounds(g.fees_pence)} of fees stated" if g.fees_pence else ""
        net = f", {pounds(g.net_pence)}" if back or fees else ""
        return (f"{words} {lump.payout_id} is {pounds(lump.amount_pence)} on the statement, but the "
                f"{g.count} {channel.replace('_', ' ')} payments paid out in it add up to {pounds(g.total_pence)}"
                f"{back}{fees}{net} (difference {pounds(lump.amount_pence - g.net_pence)}): find the missing "
                f"detail, {'refunds or disputes' if g.fees_pence else 'fees or refunds'}")
    if match.status == "unmatched" and lump.payout_id and lump.kind in PAYOUT_KINDS:
        return (f"{words} {lump.payout_id} is {pounds(lump.amount_pence)}: no {channel.replace('_', ' ')} payment "
                f"of that payout is here yet, and no detail total of the days before {lump.value_date} equals it: "
                f"load the payout's report, or find where the money belongs")
    if match.status == "unmatched":
        return (f"{words} matches no {channel.replace('_', ' ')} detail received for the days before "
                f"{lump.value_date}: load the file it settles, or find where the money belongs")
    assert match.group is not None
    return f"{words} matched to {_group_words(match.group)}"


def _group_words(g: DetailGroup) -> str:
    days = g.first_day.isoformat() if g.first_day == g.last_day else f"{g.first_day} to {g.last_day}"
    what = (f"payout {g.key.removeprefix(PAYOUT)}" if g.by_payout
            else f"file {g.key.removeprefix('import:')}" if g.by_file else "the receipts")
    return f"{what} of {days} ({g.count} payments)"
