"""Reversals of payments (payments.reversed.v1; issue #3): money of a receipt went back — the bank
took a credit back (kind returned → `RRC`) or the provider refunded the payer (refund → `REF`).

For each reversal not seen before (by reversal_id), find where its payment went:
- posted to an account (directly, from suspense, or moved since: the account it is on now) → post
  the code for the reversed amount on that account, dated the reversal's London date (booked in
  the next open period when that month is closed), journal `reversal` Dr debtors control Cr
  bank (cash control for cash) — the receipt's journal the other way round;
- still unallocated in suspense, for its whole amount → it leaves the queue: journal Dr income
  suspense Cr bank/cash, SuspenseEvent "reversed" (a partial one waits until it is allocated);
- a statement lump sum (never posted: the cash book matched it to its detail, or it waits for it)
  → `unreconciled`: the lump is reversed, its open finance item resolved, or, when it had been
  matched, a new finance item opened (nothing is posted either way);
- not here yet (its event is on another partition or topic) → kept pending, and applied when the
  payment arrives (`apply_pending`, called by the payments handler — lumps too — and by suspense
  allocation). New reversals and payments batches lock each other out until commit, before either
  locks an account (`lock_against_payments`), so one taken by another ledger member at the same
  moment is not missed.
A reversal beyond what is left of the payment is refused (logged), never posted.
One batch, one transaction, a handful of set-based statements."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, NamedTuple, Sequence

from rentflow_common.events import Cause
from rentflow_common.logging import get_logger
from rentflow_ledger.domain.codes import REVERSAL_CODES
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import reversed_receipt_lines, reversed_suspense_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, business_date, check_control, period_of
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.commands import ReversePayment
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork

UTC = dt.timezone.utc
log = get_logger()


class Reversal(NamedTuple):
    reversal_id: uuid.UUID
    payment_id: uuid.UUID
    provider_id: str
    provider_ref: str
    kind: str
    amount_pence: int
    business_date: dt.date
    reason: str
    correlation_id: str
    event_id: uuid.UUID

    @property
    def cause(self) -> Cause:
        return Cause(self.event_id, self.correlation_id)


async def unseen_reversals(uow: Any, commands: Sequence[Any]) -> list[Any]:
    """The commands whose reversal this ledger has not taken yet, each reversal once."""
    batch: dict[uuid.UUID, Any] = {}
    for c in commands:
        batch.setdefault(c.reversal.reversal_id, c)
    seen = await uow.reversals.seen(list(batch))
    return [c for rid, c in batch.items() if rid not in seen]


async def handle_payments_reversed(uow: LedgerUnitOfWork, commands: Sequence[ReversePayment]) -> None:
    batch: dict[uuid.UUID, ReversePayment] = {}
    for c in commands:
        batch.setdefault(c.reversal.reversal_id, c)
    seen = await uow.reversals.seen(list(batch))
    fresh = []
    for rid, item in batch.items():
        if rid in seen:
            continue
        d = item.reversal
        fresh.append(Reversal(rid, d.payment_id, d.provider_id, d.provider_ref, d.kind, d.amount_pence,
                              business_date(d.reversed_at), d.reason, item.cause.correlation_id,
                              item.cause.event_id))  # type: ignore[arg-type]
    if fresh:
        await uow.reversals.lock_against_payments()  # before they look: see the adapter
        await _apply(uow, fresh, new=True)


async def apply_pending(uow: LedgerUnitOfWork, payment_ids: Sequence[uuid.UUID]) -> None:
    """Reversals kept pending for these payments, applied now that the payments are here."""
    if not payment_ids:
        return
    rows = await uow.reversals.lock_pending(payment_ids)
    if rows:
        await _apply(uow, [Reversal(_uuid(r["reversal_id"]), _uuid(r["payment_id"]), r["provider_id"],
                                        r["provider_ref"], r["kind"], r["amount_pence"], r["business_date"],
                                        r["reason"], r["correlation_id"], _uuid(r["event_id"])) for r in rows],
                     new=False)


def _uuid(value: Any) -> uuid.UUID:
    """asyncpg's UUID as the standard one (the outbox payloads are serialised with orjson)."""
    return uuid.UUID(str(value))


async def _apply(uow: LedgerUnitOfWork, reversals: list[Reversal], *, new: bool) -> None:
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    pids = sorted({r.payment_id for r in reversals})
    receipts = await uow.postings.receipts_of(pids)
    open_items = await uow.suspense.lock_open(pids)
    lumps = await uow.lumps.of([p for p in pids if p not in receipts and p not in open_items])
    done = await uow.reversals.applied(pids)
    book = Book(await uow.accounts.lock_balances([r["account_ref"] for r in receipts.values()]))
    transactions: list[Transaction] = []
    journals: list[Journal] = []
    records: list[tuple[Any, ...]] = []
    closed: list[tuple[Any, ...]] = []
    for r in reversals:
        rid = str(r.reversal_id)
        source = f"reversal:{rid}:payment:{r.provider_id}:{r.provider_ref}"
        booked = calendar.override(r.business_date)
        status, account, txn = "pending", None, None
        receipt, item, lump = receipts.get(r.payment_id), open_items.get(r.payment_id), lumps.get(r.payment_id)
        paid = (receipt["amount"] if receipt else item["amount_pence"] if item else
                lump["amount_pence"] if lump else 0)
        if (receipt or item or lump) and done.get(r.payment_id, 0) + r.amount_pence > paid:
            status = "refused"
            log.warning("reversal beyond what is left of the payment: refused", reversal_id=rid,
                        payment_id=str(r.payment_id), amount_pence=r.amount_pence, left=paid - done.get(r.payment_id, 0))
        elif receipt is not None:
            account, channel = receipt["account_ref"], receipt["channel"] or "bank_transfer"
            t = book.post(account, REVERSAL_CODES[r.kind], r.amount_pence, transaction_id=derive_event_id("txn", "reversal", rid),
                          business_date=r.business_date, source_ref=source, channel=channel, allocation_rule=None,
                          posting_period=booked)
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", r.business_date, source,
                        tuple(reversed_receipt_lines(account, channel, r.amount_pence)), booked)
            transactions.append(t)
            journals.append(j)
            events.transaction_posted(uow, t, now, r.cause)
            events.journal_posted(uow, j, now, r.cause)
            status, txn = "posted", t.transaction_id
        elif item is not None and r.amount_pence == item["amount_pence"] and not done.get(r.payment_id):
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", r.business_date, source,
                        tuple(reversed_suspense_lines(item["channel"], r.amount_pence)), booked)
            journals.append(j)
            closed.append((r.payment_id, r.reason or f"reversed ({r.kind})", now, booked or period_of(r.business_date)))
            events.journal_posted(uow, j, now, r.cause)
            _suspense_reversed(uow, item, r, now)
            status = "suspense"
            del open_items[r.payment_id]
        elif lump is not None:
            await _lump_reversed(uow, lump, r, now)
            status = "unreconciled"
        if status in ("posted", "suspense", "unreconciled"):
            done[r.payment_id] = done.get(r.payment_id, 0) + r.amount_pence
        records.append((r.reversal_id, r.payment_id, r.provider_id, r.provider_ref, r.kind, r.amount_pence,
                        r.business_date, r.reason, status, account, txn, r.correlation_id, r.event_id, now,
                        None if status == "pending" else now))
    check_control(transactions, journals)
    await uow.reversals.record(records)
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    await uow.suspense.close_reversed(closed)
    pending = sum(1 for rec in records if rec[8] == "pending")
    if pending and new:
        log.info("reversals kept pending until their payments arrive", count=pending)


async def _lump_reversed(uow: LedgerUnitOfWork, lump: Any, r: Reversal, now: dt.datetime) -> None:
    """The bank took back a statement lump. Nothing was posted for it (its detail was, or it waited for
    its detail as a finance item), so nothing is posted now: an open lump's finance item is resolved
    (there is nothing left to match), a matched lump's reversal is a new finance item (its detail
    stays counted: finance finds what the bank took back). The lump is `reversed`: never matched again."""
    from rentflow_ledger.service_layer.lumps import item_id

    pid, amount = r.payment_id, r.amount_pence
    money = f"£{amount / 100:,.2f}"
    await uow.lumps.set_reversed(pid, now)
    base = {"amount_pence": amount, "reference": lump["reference"], "account_ref": None,
            "business_date": r.business_date, "source_id": pid, "occurred_at": now}
    if lump["status"] == "matched":
        new_item = derive_event_id("unreconciled", "lump-reversal", r.reversal_id)
        reason = (f"the bank reversed the {lump['kind']} lump of {money} of {lump['value_date']}, matched to "
                  f"{lump['matched_key']}: its detail stays counted, so find what the bank took back"
                  + (f" ({r.reason})" if r.reason else ""))
        if await uow.unreconciled.open([(new_item, "lump_unmatched", amount, lump["reference"], r.business_date,
                                         reason, now)]):
            events.unreconciled(uow, {**base, "item_id": new_item, "action": "opened", "kind": "lump_unmatched",
                                      "reason": reason}, r.cause)
    else:
        reason = f"the bank reversed this lump of {money} on {r.business_date}: nothing left to match"
        kind = "interest" if lump["kind"] == "interest" else "lump_unmatched"
        if await uow.unreconciled.resolve([item_id(pid)], now):
            events.unreconciled(uow, {**base, "item_id": item_id(pid), "action": "resolved", "kind": kind,
                                      "reason": reason}, r.cause)
    uow.audit("lump.reversed", subject=pid, before={"status": lump["status"]},
              after={"status": "reversed", "amount_pence": amount, "reversal_id": r.reversal_id,
                     "reason": r.reason or r.kind})


def _suspense_reversed(uow: LedgerUnitOfWork, s: Any, r: Reversal, now: dt.datetime) -> None:
    events.suspense(uow, {
        "action": "reversed", "payment_id": r.payment_id, "amount_pence": s["amount_pence"], "channel": s["channel"],
        "reference": s["reference"], "payer_name": s["payer_name"], "received_at": s["received_at"],
        "reason": s["reason"], "account_ref": None, "allocated_by": None, "note": r.reason or None,
        "paid_at": s["paid_at"], "business_date": s["business_date"]}, now, r.cause)
    uow.audit("suspense.reversed", subject=r.payment_id, before={"status": "open"},
              after={"status": "reversed", "amount_pence": s["amount_pence"], "reason": r.reason or r.kind,
                     "reversal_id": r.reversal_id})
