"""Payments received → postings on rent accounts, or suspense. One batch, one transaction,
a handful of set-based statements, and the accounts locked only for the last few:

0. which payments are already taken (posted or in suspense), whatever event carried them
   (`untaken`: the consumer asks it first, and keeps the cash book's detail of the rest);
1. the ledger state row FOR SHARE: closed periods, and the generation of the cached set of
   known references (`uow.periods`, adapters/state.py);
2. allocate in Python, every rung (exact, DD/SO reference, free text, one correctable error)
   against the in-memory set of known references (loaded once per generation, not SQL per batch);
3. COPY journal lines, COPY suspense, emit JournalPosted and SuspenseEvent, and write what was
   emitted so far to the outbox (`uow.write_emitted`): none of it depends on balances. Identified
   receipts go to the GL as one journal per value date, booked period and bank/cash account (Dr the
   money account, Cr debtors control per account), as the debit run's journals do; each
   unidentified receipt has its own;
4. lock the allocated accounts and add each the batch's sum in one statement (reference order; the
   balances before and the tenancy ends come back), post in Python with running balances (several
   payments to one account get consecutive balance_after), then COPY their rows. Each posting's
   TransactionPosted is made but for its balance (`events.postings_deferred_many`, a slice at a time)
   while PostgreSQL works: the first while it updates the accounts, the rest while it writes the
   postings; `uow.complete` adds each with its balance. The consumer commits (the unit of work writes
   the TransactionPosted rows to the outbox in one COPY).

Locking late keeps the lock window to step 4 and the commit, so consumers working other
partitions of the group (in this process or others) overlap their work instead of queueing on
account rows."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Sequence

from rentflow_common.events import Cause, uuid_text
from rentflow_ledger.domain.allocation import allocate
from rentflow_ledger.domain.codes import money_in_gl, receipt_code
from rentflow_ledger.domain.journal import batched_receipt_lines, unidentified_lines
from rentflow_ledger.domain.posting import (Book, Journal, Transaction, business_date, check_control, check_movement,
                                            period_of, receipt_transaction_ids)
from rentflow_ledger.domain.references import CheckScheme
from rentflow_ledger.domain.tenancy import paid_after_tenancy_end
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork
from rentflow_schemas import derive_event_id

UTC = dt.timezone.utc
EMIT_SLICE = 50  # postings emitted between looks at the event loop, where the postings' COPY moves on
# payments planned between looks at the event loop: a batch planned while the one before it commits (the
# consumer's overlap) let that commit's COPY wait for data as long as the whole plan took (~0.1 s a batch)
PLAN_SLICE = 1000


def source_ref(payment: Any) -> str:
    return f"{payment.provider_id}:{payment.provider_ref}"


async def handle_payments_received(uow: LedgerUnitOfWork, commands: Sequence[TakePayment], *,
                                   scheme: CheckScheme | None = None) -> None:
    """`scheme`: the landlord's check-digit scheme for references (the correction rung)."""
    await post_receipts(uow, await untaken(uow, commands), scheme=scheme)


class Untaken(list):  # type: ignore[type-arg]
    """`untaken`'s commands, with each one's payment id as text and the id its posting takes
    (`receipt_transaction_id`), in the same order: derived once, to look the postings up, and used
    again by `post_receipts`."""

    def __init__(self, commands: list[TakePayment], pids: list[str], txn_ids: list[Any]) -> None:
        super().__init__(commands)
        self.pids, self.txn_ids = pids, txn_ids


async def untaken(uow: LedgerUnitOfWork, commands: Sequence[TakePayment]) -> Untaken:
    """One command per payment (the first event carrying it) of those not taken before: neither
    posted to an account nor held in suspense, whatever event carried them."""
    batch: dict[Any, TakePayment] = {}
    for c in commands:
        batch.setdefault(c.payment.payment_id, c)
    pids = [uuid_text(p) for p in batch]
    txn_ids = receipt_transaction_ids(pids)
    taken = await uow.postings.taken(list(batch), txn_ids)
    if not taken:
        return Untaken(list(batch.values()), pids, txn_ids)
    keep = [n for n, pid in enumerate(batch) if pid not in taken]
    items = list(batch.values())
    return Untaken([items[n] for n in keep], [pids[n] for n in keep], [txn_ids[n] for n in keep])


async def post_receipts(uow: LedgerUnitOfWork, fresh: Sequence[TakePayment], *,
                        scheme: CheckScheme | None = None) -> None:
    """`handle_payments_received` for the commands `untaken` returned in this transaction."""
    if not fresh:
        return
    if isinstance(fresh, Untaken):
        pids, txn_ids = fresh.pids, fresh.txn_ids
    else:
        pids = [uuid_text(i.payment.payment_id) for i in fresh]
        txn_ids = receipt_transaction_ids(pids)
    now = dt.datetime.now(UTC)
    state = await uow.periods.state()
    calendar = state.calendar

    # every rung on the known references cached for this generation (one load per account import): what
    # the batch's references name needs no statement, and the generation, read FOR SHARE, holds still until
    # the commit (an import bumps it before it changes any account)
    index = await uow.periods.reference_index(state)
    accounts, dd_index, so_index = index.accounts, index.dd, index.so
    allocations: list[Any] = []
    for at in range(0, len(fresh), PLAN_SLICE):
        if at:
            await asyncio.sleep(0)
        allocations += [allocate(p.reference, str(p.channel), accounts, dd_index, so_index=so_index, index=index,
                                 check=scheme) for p in (i.payment for i in fresh[at:at + PLAN_SLICE])]

    journals: list[Journal] = []
    # each identified receipt's posting but for its balance: (transaction_id, account_ref, type_code, amount,
    # business_date, period, source_ref, channel, payment_id, allocation_rule, cause), and its payment's command
    postings: list[tuple[Any, ...]] = []
    taken: list[TakePayment] = []
    suspense: list[tuple[Any, ...]] = []
    # identified receipts: one journal per value date, booked period and bank/cash account
    received: dict[tuple[dt.date, str | None, str], dict[str, int]] = {}
    deltas: dict[str, int] = {}  # what the batch takes off each allocated account's balance
    first_of: dict[tuple[dt.date, str | None, str], TakePayment] = {}
    for n, (item, allocation, pid, txn_id) in enumerate(zip(fresh, allocations, pids, txn_ids)):
        if n and not n % PLAN_SLICE:
            await asyncio.sleep(0)
        p = item.payment
        channel = str(p.channel)
        day = business_date(p.paid_at)
        booked = calendar.override(day)
        src = source_ref(p)
        if allocation.account_ref is not None:
            key = (day, booked, money_in_gl(channel))
            ref = allocation.account_ref
            by_account = received.setdefault(key, {})
            by_account[ref] = by_account.get(ref, 0) + p.amount_pence
            deltas[ref] = deltas.get(ref, 0) - p.amount_pence
            first_of.setdefault(key, item)
            postings.append((txn_id, ref, receipt_code(channel), -p.amount_pence, day, booked or period_of(day), src,
                             channel, p.payment_id, allocation.rule or "", item.cause))
            taken.append(item)
        else:
            j = Journal(derive_event_id("journal", "unidentified_receipt", pid), "unidentified_receipt", day, src,
                        tuple(unidentified_lines(channel, p.amount_pence)), booked)
            period = booked or period_of(day)
            suspense.append((p.payment_id, p.provider_id, p.provider_ref, p.amount_pence, channel, p.reference,
                             p.payer_name, p.paid_at, p.received_at, day, period, allocation.reason, now))
            events.suspense_opened(uow, p, day, period, allocation.reason, now, item.cause)
            journals.append(j)
            events.journal_posted(uow, j, now, item.cause)
    for (day, booked, money_gl), by_account in received.items():
        first = first_of[(day, booked, money_gl)]
        first_pid = str(first.payment.payment_id)
        cause = Cause(first.cause.event_id, f"ledger-receipts:{first_pid}")
        for n, lines in enumerate(batched_receipt_lines(money_gl, by_account)):
            j = Journal(derive_event_id("journal", "receipts", first_pid, str(n)), "receipt", day,
                        f"receipts:{day.isoformat()}:{money_gl}:{first_pid}:{n}", lines, booked)
            journals.append(j)
            events.journal_posted(uow, j, now, cause)
    await uow.postings.add_journals(journals, now)
    await uow.suspense.add(suspense)
    await uow.write_emitted()  # the journals and suspense items to the outbox now, not under the account locks

    if not postings:
        check_control([], journals)
        return
    amounts = [p[3] for p in postings]
    # the accounts are locked and moved by one statement; the first postings' events are made meanwhile (the
    # process otherwise idle while PostgreSQL updates the batch's accounts), the rest while it writes the postings
    moving = asyncio.ensure_future(uow.accounts.move_for_receipts(deltas, now))  # locked from then to the commit
    made: list[Any] = []
    try:
        while len(made) < len(postings) and not moving.done():
            await asyncio.sleep(0)
            made += events.postings_deferred_many(uow, now, postings[len(made):len(made) + EMIT_SLICE])
    finally:
        before, ended = await moving
    balances = Book(before).balances_after([p[1] for p in postings], amounts)
    check_movement(sum(amounts), journals)
    # each posting as the row the transactions table takes (adapters/sql.py's TRANSACTION_COLUMNS), its balance
    # now known: no Transaction per posting (one is made for a payment flagged below)
    rows = [(txn_id, ref, code, amount, balance, now, day, period, src, channel, pid, rule, None)
            for (txn_id, ref, code, amount, day, period, src, channel, pid, rule, _), balance
            in zip(postings, balances)]
    copying = asyncio.ensure_future(uow.postings.add_transaction_rows(rows))
    try:
        complete = uow.complete
        for first in range(0, len(postings), EMIT_SLICE):
            await asyncio.sleep(0)  # the COPY's next step (sent, then its rows) goes on meanwhile
            if first >= len(made):  # the slice's TransactionPosted events but for their balances, in one loop
                made += events.postings_deferred_many(uow, now, postings[first:first + EMIT_SLICE])
            for n in range(first, min(first + EMIT_SLICE, len(postings))):
                balance = balances[n]
                complete(made[n], balance)
                if ended:
                    txn_id, ref, code, amount, day, period, src, channel, pid, rule, cause = postings[n]
                    if paid_after_tenancy_end(day, ended.get(ref)):  # posted, and flagged for an officer
                        t = Transaction(txn_id, ref, code, amount, balance, day, src, channel, pid, rule, None,
                                        period)
                        events.ended_tenancy_payment(uow, t, taken[n].payment, ended[ref], now, cause)
    finally:
        await copying
