"""Suspense items allocated by hand, recording who and why (docs/design.md ledger rules)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from rentflow_common.events import Cause
from rentflow_ledger.domain.allocation import MANUAL
from rentflow_ledger.domain.codes import receipt_code
from rentflow_ledger.domain.journal import suspense_allocated_lines, transfer_lines
from rentflow_ledger.domain.posting import Book, Journal, check_control, receipt_transaction_id
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events, reversals
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork
from rentflow_schemas import derive_event_id

UTC = dt.timezone.utc


class NotFound(LookupError):
    pass


class AlreadyAllocated(RuntimeError):
    pass


@dataclass
class Allocated:
    payment_id: uuid.UUID
    account_ref: str
    transaction_id: uuid.UUID
    balance_pence: int


async def allocate_suspense(uow: LedgerUnitOfWork, payment_id: uuid.UUID, account_ref: str, by: str,
                            note: str) -> Allocated:
    """Posts the receipt to the account (rule "manual") with the journal Dr suspense Cr debtors
    control; the item leaves the queue. The posting keeps the payment's value date (its business
    date and month); when that month is closed it is booked in the next open one, keeping its value
    date (docs/domain.md §6). Raises NotFound or
    AlreadyAllocated; the caller commits."""
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    await uow.reversals.lock_against_new_reversals()  # before the item and the account: see the adapter
    item = await uow.suspense.lock(payment_id)
    if item is None:
        raise NotFound(f"no suspense item for payment {payment_id}")
    if item["allocated_at"] is not None:
        raise AlreadyAllocated(f"payment {payment_id} was already allocated to {item['account_ref']} "
                               f"by {item['allocated_by']} at {item['allocated_at'].isoformat()}")
    ref = normalise_reference(account_ref)
    locked = await uow.accounts.lock_balances([ref])
    if not locked:
        raise NotFound(f"no account {account_ref!r}")
    book = Book(locked)
    day = item["business_date"]
    src = f"{item['provider_id']}:{item['provider_ref']}"
    channel, amount = item["channel"], item["amount_pence"]
    booked = calendar.override(day)
    t = book.post(ref, receipt_code(channel), -amount, transaction_id=receipt_transaction_id(payment_id),
                  business_date=day, source_ref=src, channel=channel, payment_id=payment_id, allocation_rule=MANUAL,
                  posting_period=booked)
    j = Journal(derive_event_id("journal", "suspense_allocated", payment_id), "suspense_allocated", day, src,
                tuple(suspense_allocated_lines(ref, amount)), booked)
    check_control([t], [j])
    await uow.postings.add_transactions([t], now)
    await uow.postings.add_journals([j], now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    await uow.suspense.allocate(payment_id, ref, t.transaction_id, by, note, now, t.period)
    cause = Cause(None, f"suspense-allocate:{payment_id}")
    events.transaction_posted(uow, t, now, cause)
    events.journal_posted(uow, j, now, cause)
    events.suspense(uow, {
        "action": "allocated", "payment_id": payment_id, "amount_pence": amount, "channel": channel,
        "reference": item["reference"], "payer_name": item["payer_name"], "received_at": item["received_at"],
        "reason": item["reason"], "account_ref": ref, "allocated_by": by, "note": note,
        "paid_at": item["paid_at"], "business_date": day, "period": t.period}, now, cause)
    await reversals.apply_pending(uow, [payment_id])  # a partial refund waiting for the allocation
    return Allocated(payment_id, ref, t.transaction_id, t.balance_after_pence)


class NotAReceipt(ValueError):
    pass


@dataclass
class Moved:
    transaction_id: uuid.UUID
    from_account: str
    to_account: str
    reversal_id: uuid.UUID
    reposted_id: uuid.UUID
    from_balance_pence: int
    to_balance_pence: int


async def move_receipt(uow: LedgerUnitOfWork, transaction_id: uuid.UUID, account_ref: str, by: str, note: str) -> Moved:
    """A receipt posted to the wrong account moves to another: on the first account the same
    code with the opposite amount (the reversal), on the other the receipt again (rule
    `manual`), both with the receipt's value date and booked in its period or the next open one;
    journal Dr debtors control (first account) Cr debtors control (other): nil in the GL. Raises
    NotFound, NotAReceipt or AlreadyAllocated (already moved); the caller commits."""
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    t = await uow.postings.get(transaction_id)
    if t is None:
        raise NotFound(f"no transaction {transaction_id}")
    if t["payment_id"] is None or t["amount_pence"] >= 0:
        raise NotAReceipt(f"transaction {transaction_id} is a {t['type_code']}, not a receipt of a payment")
    moved = await uow.postings.move_of(transaction_id)
    if moved:
        raise AlreadyAllocated(f"receipt {transaction_id} was already moved to {moved['to_account_ref']} by "
                               f"{moved['moved_by']} at {moved['moved_at'].isoformat()}")
    to_ref = normalise_reference(account_ref)
    if to_ref == t["account_ref"]:
        raise NotAReceipt(f"receipt {transaction_id} is already on {to_ref}")
    locked = await uow.accounts.lock_balances([t["account_ref"], to_ref])
    if to_ref not in locked:
        raise NotFound(f"no account {account_ref!r}")
    book = Book(locked)
    amount = -t["amount_pence"]
    day = t["business_date"]
    booked = calendar.override(day)
    source = f"moved:{transaction_id}"
    tid = str(transaction_id)
    back = book.post(t["account_ref"], t["type_code"], amount, transaction_id=derive_event_id("txn", "move-out", tid),
                     business_date=day, source_ref=source, channel=t["channel"], allocation_rule=MANUAL,
                     posting_period=booked)
    again = book.post(to_ref, t["type_code"], -amount, transaction_id=derive_event_id("txn", "move-in", tid),
                      business_date=day, source_ref=source, channel=t["channel"], allocation_rule=MANUAL,
                      posting_period=booked)
    j = Journal(derive_event_id("journal", "receipt_moved", tid), "adjustment", day, source,
                tuple(transfer_lines(to_ref, t["account_ref"], amount)), booked)
    check_control([back, again], [j])
    await uow.postings.add_transactions([back, again], now)
    await uow.postings.add_journals([j], now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    await uow.postings.add_move(transaction_id, t["account_ref"], to_ref, by, note, now)
    cause = Cause(None, f"receipt-moved:{tid}")
    events.transaction_posted(uow, back, now, cause)
    events.transaction_posted(uow, again, now, cause)
    events.journal_posted(uow, j, now, cause)
    return Moved(transaction_id, t["account_ref"], to_ref, back.transaction_id, again.transaction_id,
                 book.balances[t["account_ref"]], book.balances[to_ref])
