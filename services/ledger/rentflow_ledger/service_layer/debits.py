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

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause
from rentflow_ledger.adapters import postings as sql
from rentflow_ledger.adapters import state as ledger_state
from rentflow_ledger.domain.periods import PeriodCalendar
from rentflow_ledger.domain.rent_weeks import Rates, due_debits, first_rent_week
from rentflow_ledger.domain.codes import CHARGES_CODE, GL_CODES, RENT_CODE, income_gl
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import Line
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control
from rentflow_ledger.service_layer import events

UTC = dt.timezone.utc

CHUNK_ACCOUNTS_SQL = """
select account_ref, balance_pence, tenancy_start, tenancy_end, balance_date, weekly_rent_pence,
       weekly_charges_pence
from accounts where account_ref > $1
order by account_ref limit $2 for update
"""

RAISED_SQL = """
select account_ref, type_code, week_start from transactions
where account_ref = any($1::text[]) and week_start is not null and week_start >= $2
"""

HISTORY_SQL = """
select account_ref, effective_date, new_weekly_rent_pence, new_weekly_charges_pence from rent_changes
where account_ref = any($1::text[]) order by account_ref, effective_date
"""


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


async def rent_free_weeks(raw: Any, configured: dict[int, set[int]]) -> dict[int, set[int]]:
    """The table (POST /v1/rent-free-weeks) wins for a year it names; the configured weeks
    (RENTFLOW_RENT_FREE_WEEKS, '2026:1,38,39,52;2027:…') fill the others."""
    free = {year: set(weeks) for year, weeks in configured.items()}
    table: dict[int, set[int]] = {}
    for r in await raw.fetch("select rent_year, week from rent_free_weeks"):
        table.setdefault(r["rent_year"], set()).add(r["week"])
    free.update(table)
    return free


async def run_debits(new_uow: Callable[[], UnitOfWork], through: dt.date, *, chunk: int = 1000,
                     correlation_id: str | None = None,
                     rent_free: dict[int, set[int]] | None = None) -> DebitRunResult:
    """Chunk by chunk, a transaction each (a long run: what it raised stays raised if it stops)."""
    result = DebitRunResult(through)
    async with new_uow() as uow:
        free = await rent_free_weeks(uow.raw, rent_free or {})
    correlation_id = correlation_id or f"debit-run:{through}:{uuid.uuid4()}"
    after = ""
    while True:
        async with new_uow() as uow:
            calendar = (await ledger_state.read_state(uow.raw)).calendar  # before the account locks
            accounts = await uow.raw.fetch(CHUNK_ACCOUNTS_SQL, after, chunk)
            if not accounts:
                break
            after = accounts[-1]["account_ref"]
            await _post_chunk(uow, accounts, through, correlation_id, result, calendar, free)
            await uow.commit()
        if len(accounts) < chunk:
            break
    return result


async def _post_chunk(uow: UnitOfWork, accounts: list[Any], through: dt.date, correlation_id: str,
                      result: DebitRunResult, calendar: PeriodCalendar, free: dict[int, set[int]]) -> None:
    raw = uow.raw
    now = dt.datetime.now(UTC)
    refs = [a["account_ref"] for a in accounts]
    firsts = [first_rent_week(a["tenancy_start"], a["balance_date"]) for a in accounts]
    history: dict[str, list[Rates]] = defaultdict(list)
    for r in await raw.fetch(HISTORY_SQL, refs):
        history[r[0]].append(Rates(r[1], r[2], r[3]))
    raised = {(r[0], r[1], r[2]) for r in await raw.fetch(RAISED_SQL, refs, min(firsts))}
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

    await sql.insert_transactions(raw, transactions, now)
    await sql.insert_journals(raw, journals, now)
    await sql.update_balances(raw, book.balances, book.changed, now)
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
