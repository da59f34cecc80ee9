"""Debit control: raise every weekly rent and charge debit due up to a date, once.

Which weeks are due and for how much (rent weeks, part weeks by days, rent-free weeks, the
rent history) is domain/rent_weeks.py. Accounts are taken in chunks (reference order); each
chunk is one transaction: read the ledger state (closed periods) FOR SHARE, lock the chunk's
accounts (one select), read their rent history and the debits already raised (one select
each), compute the due debits in Python minus those already raised (the unique index on
account, code and week makes that exact and backs it up), post them with running balances,
then COPY transactions and journal lines, UPDATE balances FROM unnest, and emit. A run
interrupted between chunks is completed by running it again; a chunk never half-posts.

Journals are summarised per chunk, rent week and charge code: one Cr to the income code,
one Dr to debtors control per account, as finance posts a debit run."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rentflow_common.events import Cause
from rentflow_ledger.domain.periods import PeriodCalendar
from rentflow_ledger.domain.rent_weeks import Rates, due_debits, first_rent_week
from rentflow_ledger.domain.codes import CHARGES_CODE, GL_CODES, RENT_CODE, income_gl
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import Line
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork, ledger_uow

UTC = dt.timezone.utc

@dataclass
class DebitRunResult:
    through: dt.date
    debits_raised: int = 0
    amount_pence: int = 0
    accounts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"through": self.through.isoformat(), "debits_raised": self.debits_raised,
                "amount_pence": self.amount_pence, "accounts": self.accounts}


def debit_transaction_id(account_ref: str, code: str, week_start: dt.date) -> uuid.UUID:
    return derive_event_id("txn", "debit", account_ref, code, week_start.isoformat())


async def rent_free_weeks(uow: LedgerUnitOfWork, configured: dict[int, set[int]]) -> dict[int, set[int]]:
    """The table (POST /v1/rent-free-weeks) wins for a year it names; the configured weeks
    (RENTFLOW_RENT_FREE_WEEKS, '2026:1,38,39,52;2027:…') fill the others."""
    free = {year: set(weeks) for year, weeks in configured.items()}
    free.update(await uow.rents.rent_free_weeks())
    return free


async def run_debits(new_uow: Callable[[], Any], through: dt.date, *, chunk: int = 1000,
                     correlation_id: str | None = None,
                     rent_free: dict[int, set[int]] | None = None, in_flight: int = 1) -> DebitRunResult:
    """Chunk by chunk, a transaction each (a long run: what it raised stays raised if it stops).
    `new_uow()` opens a unit of work (`async with`): a LedgerUnitOfWork, or a
    rentflow_common.db.UnitOfWork the ledger's repositories are put on.

    `in_flight` chunks at a time (units of work of their own, on PostgreSQL: the in-memory unit of
    work copies the tables, so 1 there): the next chunk's accounts are locked, and its debits
    computed, while the last one's rows are written and committed. Chunks hold disjoint accounts
    (reference order), so they never wait on each other; each still commits whole or not at all."""
    result = DebitRunResult(through)
    async with new_uow() as opened:
        free = await rent_free_weeks(ledger_uow(opened), rent_free or {})
    correlation_id = correlation_id or f"debit-run:{through}:{uuid.uuid4()}"

    async def one(after: str, locked: asyncio.Future[str | None]) -> None:
        try:
            async with new_uow() as opened:
                uow = ledger_uow(opened)
                calendar = (await uow.periods.state()).calendar  # before the account locks
                accounts = await uow.accounts.lock_chunk(after, chunk)
                # the next chunk starts after this one's last account (none: this was the last)
                locked.set_result(accounts[-1]["account_ref"] if len(accounts) == chunk else None)
                if not accounts:
                    return
                await _post_chunk(uow, accounts, through, correlation_id, result, calendar, free)
                await uow.commit()
        finally:
            if not locked.done():
                locked.set_result(None)

    running: list[asyncio.Task[None]] = []
    after: str | None = ""
    try:
        while after is not None:
            locked: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            running.append(asyncio.create_task(one(after, locked)))
            after = await locked
            while running and (len(running) >= max(1, in_flight) or after is None):
                await running.pop(0)  # in order: a failed chunk stops the run (what committed stays)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return result


async def _post_chunk(uow: LedgerUnitOfWork, accounts: Sequence[Any], through: dt.date, correlation_id: str,
                      result: DebitRunResult, calendar: PeriodCalendar, free: dict[int, set[int]]) -> None:
    now = dt.datetime.now(UTC)
    refs = [a["account_ref"] for a in accounts]
    firsts = [first_rent_week(a["tenancy_start"], a["balance_date"]) for a in accounts]
    history: dict[str, list[Rates]] = defaultdict(list)
    for r in await uow.rents.history(refs):
        history[r["account_ref"]].append(Rates(r["effective_date"], r["new_weekly_rent_pence"],
                                               r["new_weekly_charges_pence"]))
    raised = await uow.postings.raised_debits(refs, min(firsts))
    due = [(a["account_ref"], d.code, d.week_start, d.amount)
           for a in accounts
           for d in due_debits(a["tenancy_start"], a["tenancy_end"], a["balance_date"], through,
                               a["weekly_rent_pence"], a["weekly_charges_pence"], history=history.get(a["account_ref"], ()),
                               rent_free=free, rent_code=RENT_CODE, charges_code=CHARGES_CODE)
           if (a["account_ref"], d.code, d.week_start) not in raised]
    if not due:
        return
    book = Book({a["account_ref"]: a["balance_pence"] for a in accounts})
    transactions: list[Transaction] = []
    groups: dict[tuple[dt.date, str], list[Transaction]] = defaultdict(list)
    for ref, code, week, amount in due:
        t = book.post(ref, code, amount, transaction_id=debit_transaction_id(ref, code, week), business_date=week,
                      source_ref=f"debit-run:{code}:{week.isoformat()}", week_start=week,
                      posting_period=calendar.override(week))
        transactions.append(t)
        groups[(week, code)].append(t)
    journals = [_debit_journal(week, code, ts) for (week, code), ts in sorted(groups.items())]
    check_control(transactions, journals)

    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    cause = Cause(None, correlation_id)
    for t in transactions:
        events.transaction_posted(uow, t, now, cause)
    for j in journals:
        events.journal_posted(uow, j, now, cause)
    result.debits_raised += len(transactions)
    result.amount_pence += sum(t.amount_pence for t in transactions)
    result.accounts += len(book.changed)


def _debit_journal(week: dt.date, code: str, transactions: list[Transaction]) -> Journal:
    """Dr debtors control per account, Cr the charge's income code with the total. Its id comes
    from the transactions it carries, so it is the same whenever the same debits are raised."""
    booked = transactions[0].posting_period
    digest = hashlib.sha256("\x1f".join(str(t.transaction_id) for t in transactions).encode()).hexdigest()
    lines = [Line(GL_CODES["debtors_control"], t.amount_pence, 0, t.account_ref) for t in transactions]
    lines.append(Line(income_gl(code), 0, sum(t.amount_pence for t in transactions), None))
    return Journal(derive_event_id("journal", "debit", digest), "debit", week,
                   f"debit-run:{code}:{week.isoformat()}", tuple(lines), booked)
