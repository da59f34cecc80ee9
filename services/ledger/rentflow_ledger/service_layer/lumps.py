"""Statement lump sums and their detail, as a cash book keeps them (domain/lumps.py; docs/domain.md §3).

Called by the payments handler, in its transaction:
- `record_detail`: every new receipt of a channel whose money reaches the bank as a lump (Direct
  Debit, cash, card, Universal Credit) is kept as detail, with the file that carried it and the
  payout it was paid out in when the detail names one;
- `take_lumps`: each new statement credit marked `lump` is matched to the unsettled detail
  (its own payout by id when it names one; else per payout, file, then day, by amount). Matched: the lump is reconciled — nothing is posted, to an account or
  to suspense, so the money is counted once (by its detail); a cash settlement's journal moves the
  cash file's receipts from cash control to the bank (Dr bank Cr cash, kind `settlement`), and a card
  payout matched to its charges less their fees posts the fees (Dr card fees Cr bank, kind `card_fees`). Unmatched, ambiguous,
  a payout whose detail adds up to another amount (mismatch, both figures named), or interest: an
  UnreconciledItem (a finance task), never rent in suspense;
- `rematch`: lumps still open are tried again when new detail of their channel arrives (the file
  came after the statement); matched, their finance item is resolved.

Matching holds one transaction-scoped advisory lock (adapters/reconciliation.py); a receipts
batch takes it only when a lump of its channels is waiting, so ordinary batches never queue on it.
(A lump still uncommitted while its detail's batch looks is matched by the next detail of its
channel, or by a person from the finance task.)"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Sequence

from rentflow_common.events import Cause
from rentflow_common.logging import get_logger
from rentflow_ledger.domain.journal import card_fee_lines, settlement_lines
from rentflow_ledger.domain.lumps import (DETAIL_CHANNEL, PAYOUT_KINDS, Lump, Match, describe, match_lump,
                                          payout_key, window)
from rentflow_ledger.domain.posting import Journal, business_date
from rentflow_ledger.service_layer import events
from rentflow_schemas import derive_event_id
from rentflow_schemas.payments import PaymentReceived

log = get_logger()
DETAIL_CHANNELS = frozenset(DETAIL_CHANNEL.values())


def item_id(payment_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("unreconciled", "lump", payment_id)


def _kind_of(lump_kind: str) -> str:
    return "interest" if lump_kind == "interest" else "lump_unmatched"


def is_detail(p: PaymentReceived) -> bool:
    """A receipt a lump may settle: not itself a lump, and of a channel that arrives as lumps."""
    return p.lump is None and str(p.channel) in DETAIL_CHANNELS


async def handle_cash_book(uow: Any, commands: Sequence[Any]) -> None:
    """The payments batch's part in the cash book (after the receipts are posted): the lumps taken and
    matched, the detail kept, and open lumps of the detail's channels tried again. `commands` are
    TakePayment (`.payment`, `.cause`)."""
    now = dt.datetime.now(dt.timezone.utc)
    await settle_cash_book(uow, commands, await record_cash_detail(uow, commands, now), now)


async def record_cash_detail(uow: Any, commands: Sequence[Any], now: dt.datetime, *, untaken: bool = False
                             ) -> set[str]:
    """`handle_cash_book`'s first part, the detail kept: it needs neither the postings nor an account
    locked, so the consumer does it before the receipts. Returns the channels of the detail new here.
    `untaken`: the commands are those receipts.untaken returned in this transaction (one per payment
    not taken before), so no detail of theirs is kept yet."""
    detail = [c.payment for c in commands if is_detail(c.payment)]
    return await record_detail(uow, detail, now, untaken=untaken) if detail else set()


async def settle_cash_book(uow: Any, commands: Sequence[Any], channels: set[str], now: dt.datetime) -> None:
    """`handle_cash_book`'s second part: the lumps taken and matched, and open lumps of `channels`
    (those `record_cash_detail` returned) tried again."""
    lumps = [c for c in commands if c.payment.lump is not None]
    if lumps:  # after the batch's own detail, so a lump and its file in one batch meet at once
        await take_lumps(uow, lumps, now)
    if channels:
        first = next(c for c in commands if is_detail(c.payment))
        await rematch(uow, channels, first.cause, now)


async def handle_payout_deductions(uow: Any, commands: Sequence[Any]) -> None:
    """Refunds and disputes a card provider took out of a payout (reversals naming their `payout_id`) are
    detail of that payout with a negative amount (and a dispute's fee), so its lump is matched to the
    charges less their fees less these. The reversal itself is posted by the reversals handler.
    `commands` are ReversePayment (`.reversal`, `.cause`)."""
    named = [c for c in commands if c.reversal.payout_id and c.reversal.kind in ("refund", "returned")]
    if not named:
        return
    now = dt.datetime.now(dt.timezone.utc)
    rows = [(r.reversal_id, "card", r.import_id, business_date(r.reversed_at), -r.amount_pence,
             payout_key(r.payout_id), r.fee_pence or 0) for r in (c.reversal for c in named)]
    if await uow.lumps.add_detail(rows, now):
        await rematch(uow, {"card"}, named[0].cause, now)


async def record_detail(uow: Any, payments: Iterable[PaymentReceived], at: dt.datetime, *,
                        untaken: bool = False) -> set[str]:
    """Keeps these receipts, ones a lump may settle (`is_detail`); returns the channels of those new here."""
    rows = [(p.payment_id, str(p.channel), p.import_id, business_date(p.paid_at), p.amount_pence,
             payout_key(p.payout_id) if p.payout_id and str(p.channel) == "card" else None,  # card money only
             (p.fee_pence or 0) if str(p.channel) == "card" else 0)
            for p in payments]
    return await uow.lumps.add_receipt_detail(rows, at, untaken=untaken)


async def _match(uow: Any, lump: Lump, cause: Cause | None, now: dt.datetime) -> Match:
    if lump.kind not in DETAIL_CHANNEL:
        return match_lump(lump, ())
    channel = DETAIL_CHANNEL[lump.kind]
    earliest, latest = window(lump)
    groups = await uow.lumps.groups(channel, earliest, latest)
    if lump.payout_id and lump.kind in PAYOUT_KINDS and not any(g.key == payout_key(lump.payout_id) for g in groups):
        groups += await uow.lumps.payout_groups(channel, [payout_key(lump.payout_id)])  # paid out on any day
    match = match_lump(lump, groups)
    if match.status == "matched":
        assert match.group is not None
        await uow.lumps.settle(lump.payment_id, match.group.channel, match.group.key)
        journals = []
        lines = settlement_lines(match.group.channel, lump.amount_pence)
        if lines:  # cash receipts sat in cash control: the settlement moves them to the bank
            journals.append(("settlement", lines))
        if match.group.fees_pence:  # the bank took the gross in (the receipts); the payout brought the net
            journals.append(("card_fees", card_fee_lines(match.group.channel, match.group.fees_pence)))
        if journals:
            calendar = (await uow.periods.state()).calendar
            js = [Journal(derive_event_id("journal", kind, lump.payment_id), kind, lump.value_date,
                          f"{kind.replace('_', '-')}:{lump.payment_id}:{match.group.key}", tuple(lines),
                          calendar.override(lump.value_date)) for kind, lines in journals]
            await uow.postings.add_journals(js, now)
            for j in js:
                events.journal_posted(uow, j, now, cause)
    return match


def _audit_reconciled(uow: Any, lump: Lump, match: Match, when: str) -> None:
    """A lump the ledger matched on its own (system:ledger): not rent, nothing posted to an account."""
    uow.audit("lump.reconciled", subject=lump.payment_id,
              before={"status": "open"} if when != "on arrival" else None,
              after={"status": "matched", "kind": lump.kind, "amount_pence": lump.amount_pence,
                     "matched": match.group.key if match.group else None, "when": when,
                     "value_date": lump.value_date, "fees_pence": match.group.fees_pence if match.group else 0})


async def take_lumps(uow: Any, commands: Sequence[Any], now: dt.datetime) -> None:
    batch: dict[uuid.UUID, Any] = {}
    for c in commands:
        batch.setdefault(c.payment.payment_id, c)
    await uow.lumps.lock()
    seen = await uow.lumps.seen(list(batch))
    rows, opened = [], []
    for pid, c in batch.items():
        if pid in seen:
            continue
        p = c.payment
        lump = Lump(pid, str(p.lump), p.amount_pence, business_date(p.paid_at), p.payout_id)
        match = await _match(uow, lump, c.cause, now)
        matched = match.status == "matched"
        rows.append((pid, p.provider_id, p.provider_ref, lump.kind, p.amount_pence, lump.value_date, p.reference,
                     p.payer_name, match.status, match.group.key if match.group else None, now if matched else None,
                     now, str(p.channel), p.payout_id))
        if matched:
            log.info("lump sum reconciled", payment_id=str(pid), kind=lump.kind, amount_pence=p.amount_pence,
                     matched=match.group.key if match.group else None)
            _audit_reconciled(uow, lump, match, "on arrival")
        else:
            opened.append((c, lump, describe(lump, match)))
    await uow.lumps.add(rows)
    new = await uow.unreconciled.open([(item_id(c.payment.payment_id), _kind_of(lump.kind), lump.amount_pence,
                                        c.payment.reference, lump.value_date, why, now) for c, lump, why in opened])
    for c, lump, why in opened:
        if item_id(c.payment.payment_id) in new:
            _announce(uow, "opened", lump, c.payment.reference, why, c.cause, now)


async def rematch(uow: Any, channels: set[str], cause: Cause | None, now: dt.datetime) -> None:
    """Open lumps of these channels, tried again now that more detail is here."""
    kinds = [k for k, ch in DETAIL_CHANNEL.items() if ch in channels]
    if not kinds or not await uow.lumps.any_open(kinds):
        return
    await uow.lumps.lock()
    for row in await uow.lumps.open(kinds):
        pid = uuid.UUID(str(row["payment_id"]))
        lump = Lump(pid, row["kind"], row["amount_pence"], row["value_date"], row["payout_id"])
        match = await _match(uow, lump, cause, now)
        if match.status != "matched" or match.group is None:
            if match.status in ("unmatched", "ambiguous", "mismatch"):
                why = describe(lump, match)
                if match.status != row["status"]:
                    key = match.group.key if match.group else None
                    await uow.lumps.set_status(pid, match.status, key)  # e.g. part of its payout is here now
                    uow.audit("lump.status", subject=pid, before={"status": row["status"]},
                              after={"status": match.status, "matched": key, "why": why})
                if await uow.unreconciled.reword(item_id(pid), why):  # the finance task says what is wrong now
                    _announce(uow, "updated", lump, row["reference"], why, cause, now)
            continue
        await uow.lumps.set_matched(pid, match.group.key, now)
        _audit_reconciled(uow, lump, match, "when its detail arrived")
        if await uow.unreconciled.resolve([item_id(pid)], now):
            _announce(uow, "resolved", lump, row["reference"], describe(lump, match) + " when it arrived", cause, now)


def _announce(uow: Any, action: str, lump: Lump, reference: str, reason: str, cause: Cause | None,
              now: dt.datetime) -> None:
    """The lump's finance item opened, reworded or resolved (ledger.unreconciled.v1)."""
    events.unreconciled(uow, {
        "item_id": item_id(lump.payment_id), "action": action, "kind": _kind_of(lump.kind),
        "amount_pence": lump.amount_pence, "reference": reference, "account_ref": None,
        "business_date": lump.value_date, "reason": reason, "source_id": lump.payment_id, "occurred_at": now}, cause)
