"""Reversals of payments (payments.reversed.v1; issue #3): money of a receipt went back — the bank
took a credit back (kind returned → `RRC`) or the provider refunded the payer (refund → `REF`).

For each reversal not seen before (by reversal_id), find where its payment went:
- posted to an account (directly, from suspense, or moved since: the account it is on now) → post
  the code for the reversed amount on that account, dated the reversal's London date (booked in
  the next open period when that month is closed), journal `reversal` Dr debtors control Cr
  bank (cash control for cash) — the receipt's journal the other way round;
- still unallocated in suspense, for its whole amount → it leaves the queue: journal Dr income
  suspense Cr bank/cash, SuspenseEvent "reversed" (a partial one waits until it is allocated);
- not here yet (its event is on another partition or topic) → kept pending, and applied when the
  payment arrives (`apply_pending`, called by the payments handler and by suspense allocation).
A reversal beyond what is left of the payment is refused (logged), never posted.
One batch, one transaction, a handful of set-based statements."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, NamedTuple, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, Msg
from rentflow_common.logging import get_logger
from rentflow_ledger.adapters import postings as sql
from rentflow_ledger.adapters import state as ledger_state
from rentflow_ledger.domain.codes import REVERSAL_CODES
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import reversed_receipt_lines, reversed_suspense_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, business_date, check_control, period_of
from rentflow_ledger.service_layer import events
from rentflow_schemas.payments import PaymentReversed

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


async def handle_payments_reversed(uow: UnitOfWork, msgs: Sequence[Msg[PaymentReversed]]) -> None:
    batch: dict[uuid.UUID, Msg[PaymentReversed]] = {}
    for msg in msgs:
        batch.setdefault(msg.data.reversal_id, msg)
    seen = {r[0] for r in await uow.raw.fetch(
        "select reversal_id from payment_reversals where reversal_id = any($1::uuid[])", list(batch))}
    fresh = []
    for rid, item in batch.items():
        if rid in seen:
            continue
        d = item.data
        fresh.append(Reversal(rid, d.payment_id, d.provider_id, d.provider_ref, d.kind, d.amount_pence,
                              business_date(d.reversed_at), d.reason, item.cause.correlation_id,
                              item.cause.event_id))  # type: ignore[arg-type]
    if fresh:
        await _apply(uow, fresh, new=True)


async def apply_pending(uow: UnitOfWork, payment_ids: Sequence[uuid.UUID]) -> None:
    """Reversals kept pending for these payments, applied now that the payments are here."""
    if not payment_ids:
        return
    rows = await uow.raw.fetch(
        "select * from payment_reversals where status = 'pending' and payment_id = any($1::uuid[]) "
        "order by created_at, reversal_id for update", list(payment_ids))
    if rows:
        await _apply(uow, [Reversal(_uuid(r["reversal_id"]), _uuid(r["payment_id"]), r["provider_id"],
                                        r["provider_ref"], r["kind"], r["amount_pence"], r["business_date"],
                                        r["reason"], r["correlation_id"], _uuid(r["event_id"])) for r in rows],
                     new=False)


def _uuid(value: Any) -> uuid.UUID:
    """asyncpg's UUID as the standard one (the outbox payloads are serialised with orjson)."""
    return uuid.UUID(str(value))


async def _apply(uow: UnitOfWork, reversals: list[Reversal], *, new: bool) -> None:
    raw = uow.raw
    now = dt.datetime.now(UTC)
    calendar = (await ledger_state.read_state(raw)).calendar
    pids = sorted({r.payment_id for r in reversals})
    receipts = {r["payment_id"]: r for r in await raw.fetch(
        "select t.payment_id, coalesce(m.to_account_ref, t.account_ref) as account_ref, -t.amount_pence as amount,"
        " t.channel from transactions t left join receipt_moves m on m.transaction_id = t.transaction_id "
        "where t.payment_id = any($1::uuid[]) and t.amount_pence < 0", pids)}
    open_items = {r["payment_id"]: r for r in await raw.fetch(
        "select * from suspense where payment_id = any($1::uuid[]) "
        "and allocated_at is null for update", pids)}
    done = {r[0]: r[1] for r in await raw.fetch(
        "select payment_id, sum(amount_pence)::bigint from payment_reversals where payment_id = any($1::uuid[]) "
        "and status in ('posted', 'suspense') group by payment_id", pids)}
    book = Book(await sql.lock_balances(raw, [r["account_ref"] for r in receipts.values()]))
    transactions: list[Transaction] = []
    journals: list[Journal] = []
    records: list[tuple[Any, ...]] = []
    closed: list[tuple[Any, ...]] = []
    for r in reversals:
        rid = str(r.reversal_id)
        source = f"reversal:{rid}:payment:{r.provider_id}:{r.provider_ref}"
        booked = calendar.override(r.business_date)
        status, account, txn = "pending", None, None
        receipt, item = receipts.get(r.payment_id), open_items.get(r.payment_id)
        paid = receipt["amount"] if receipt else item["amount_pence"] if item else 0
        if (receipt or item) and done.get(r.payment_id, 0) + r.amount_pence > paid:
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
        if status in ("posted", "suspense"):
            done[r.payment_id] = done.get(r.payment_id, 0) + r.amount_pence
        records.append((r.reversal_id, r.payment_id, r.provider_id, r.provider_ref, r.kind, r.amount_pence,
                        r.business_date, r.reason, status, account, txn, r.correlation_id, r.event_id, now,
                        None if status == "pending" else now))
    check_control(transactions, journals)
    await _record(raw, records)
    await sql.insert_transactions(raw, transactions, now)
    await sql.insert_journals(raw, journals, now)
    await sql.update_balances(raw, book.balances, book.changed, now)
    if closed:
        await raw.execute(
            "update suspense s set allocated_by = 'reversal', note = u.note, allocated_at = u.at, "
            "allocated_period = u.period from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) "
            "as u(pid, note, at, period) where s.payment_id = u.pid", *[list(c) for c in zip(*closed)])
    pending = sum(1 for rec in records if rec[8] == "pending")
    if pending and new:
        log.info("reversals kept pending until their payments arrive", count=pending)


async def _record(raw: Any, records: list[tuple[Any, ...]]) -> None:
    await raw.execute(
        """insert into payment_reversals (reversal_id, payment_id, provider_id, provider_ref, kind, amount_pence,
                                          business_date, reason, status, account_ref, transaction_id,
                                          correlation_id, event_id, created_at, applied_at)
           select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                                $7::date[], $8::text[], $9::text[], $10::text[], $11::uuid[], $12::text[],
                                $13::uuid[], $14::timestamptz[], $15::timestamptz[])
           on conflict (reversal_id) do update set status = excluded.status, account_ref = excluded.account_ref,
               transaction_id = excluded.transaction_id, applied_at = excluded.applied_at""",
        *[list(c) for c in zip(*records)])


def _suspense_reversed(uow: UnitOfWork, s: Any, r: Reversal, now: dt.datetime) -> None:
    events.suspense(uow, {
        "action": "reversed", "payment_id": r.payment_id, "amount_pence": s["amount_pence"], "channel": s["channel"],
        "reference": s["reference"], "payer_name": s["payer_name"], "received_at": s["received_at"],
        "reason": s["reason"], "account_ref": None, "allocated_by": None, "note": r.reason or None,
        "paid_at": s["paid_at"], "business_date": s["business_date"]}, now, r.cause)
